#!/usr/bin/env bash
# Install a font with CJK and Hangul glyphs (Debian's fonts-wqy-microhei, 1.6 MB) so song and artist names
# in those scripts show in the figures and the PDF, not as boxes (DejaVu Sans, the default, has none).
# Idempotent: does nothing when fontconfig already knows a CJK font. Without root or apt it says so and exits
# 1; the Makefile runs it as optional, so figures still render, with boxes for those names.
set -euo pipefail

if command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh family 2>/dev/null)" ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "note: no CJK font installed and no root to apt-get install fonts-wqy-microhei: CJK names show as boxes" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends fonts-wqy-microhei \
    || { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends fonts-wqy-microhei; }

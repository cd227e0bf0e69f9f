#!/usr/bin/env bash
# Install a font with CJK and Hangul glyphs (Debian's fonts-wqy-microhei, 1.6 MB) so song and artist names
# in those scripts show in the figures and the PDF, not as boxes (DejaVu Sans, the default, has none).
# Idempotent: does nothing when fontconfig already knows a CJK font. Without root or apt it says so and exits
# 1; the Makefile runs it as optional, so figures still render, with boxes for those names.
set -euo pipefail

if command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh family 2>/dev/null)" ]; then
    exit 0
fi
bash "$(dirname "$0")/apt_install.sh" fonts-wqy-microhei

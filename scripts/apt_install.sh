#!/usr/bin/env bash
# apt-get install the Debian packages named as arguments, as root or through sudo; exits 1 with a message
# naming them when neither is available. Updates the package lists only when the first try fails.
set -euo pipefail

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "error: installing $* needs root (or sudo) to apt-get install it" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends "$@" \
    || { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends "$@"; }

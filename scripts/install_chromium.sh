#!/usr/bin/env bash
# Install Debian's chromium for headless HTML->PDF printing and screenshots of the report.
# Idempotent: does nothing when /usr/bin/chromium already exists.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi
bash "$(dirname "$0")/apt_install.sh" chromium
/usr/bin/chromium --version

#!/usr/bin/env bash
# The browser test renders reports in Debian's headless Chromium. Install it if missing
# (needs root and the Debian package mirror); otherwise say how.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "spinefit setup: installing Debian chromium for the browser test" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
    echo "spinefit setup: chromium not found; the browser test will be skipped." \
         "Install it with 'sudo apt-get install chromium'." >&2
fi

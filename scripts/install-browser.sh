#!/usr/bin/env bash
# Installs the browser the console's tests drive: Debian's chromium and chromium-driver
# (/usr/bin/chromium, /usr/bin/chromedriver), and a CJK font so that the screenshots show the
# console's Chinese, when missing. Never a browser download of its own.
#
#   scripts/install-browser.sh
set -euo pipefail
if command -v chromedriver >/dev/null 2>&1 && [ -x /usr/bin/chromium ] &&
    [ -d /usr/share/fonts/truetype/wqy ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing chromium and chromium-driver (the console's browser tests)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei >/dev/null
else
    echo "install-browser.sh: the console tests need Debian's chromium and chromium-driver" \
        "(apt-get install chromium chromium-driver fonts-wqy-microhei, as root)" >&2
    exit 1
fi

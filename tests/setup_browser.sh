#!/usr/bin/env bash
# Install Debian's chromium for the app's browser test (tests/test_app.py), only when /usr/bin/chromium is missing.
# Idempotent, and soft: if it cannot install (no root, no apt, offline) it says why and exits 0, and the
# browser test is then skipped with a reason. Never downloads Playwright's own browsers.
set -u
if [ -x /usr/bin/chromium ]; then
    echo "setup_browser: /usr/bin/chromium present ($(/usr/bin/chromium --version 2>/dev/null | head -n1))"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_browser: apt-get not found; install chromium yourself to run the browser test (it will be skipped)" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "setup_browser: need root (or passwordless sudo) to apt-get install chromium; the browser test will be skipped" >&2
        exit 0
    fi
fi
echo "setup_browser: installing chromium with apt-get"
if $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
    && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
    echo "setup_browser: installed $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
else
    echo "setup_browser: apt-get install chromium failed; the browser test will be skipped" >&2
fi
exit 0

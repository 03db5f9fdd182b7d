#!/usr/bin/env bash
# The browser tests of `deformviz explore` (tests/explore) drive a real Chromium through its
# WebDriver. Install both from Debian when missing; quiet, and a no-op when already there.
# Without them those tests skip with the reason; with them they run.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: need root and apt-get to install chromium and chromium-driver;" \
         "the browser tests will skip" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# A package mirror that cannot be reached must not sink the whole run: say so loudly; the
# browser tests then skip with their reason.
if ! { apt-get update -qq >/dev/null && apt-get install -y -qq chromium chromium-driver >/dev/null; }; then
    echo "install_browser: WARNING: could not install chromium / chromium-driver;" \
         "the browser tests will skip" >&2
fi

#!/usr/bin/env bash
# What the browser tests need: Debian's Chromium, and axe-core from npm (pinned in
# tools/browser/package-lock.json); and the htmx file the web app serves, vendored from
# the same npm package.
#
#   scripts/browser.sh install       # chromium (apt, as root or with sudo) + npm ci in tools/browser
#   scripts/browser.sh vendor-htmx   # copy htmx.min.js and its license into the web app's static folder
#   scripts/browser.sh status        # what is installed
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=tools/browser
STATIC=services/timeline-api/src/timeline_api/web/static
CHROMIUM=${BROWSER_CHROMIUM:-/usr/bin/chromium}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "browser.sh: $* needs root (or sudo)" >&2; return 1; fi
}

install_chromium() {
  if [ -x "$CHROMIUM" ]; then return; fi
  echo "installing Debian's chromium (apt)"
  as_root apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends \
    chromium fonts-dejavu-core >/dev/null
}

install_npm() {
  command -v npm >/dev/null || { echo "browser.sh: npm is needed (Node.js)" >&2; return 1; }
  if [ ! -f "$TOOLS/node_modules/.package-lock.json" ] \
    || [ "$TOOLS/package-lock.json" -nt "$TOOLS/node_modules/.package-lock.json" ]; then
    echo "installing axe-core and htmx.org (npm ci in $TOOLS)"
    npm ci --prefix "$TOOLS" --no-audit --no-fund --silent
  fi
}

case "${1:-install}" in
  install)
    install_chromium
    install_npm
    ;;
  vendor-htmx)
    install_npm
    cp "$TOOLS/node_modules/htmx.org/dist/htmx.min.js" "$STATIC/htmx.min.js"
    cp "$TOOLS/node_modules/htmx.org/LICENSE" "$STATIC/htmx.LICENSE.txt"
    echo "vendored htmx $(node -p "require('./$TOOLS/node_modules/htmx.org/package.json').version") into $STATIC"
    ;;
  status)
    "$CHROMIUM" --version 2>/dev/null || echo "chromium: not installed"
    [ -f "$TOOLS/node_modules/axe-core/axe.min.js" ] && echo "axe-core: $(node -p "require('./$TOOLS/node_modules/axe-core/package.json').version")" || echo "axe-core: not installed"
    ;;
  *) echo "usage: $0 install|vendor-htmx|status" >&2; exit 2 ;;
esac

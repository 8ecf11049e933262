#!/usr/bin/env bash
# Makes sure the headless browser the e2e browser tests drive is installed.
#
# The tests use Debian's `chromium` package through Playwright's Python package; Playwright's
# own browser download (`playwright install`) is never used. Run as root (or with sudo) on a
# Debian/Ubuntu machine; elsewhere install Chromium yourself and set
# SUPPORTBOT_CHROMIUM=/path/to/chromium.
#
# Exit status: 0 when a browser is available afterwards, 1 otherwise (with a message saying why).
set -u

BROWSER="${SUPPORTBOT_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$BROWSER" ]; then
  echo "ensure_browser: $BROWSER is installed ($("$BROWSER" --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi

fail() {
  cat >&2 <<MSG
ensure_browser: error: $1
The browser tests (pytest -m browser) need Chromium at $BROWSER.
Install it with:   sudo apt-get update && sudo apt-get install -y chromium
or point SUPPORTBOT_CHROMIUM at an existing Chromium/Chrome binary.
MSG
  exit 1
}

if [ "$BROWSER" != "/usr/bin/chromium" ]; then
  fail "SUPPORTBOT_CHROMIUM=$BROWSER is not an executable file"
fi
command -v apt-get >/dev/null 2>&1 || fail "apt-get not found (not a Debian/Ubuntu system)"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    fail "not root and no password-less sudo, cannot run apt-get"
  fi
fi

echo "ensure_browser: $BROWSER not found, installing Debian's chromium package..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update || fail "apt-get update failed (no network or no apt sources?)"
$SUDO apt-get install -y --no-install-recommends chromium fonts-liberation \
  || fail "apt-get install chromium failed"

[ -x "$BROWSER" ] || fail "the chromium package is installed but $BROWSER is missing"
echo "ensure_browser: installed $("$BROWSER" --version 2>/dev/null || echo chromium)"

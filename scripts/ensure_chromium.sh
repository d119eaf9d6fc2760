#!/usr/bin/env bash
# The browser for the Dagster UI test: Debian's `chromium`, installed with apt-get when it is missing
# (Playwright drives it through `executable_path`; it never downloads a browser). Prints its path.
#
#   scripts/ensure_chromium.sh    # exit 0 and the path; 3 when it is missing and cannot be installed
set -euo pipefail

find_browser() {
  local name
  for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null; then command -v "$name"; return 0; fi
  done
  return 1
}

if find_browser; then exit 0; fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "chromium is not installed, and apt-get as root is not available to install it" >&2
  exit 3
fi
echo "installing chromium (apt-get install chromium)..." >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
  echo "apt-get install chromium failed" >&2
  exit 3
fi
find_browser

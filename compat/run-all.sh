#!/usr/bin/env bash
# Run every SDK compatibility check against a running callhook.
#
#   compat/run-all.sh --url https://127.0.0.1:8443 --data-dir /path/to/callhook-data [--no-feed]
#
# Feeds the data the checks expect (feed.py; idempotent, fixed ids) unless --no-feed, installs the
# JS client from package-lock.json if node_modules is missing, then runs python/check.py and
# js/check.mjs. Exits non-zero if any check failed. Needs python3 with msgraph-sdk and
# azure-identity (pip install -r python/requirements.txt) and node >= 18 with npm.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
url="" data="" feed=1
while [ $# -gt 0 ]; do
  case "$1" in
    --url) url="$2"; shift 2 ;;
    --data-dir) data="$2"; shift 2 ;;
    --no-feed) feed=0; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
if [ -z "$url" ] || [ -z "$data" ]; then
  echo "usage: $0 --url URL --data-dir DIR [--no-feed]" >&2
  exit 2
fi
data="$(cd "$data" && pwd)"

status=0
if [ "$feed" = 1 ]; then
  python3 "$here/feed.py" --url "$url" --data-dir "$data" || exit 1
fi

echo "== python (msgraph-sdk)"
python3 "$here/python/check.py" --url "$url" --data-dir "$data" || status=1

echo "== javascript (@microsoft/microsoft-graph-client v3)"
if [ ! -d "$here/js/node_modules" ]; then
  (cd "$here/js" && npm ci --silent) || exit 1
fi
node "$here/js/check.mjs" --url "$url" --data-dir "$data" || status=1

echo "== rich notifications as Microsoft's samples and SDKs check them (jsonwebtoken + jwks-rsa)"
node "$here/js/notifications.mjs" --url "$url" --data-dir "$data" || status=1

if [ "$status" = 0 ]; then echo "ALL PASS"; else echo "SOME CHECKS FAILED"; fi
exit "$status"

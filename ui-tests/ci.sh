#!/usr/bin/env bash
# The console's browser tests, self-contained, as .ci/run runs them: Debian's chromium (installed
# when missing), puppeteer-core from package-lock.json (npm ci), then console.test.mjs against a
# fresh `callhook serve` it starts itself. Screenshots land in target/ui-screenshots/.
#
#   ui-tests/ci.sh [CALLHOOK_BINARY]     (default: target/debug/callhook, which `cargo test` builds)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin="${1:-$root/target/debug/callhook}"
[ -x "$bin" ] || { echo "ui-tests: no callhook binary at $bin (cargo build -p callhook)" >&2; exit 2; }

if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq && apt-get install -y -qq chromium >/dev/null
    else
        sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null
    fi
fi
(cd "$here" && npm ci --silent --no-audit --no-fund)
CALLHOOK_BIN="$bin" CHROMIUM="$(command -v chromium)" SCREENSHOTS="$root/target/ui-screenshots" \
    node "$here/console.test.mjs"
CALLHOOK_BIN="$bin" CHROMIUM="$(command -v chromium)" SCREENSHOTS="$root/target/ui-screenshots" \
    node "$here/dashboard.test.mjs"

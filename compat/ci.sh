#!/usr/bin/env bash
# The SDK compatibility checks, self-contained, as .ci/run runs them:
#   1. installs the SDKs: a virtualenv from python/requirements.txt (compat/.venv), npm ci in js/;
#   2. starts a fresh `callhook serve --tls` on a free loopback port with a throwaway data directory;
#   3. runs run-all.sh against it (feed, Python checks over HTTP/1.1 and HTTP/2, JS checks);
#   4. stops the server, and exits non-zero if any check failed.
#
#   compat/ci.sh [CALLHOOK_BINARY]     (default: target/debug/callhook, which `cargo test` builds)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin="${1:-$root/target/debug/callhook}"
[ -x "$bin" ] || { echo "compat: no callhook binary at $bin (cargo build -p callhook)" >&2; exit 2; }

venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
# pip skips what requirements.txt already pins and has.
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/python/requirements.txt"
(cd "$here/js" && npm ci --silent --no-audit --no-fund)

work="$(mktemp -d)"
port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
url="https://127.0.0.1:$port"
"$bin" serve --listen "127.0.0.1:$port" --tls --data-dir "$work/data" >"$work/server.log" 2>&1 &
server=$!
stop() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap stop EXIT

# /healthz answers once the data directory, the keys and the certificate exist.
for _ in $(seq 1 100); do
    if [ -f "$work/data/tls/cert.pem" ] &&
        curl -fsS --cacert "$work/data/tls/cert.pem" "$url/healthz" >/dev/null 2>&1; then
        break
    fi
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.2
done

status=0
PATH="$venv/bin:$PATH" "$here/run-all.sh" --url "$url" --data-dir "$work/data" || status=$?
if [ "$status" != 0 ]; then
    echo "compat: server log (last 40 lines):" >&2
    tail -n 40 "$work/server.log" >&2
fi
exit "$status"

#!/usr/bin/env bash
# Three callhook nodes on one PostgreSQL database, a webhook, simulated calls, and the node that
# delivers the subscription killed with SIGKILL mid-stream; then checks that every stored call
# record was notified (at least once, as Graph promises) by the nodes left.
#
#   cargo build --release
#   createdb callhook_demo            # an empty database
#   examples/three-nodes.sh postgres://USER:PASSWORD@127.0.0.1:5432/callhook_demo
#
# Needs curl, python3 and psql. Ports 8481-8483 and 8489 on 127.0.0.1.
set -euo pipefail
db=${1:?usage: examples/three-nodes.sh postgres://user:password@host:5432/empty_database}
bin=${CALLHOOK_BIN:-target/release/callhook}
calls=${CALLS:-3000}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# The webhook: answers the validation handshake, then 202 to every POST, one JSON line per item.
python3 - "$work/received.jsonl" <<'PY' &
import http.server, json, sys, urllib.parse
out = open(sys.argv[1], "a", buffering=1)
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if "validationToken" in q:
            token = q["validationToken"][0].encode()
            self.send_response(200); self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(token))); self.end_headers()
            self.wfile.write(token); return
        for item in json.loads(body).get("value", []):
            out.write(json.dumps(item) + "\n")
        self.send_response(202); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", 8489), Hook).serve_forever()
PY
pids+=($!)

for i in 1 2 3; do
    CALLHOOK_LOG=warn "$bin" serve --listen "127.0.0.1:848$i" --data-dir "$work/node$i" \
        --database-url "$db" --delivery-lease-seconds 15 --no-throttle >"$work/node$i.log" 2>&1 &
    pids+=($!)
    node_pid[$i]=$!
done
for i in 1 2 3; do
    until curl -fs "http://127.0.0.1:848$i/healthz" >/dev/null; do sleep 0.2; done
done
data=$(dirname "$(ls "$work"/node*/credentials.json | head -1)")
key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ingestKey"])' "$data/credentials.json")
token=$("$bin" token --data-dir "$data" --database-url "$db" 2>/dev/null)
echo "three nodes up; credentials in $data"

# Node 3 takes the simulated traffic and never delivers (its delivery is paused), so the node
# that holds the subscription's lease is node 1 or node 2, and killing it spares the ingest.
curl -fs -X POST -H "authorization: Bearer $key" http://127.0.0.1:8483/_callhook/delivery/pause
expiry=$(python3 -c 'import datetime; print((datetime.datetime.now(datetime.timezone.utc)+datetime.timedelta(minutes=50)).strftime("%Y-%m-%dT%H:%M:%SZ"))')
sub=$(curl -fs -X POST http://127.0.0.1:8481/v1.0/subscriptions -H "authorization: Bearer $token" \
    -H 'content-type: application/json' \
    -d "{\"changeType\":\"created,updated\",\"notificationUrl\":\"http://127.0.0.1:8489/hook\",\"resource\":\"communications/callRecords\",\"expirationDateTime\":\"$expiry\",\"clientState\":\"demo\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "subscribed; simulating $calls calls through node 3"
CALLHOOK_LOG=warn "$bin" simulate --url http://127.0.0.1:8483 --data-dir "$data" --calls "$calls" --concurrency 2 >"$work/simulate.txt" 2>&1 &
sim=$!
pids+=($sim)

until [ "$(wc -l <"$work/received.jsonl")" -ge 200 ]; do sleep 0.1; done
holder=$(psql "$db" -Atc "SELECT node_id FROM delivery_leases WHERE subscription_id = '$sub'")
victim=""
for i in 1 2; do
    node=$(curl -fs -H "authorization: Bearer $key" "http://127.0.0.1:848$i/_callhook/delivery" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])')
    [ "$node" = "$holder" ] && victim=$i
done
[ -n "$victim" ] || { echo "no node holds the lease?"; exit 1; }
kill -9 "${node_pid[$victim]}"
echo "killed node $victim (it was delivering) after $(wc -l <"$work/received.jsonl") notifications"

wait "$sim"
echo "simulation done: $(tail -1 "$work/simulate.txt")"
# The survivors take the subscription over when the dead node's lease runs out (15 s), then
# deliver what it had not; wait for the outbox to empty, then compare.
for _ in $(seq 1 120); do
    left=$(psql "$db" -Atc "SELECT count(*) FROM outbox")
    [ "$left" = "0" ] && break
    sleep 1
done
python3 - "$work/received.jsonl" "$token" <<'PY'
import json, sys, urllib.request
received = [json.loads(l) for l in open(sys.argv[1])]
ids = {}
for n in received:
    ids.setdefault(n["resourceData"]["id"], []).append(n)
stored, url = set(), "http://127.0.0.1:8483/v1.0/communications/callRecords"
while url:
    req = urllib.request.Request(url, headers={"authorization": "Bearer " + sys.argv[2]})
    page = json.load(urllib.request.urlopen(req))
    stored |= {r["id"] for r in page["value"]}
    url = page.get("@odata.nextLink")
missing = stored - set(ids)
repeats = len(received) - len({n["id"] for n in received})
print(f"{len(stored)} call records stored; {len(received)} notifications received "
      f"({repeats} repeats of a notification id, allowed by at-least-once); "
      f"{len(missing)} records never notified")
sys.exit(1 if missing else 0)
PY

#!/usr/bin/env bash
# How long a month of slots takes: the demo's `vaccines` queue (07:00–21:00 UTC, slots of 15
# minutes, two places each: 1,736 slots in 31 days), about half of its places booked over the
# month, then N reads of `GET /api/v1/queues/{id}/slots?date=…&days=31` one after another, each
# timed by the server (`Server-Timing: app;dur=`) and by curl. Release build, one node, loopback.
#
#   loadtest/slots.sh            # 300 reads
#   N=1000 loadtest/slots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/services.sh
NODE=
trap '[ -n "$NODE" ] && kill $NODE 2>/dev/null; services_down' EXIT
services_up
N=${N:-300}
cargo build --release --bins -q
QC=./target/release/queuecast
BASE=${DATABASE_URL%/*}
DB=$BASE/bench
psql "$BASE/postgres" -qc "DROP DATABASE IF EXISTS bench WITH (FORCE)" -c "CREATE DATABASE bench" >/dev/null
$QC migrate --database-url "$DB" >/dev/null
mkdir -p target/loadtest
$QC demo --database-url "$DB" --listen 127.0.0.1:8091 --join-rate-limit 0 >target/loadtest/slots-node.log 2>&1 &
NODE=$!
URL=http://127.0.0.1:8091
for _ in $(seq 1 100); do curl -fs "$URL/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
TOKEN=$(curl -fs "$URL/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"tenant":"demo","email":"admin@demo.test","password":"demo-password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
QUEUE=$(curl -fs "$URL/api/v1/queues" -H "authorization: Bearer $TOKEN" |
  python3 -c 'import json,sys; print([q["id"] for q in json.load(sys.stdin) if q["slug"] == "vaccines"][0])')
FROM=$(date -u -d tomorrow +%F)
# Book every other place of the month: one booking in each slot (of two places).
curl -fs "$URL/api/v1/queues/$QUEUE/slots?date=$FROM&days=31" |
  python3 -c 'import json,sys; [print(s["start_at"]) for s in json.load(sys.stdin)]' |
  xargs -P 8 -I{} curl -fs -o /dev/null "$URL/api/v1/queues/$QUEUE/appointments" \
    -H 'content-type: application/json' -d '{"start_at":"{}","name":"Bench"}' ||
  true # the last day's slots are past the 30 days the queue books ahead: refused, as they should be
BOOKED=$(psql "$DB" -Atc "SELECT count(*) FROM appointments")
# The reads, one after another: server time and round trip, in milliseconds.
for _ in $(seq 1 "$N"); do
  curl -fs -o /dev/null -D - -w 'total %{time_total}\n' "$URL/api/v1/queues/$QUEUE/slots?date=$FROM&days=31" |
    tr -d '\r' | awk 'tolower($0) ~ /^server-timing:/ { sub(/.*dur=/, ""); print "app " $0 } /^total/ { print }'
done | python3 -c "
import sys
app, total = [], []
for line in sys.stdin:
    kind, v = line.split()
    (app if kind == 'app' else total).append(float(v) if kind == 'app' else float(v) * 1000)
def q(xs, p): xs = sorted(xs); return xs[min(len(xs) - 1, int(p * len(xs)))]
print(f'slots of 31 days, $BOOKED bookings, {len(app)} reads: server p50 {q(app, .5):.2f} ms, p99 {q(app, .99):.2f} ms, max {max(app):.2f} ms; round trip p50 {q(total, .5):.2f} ms, p99 {q(total, .99):.2f} ms')
"

#!/usr/bin/env bash
# Runs BENCHMARKS.md's load generator scenarios against release builds on this machine, RUNS times each
# (default 3), and prints the table of medians. Results: target/loadtest/s*-runN.json (+ .svg).
#
#   loadtest/scenarios.sh                 # every scenario, 3 runs
#   RUNS=1 loadtest/scenarios.sh s2 s5    # some scenarios, once
#   QC_CPUS=0 LT_CPUS=1 RUNS=1 loadtest/scenarios.sh s9   # nodes on CPU 0, the load generator on 1
#                                         # (pin PostgreSQL and Redis yourself: taskset -a -p -c 0 PID)
#   WS_TRANSPORTS="tungstenite actix-ws" RUNS=1 loadtest/scenarios.sh s2
#                                         # each socket scenario over both transports in turn, within
#                                         # each run (same build, same minutes): s2-…-tungstenite-run1, s2-…-actix-ws-run1
#
# Each scenario starts its own Queuecast node(s) on a fresh database `bench` (rate limits off)
# and stops them afterwards. Everything stays on loopback. Two checkouts sharing one PostgreSQL
# run side by side with BENCH_DB=bench2 PORT_BASE=8190 in one of them (database, nodes' ports).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/services.sh
trap 'stop_nodes; services_down' EXIT
services_up
RUNS=${RUNS:-3}
OUT=target/loadtest
mkdir -p "$OUT"
cargo build --release --workspace --bins -q
# QC_BIN: another build of the server to run (a before/after A/B from one checkout).
QC=${QC_BIN:-./target/release/queuecast}
LT=./target/release/loadtest
# Optional CPU pinning, so a load generator cannot take the node's CPU (nor the node its own).
if [ -n "${LT_CPUS:-}" ]; then LT="taskset -c $LT_CPUS $LT"; fi
# Optional priority for the load generator (e.g. LT_NICE=-10), so its own timeouts fire on time
# when the machine is busy.
if [ -n "${LT_NICE:-}" ]; then LT="nice -n $LT_NICE $LT"; fi
if [ -n "${QC_CPUS:-}" ]; then QC="taskset -c $QC_CPUS $QC"; fi
# The transports socket scenarios run over (the nodes' WS_TRANSPORT); named after them when several.
TRANSPORTS=${WS_TRANSPORTS:-tungstenite}
TRANSPORT=${TRANSPORTS%% *}
BASE=${DATABASE_URL%/*}
BENCH_DB=${BENCH_DB:-bench}
PORT_BASE=${PORT_BASE:-8090}
DB=$BASE/$BENCH_DB
NODES=()

fresh_db() {
  psql "$BASE/postgres" -qc "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" -c "CREATE DATABASE $BENCH_DB" >/dev/null
  $QC migrate --database-url "$DB" >/dev/null
  # The last run's writes reach the disk before this one starts: otherwise the kernel's
  # writeback and the checkpoint DROP DATABASE forces compete with this run's commits.
  sync
  sleep 2
}

# start_nodes N: N nodes on 8091…, the first with the demo tenant; sets NODES (pids) and URLS.
start_nodes() {
  local n=$1 i port
  URLS=""
  for ((i = 1; i <= n; i++)); do
    port=$((PORT_BASE + i))
    local cmd=serve
    [ "$i" = 1 ] && cmd=demo
    $QC $cmd --database-url "$DB" --redis-url "$REDIS_URL" --listen "127.0.0.1:$port" \
      --join-rate-limit 0 --login-rate-limit 0 --ws-transport "$TRANSPORT" >"$OUT/node$i.log" 2>&1 &
    NODES+=($!)
    for _ in $(seq 1 100); do
      curl -fs "127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
      sleep 0.2
    done
    URLS="${URLS:+$URLS,}http://127.0.0.1:$port"
  done
  PIDS=$(IFS=,; echo "${NODES[*]}")
}

stop_nodes() {
  for p in "${NODES[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${NODES[@]}"; do wait "$p" 2>/dev/null || true; done
  NODES=()
}

# scenario NAME NODES -- loadtest arguments…
scenario() {
  local name=$1 nodes=$2
  shift 3
  local label
  for ((r = 1; r <= RUNS; r++)); do
    for TRANSPORT in $TRANSPORTS; do
      label=$name
      [ "$TRANSPORTS" = "$TRANSPORT" ] || label=$name-$TRANSPORT
      fresh_db
      start_nodes "$nodes"
      echo "== $label run $r: loadtest $*" >&2
      $LT sockets --url "$URLS" --server-pid "$PIDS" --name "$label-run$r" --out "$OUT" "$@"
      stop_nodes
    done
  done
  TRANSPORT=${TRANSPORTS%% *}
}

write_scenario() {
  local name=$1
  shift
  for ((r = 1; r <= RUNS; r++)); do
    fresh_db
    start_nodes 1
    echo "== $name run $r: loadtest write $*" >&2
    $LT write --url "$URLS" "$@" >"$OUT/$name-run$r.json"
    stop_nodes
  done
}

# other_scenario NAME SUBCOMMAND arguments…: `loadtest SUBCOMMAND` against one fresh node; it
# writes NAME-runN.json and .svg itself.
other_scenario() {
  local name=$1 sub=$2
  shift 2
  for ((r = 1; r <= RUNS; r++)); do
    fresh_db
    start_nodes 1
    echo "== $name run $r: loadtest $sub $*" >&2
    $LT "$sub" --url "$URLS" --name "$name-run$r" --out "$OUT" ${WITH_PID:+--server-pid "$PIDS"} "$@"
    stop_nodes
  done
}

want() { [ -z "$WANT" ] || [[ " $WANT " == *" $1 "* ]]; }
WANT="$*"
want s1 && scenario s1-idle-19k 1 -- --customers 19000 --queues 19 --rate 0 --idle 30 --procs 2 --spread-sources
want s2 && for n in 1000 5000 10000; do
  scenario "s2-fanout-$((n / 1000))k" 1 -- --customers "$n" --queues 1 --rate 2 --seconds 30 --vs-floor --procs 2 --spread-sources
done
# Deliveries/s at saturation: 40 calls/s to 10k customers asks for 400k deliveries/s.
want s2 && scenario s2-saturate-10k 1 -- --customers 10000 --queues 1 --rate 40 --seconds 10 --vs-floor --procs 2 --spread-sources
want s3 && scenario s3-200-queues 1 -- --customers 10000 --queues 200 --rate 500 --actions mixed --seconds 30 --vs-floor --procs 2 --spread-sources
want s4 && write_scenario s4-write-100-queues --mode mixed --queues 100 --concurrency 200 --seconds 10
want s4 && write_scenario s4-joins-1-queue --mode joins --queues 1 --concurrency 200 --seconds 10
want s5 && scenario s5-storm-10k 1 -- --customers 10000 --queues 10 --rate 2 --seconds 10 --storm --database-url "$DB" --procs 2 --spread-sources
want s6 && scenario s6-slow-100 1 -- --customers 5000 --slow 100 --queues 1 --rate 2 --seconds 30 --procs 2 --spread-sources
want s7 && scenario s7-3-nodes-51k 3 -- --customers 51000 --queues 51 --rate 2 --seconds 30 --procs 4 --spread-sources
# Issue 18's goal: 75,000 sockets on four nodes, each process within 20,000 open files.
want s7x4 && scenario s7-4-nodes-76k 4 -- --customers 76000 --queues 76 --rate 2 --seconds 30 --procs 4 --spread-sources
# A ticket drop (issue 20): duplicated joins, a retry storm, reads and calls at depth, a
# reconnect storm at depth.
want s8 && write_scenario s8-joins-unique-keys --mode joins --queues 1 --concurrency 200 --seconds 10 --duplicates 0
want s8 && write_scenario s8-joins-half-duplicated --mode joins --queues 1 --concurrency 200 --seconds 10 --duplicates 0.5
want s9 && other_scenario s9-retry-storm retry-storm --factor 2 --seconds 60 --after 90 --calm 0.5
want s10 && other_scenario s10-depth depth --depth 1000,100000,500000
# The same with a console open (the node holds the live line: places, pages and snapshots from it),
# and the node's memory read around it.
want s10 && WITH_PID=1 other_scenario s10-depth-live depth --depth 1000,100000,500000 --live
# Both again at a steady 500 reads/s (32 in flight at most): the server's time per read when it is
# not saturated (the runs above measure queueing at saturation).
want s10 && other_scenario s10-depth-paced depth --depth 1000,100000,500000 --read-rate 500
want s10 && WITH_PID=1 other_scenario s10-depth-live-paced depth --depth 1000,100000,500000 --live --read-rate 500
# Notifications (issue 14): 10,000 joins into one queue, each with SMS and e-mail opt-in; a run
# of 10,000 call-nexts down such a line (joined first, not measured); joins and call-nexts
# together; beside the same without opt-in, run in turn so both see the same machine. The node has no SMS or e-mail channel here: every message is written in the
# transaction of its event (the cost measured) and recorded `failed: channel not configured`.
want s12 && for notify in "" --notify; do
  write_scenario "s12-joins-10k${notify:+-notify}" --mode joins --queues 1 --concurrency 200 --max-ops 10000 --seconds 30 $notify
  write_scenario "s12-calls-10k${notify:+-notify}" --mode calls --queues 1 --concurrency 200 --line 10000 --warmup 0 --seconds 30 $notify
  write_scenario "s12-mixed${notify:+-notify}" --mode mixed --queues 1 --concurrency 200 --seconds 10 $notify
done
want s11 && scenario s11-storm-10k-at-500k 1 -- --customers 10000 --queues 1 --depth 500000 --rate 2 --seconds 10 --storm --database-url "$DB" --procs 2 --spread-sources
$LT table "$OUT"/s*-run*.json

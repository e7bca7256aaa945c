#!/usr/bin/env bash
# What a durable call costs PostgreSQL on this machine, by the shape of its transaction, at a
# staff pace (RATE calls a second, default 4): what issue 18's 1k goal asks of the write.
#
#   minimal   one INSERT, committed on its own: the least a server that persists a call can do
#   five      Queuecast's call as the writer sends it: BEGIN, the queue's row
#             lock, the claim of the head of the line, the event with the queue's counters and a
#             NOTIFY, COMMIT; five round trips
#   pipeline  the same statements in one round trip (pgbench's pipeline mode: what a driver that
#             pipelines could send, were the statements independent; the claim's result feeds
#             the event, so a real call could not)
#   function  the same work in one PL/pgSQL call: one round trip, one statement
#
# A small schema of its own, shaped like Queuecast's where the cost is (a line index, a
# statement-level trigger with transition tables on the claim, as `line_counts` has, the event's
# primary key, a listener for the NOTIFY), in a scratch database `callshapes`. Printed: each
# shape's p50, p90 and p99 per round, of pgbench's per-transaction latency less its schedule lag
# (at a fixed rate pgbench counts from when a call was due, not from when it was sent).
#
#   loadtest/call-shapes.sh
#   ROUNDS=5 SECONDS_EACH=30 loadtest/call-shapes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/services.sh
LISTENER= W=
finish() {
  [ -z "$LISTENER" ] || kill "$LISTENER" 2>/dev/null || true
  [ -z "$W" ] || rm -rf "$W"
  services_down
}
trap finish EXIT
services_up
ROUNDS=${ROUNDS:-3}
SECONDS_EACH=${SECONDS_EACH:-20}
RATE=${RATE:-4}
PGBENCH=$(qc_pg_bin)/pgbench
BASE=${DATABASE_URL%/*}
DB=$BASE/callshapes
psql "$BASE/postgres" -qc "DROP DATABASE IF EXISTS callshapes WITH (FORCE)" -c "CREATE DATABASE callshapes" >/dev/null
psql "$DB" -q <<'SQL'
CREATE TABLE queues (id int PRIMARY KEY, last_seq bigint NOT NULL DEFAULT 0, waiting int NOT NULL DEFAULT 0);
CREATE TABLE tickets (
  id bigserial PRIMARY KEY, queue_id int NOT NULL, in_line boolean NOT NULL, priority smallint NOT NULL DEFAULT 0,
  line_seq bigint NOT NULL, status text NOT NULL, counter text, called_at timestamptz, name text, fields jsonb);
CREATE INDEX tickets_line ON tickets (queue_id, priority DESC, line_seq) WHERE in_line;
CREATE TABLE line_counts (queue_id int, bucket bigint, waiting int, PRIMARY KEY (queue_id, bucket));
CREATE FUNCTION counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO line_counts AS c (queue_id, bucket, waiting)
  SELECT queue_id, bucket, sum(n) FROM (
    SELECT queue_id, line_seq >> 10 AS bucket, -1 AS n FROM old_rows WHERE in_line
    UNION ALL SELECT queue_id, line_seq >> 10, 1 FROM new_rows WHERE in_line) d
  GROUP BY 1, 2 HAVING sum(n) <> 0
  ON CONFLICT (queue_id, bucket) DO UPDATE SET waiting = c.waiting + EXCLUDED.waiting;
  RETURN NULL;
END $$;
CREATE TRIGGER tickets_counts AFTER UPDATE ON tickets REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION counts();
CREATE TABLE events (queue_id int, seq bigint, kind text NOT NULL, ticket_id bigint, data jsonb NOT NULL,
  at timestamptz NOT NULL, PRIMARY KEY (queue_id, seq));
CREATE TABLE calls (id bigserial PRIMARY KEY, queue_id int NOT NULL, at timestamptz NOT NULL);
INSERT INTO queues VALUES (1, 0, 100000);
INSERT INTO tickets (queue_id, in_line, line_seq, status, name, fields)
  SELECT 1, true, g, 'waiting', 'Customer ' || g, '{"reason": "renewal"}' FROM generate_series(1, 100000) g;
INSERT INTO line_counts SELECT 1, g >> 10, count(*) FROM generate_series(1, 100000) g GROUP BY 2;
CREATE FUNCTION call_next(q int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE s bigint;
BEGIN
  PERFORM 1 FROM queues WHERE id = q FOR UPDATE;
  UPDATE tickets SET status = 'called', in_line = false, counter = '1', called_at = now()
   WHERE id = (SELECT id FROM tickets WHERE queue_id = q AND in_line ORDER BY priority DESC, line_seq LIMIT 1);
  UPDATE queues SET last_seq = last_seq + 1, waiting = waiting - 1 WHERE id = q RETURNING last_seq INTO s;
  INSERT INTO events VALUES (q, s, 'ticket.called', NULL, jsonb_build_object('seq', s, 'pad', repeat('x', 400)), now());
  PERFORM pg_notify('callshapes', repeat('x', 600));
  RETURN s;
END $$;
VACUUM ANALYZE;
SQL
W=$(mktemp -d)
cat >"$W/minimal.sql" <<'SQL'
INSERT INTO calls (queue_id, at) VALUES (1, now());
SQL
CALL=$(cat <<'SQL'
SELECT last_seq FROM queues WHERE id = 1 FOR UPDATE;
UPDATE tickets SET status = 'called', in_line = false, counter = '1', called_at = now() WHERE id = (SELECT id FROM tickets WHERE queue_id = 1 AND in_line ORDER BY priority DESC, line_seq LIMIT 1) RETURNING id, name, fields;
WITH s AS (UPDATE queues SET last_seq = last_seq + 1, waiting = waiting - 1 WHERE id = 1 RETURNING last_seq), ev AS (INSERT INTO events SELECT 1, last_seq, 'ticket.called', NULL, jsonb_build_object('seq', last_seq, 'pad', repeat('x', 400)), now() FROM s RETURNING seq) SELECT pg_notify('callshapes', repeat('x', 600)) FROM ev;
SQL
)
printf 'BEGIN;\n%s\nCOMMIT;\n' "$CALL" >"$W/five.sql"
printf '\\startpipeline\nBEGIN;\n%s\nCOMMIT;\n\\endpipeline\n' "$CALL" >"$W/pipeline.sql"
echo 'SELECT call_next(1);' >"$W/function.sql"
# Someone listens, as every node does: a NOTIFY then costs what it costs Queuecast. (psql reads
# its commands from a pipe held open until the end.)
mkfifo "$W/listen"
psql "$DB" <"$W/listen" >/dev/null &
LISTENER=$!
exec 3>"$W/listen"
echo 'LISTEN callshapes;' >&3
sleep 1
printf '%-9s %6s %9s %9s %9s   (ms, pgbench latency less its schedule lag)\n' shape round p50 p90 p99
for round in $(seq 1 "$ROUNDS"); do
  for shape in minimal five pipeline function; do
    rm -f "$W/log".*
    out=$("$PGBENCH" -n -M prepared -f "$W/$shape.sql" -R "$RATE" -T "$SECONDS_EACH" -l --log-prefix="$W/log" "$DB" 2>&1) \
      || { echo "$out" >&2; exit 1; }
    # Each transaction's line: client, number, latency (µs, from its scheduled start), script,
    # epoch s, µs, schedule lag (µs).
    awk '{ print ($3 - $7) / 1000 }' "$W/log".* | sort -n | awk -v shape="$shape" -v round="$round" '
      { v[NR] = $1 }
      END { printf "%-9s %6s %9.3f %9.3f %9.3f\n", shape, round, v[int(NR * 0.5) + 1], v[int(NR * 0.9) + 1], v[int(NR * 0.99) + 1] }'
  done
done
exec 3>&-
wait "$LISTENER" || true
LISTENER=

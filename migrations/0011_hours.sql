-- Queues that keep time: opening hours, daily numbers, called timeouts and waiting tickets that
-- expire (settings `hours`, `number_reset`, `called_timeout_seconds`, `ticket_ttl_minutes`).
--
-- Every node runs the same clock. What it finds due it submits to its writer as an ordinary
-- change, and the change is conditional on the row it locks: an opening or closing only if the
-- queue's `hours_due_at` is still the one that was due (the change moves it on), a timeout only
-- if the ticket is still in the state it was called into with the same `called_at`, an expiry
-- only if the ticket is still in line. Whichever node's writer locks the row first applies it;
-- the other's finds nothing to do. Once, however many nodes look.
--
-- Finding what is due crosses tenants, so it goes through two narrow functions run as
-- `queuecast_clock`, which may read only the columns they need and change nothing.

-- When the queue's hours next open or close it (null: no hours, or no change within a year).
ALTER TABLE queues ADD COLUMN hours_due_at timestamptz;
-- The local day whose first opening last started numbers again at 1 (`number_reset: "daily"`).
ALTER TABLE queues ADD COLUMN numbered_on date;

-- What the clock asks every second, answered from small indexes.
CREATE INDEX queues_hours_due ON queues (hours_due_at) WHERE hours_due_at IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX queues_timed ON queues (id)
    WHERE deleted_at IS NULL AND (settings ? 'called_timeout_seconds' OR settings ? 'ticket_ttl_minutes');
-- Called tickets not yet started, by state and call time: old no-shows (not finished, never
-- requeued) are not read again on every tick.
CREATE INDEX tickets_called_since ON tickets (queue_id, status, called_at)
    WHERE NOT in_line AND finished_at IS NULL AND served_at IS NULL;
-- Tickets in line by arrival, for expiry.
CREATE INDEX tickets_waiting_since ON tickets (queue_id, joined_at) WHERE in_line;

-- The built-in `default` type gains `expired` (no transition leads there: only the server
-- expires a ticket), so its expired role exists. Types are immutable to clients; this one is the
-- server's own, and the state it adds changes no existing ticket. RLS is lifted for the owner
-- only while this statement runs.
ALTER TABLE ticket_types NO FORCE ROW LEVEL SECURITY;
UPDATE ticket_types SET fsm = jsonb_set(fsm, '{states}', (fsm->'states') || '["expired"]'::jsonb)
WHERE code = 'default' AND NOT (fsm ? 'roles') AND NOT ((fsm->'states') ? 'expired')
  AND fsm->'states' = '["waiting", "called", "serving", "completed", "cancelled", "no_show"]'::jsonb;
ALTER TABLE ticket_types FORCE ROW LEVEL SECURITY;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'queuecast_clock') THEN
        CREATE ROLE queuecast_clock NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- created meanwhile by another database's migration
END $$;
GRANT queuecast_clock TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO queuecast_clock;

GRANT SELECT (id, tenant_id, ticket_type_id, settings, hours_due_at, deleted_at) ON queues TO queuecast_clock;
GRANT SELECT (id, tenant_id, fsm) ON ticket_types TO queuecast_clock;
GRANT SELECT (id, tenant_id, queue_id, ticket_type_id, status, in_line, joined_at, called_at, served_at, finished_at)
    ON tickets TO queuecast_clock;
CREATE POLICY clock_read ON queues FOR SELECT TO queuecast_clock USING (true);
CREATE POLICY clock_read ON ticket_types FOR SELECT TO queuecast_clock USING (true);
CREATE POLICY clock_read ON tickets FOR SELECT TO queuecast_clock USING (true);

-- Queues whose hours open or close them at or before `p_now` (the caller's clock).
CREATE FUNCTION qc_due_hours(p_now timestamptz, p_limit integer)
    RETURNS TABLE (queue_id uuid, tenant_id uuid, due_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    SELECT id, tenant_id, hours_due_at FROM queues
    WHERE hours_due_at <= p_now AND hours_due_at IS NOT NULL AND deleted_at IS NULL
    ORDER BY hours_due_at LIMIT p_limit
    $$;

-- Tickets due at `p_now`, at most `p_limit` of each kind per queue: `timeout` (in the state
-- `call` leads to, called `called_timeout_seconds` ago or more; `since` is their `called_at`) and
-- `expire` (in line since `ticket_ttl_minutes` ago or more; `since` is their `joined_at`).
-- Settings saved before these keys were checked may hold anything: only numbers count, clamped
-- to the range the API accepts.
CREATE FUNCTION qc_due_tickets(p_now timestamptz, p_limit integer)
    RETURNS TABLE (kind text, tenant_id uuid, queue_id uuid, ticket_id uuid, ticket_type_id uuid, since timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    WITH timed AS (
        SELECT q.id, q.tenant_id,
               CASE WHEN jsonb_typeof(q.settings->'called_timeout_seconds') = 'number'
                    THEN least(greatest((q.settings->>'called_timeout_seconds')::numeric, 1), 86400)::float8 END
                 AS timeout_secs,
               CASE WHEN jsonb_typeof(q.settings->'ticket_ttl_minutes') = 'number'
                    THEN least(greatest((q.settings->>'ticket_ttl_minutes')::numeric, 1), 43200)::integer END
                 AS ttl_mins,
               (SELECT tr->>'to' FROM jsonb_array_elements(tt.fsm->'transitions') tr
                WHERE tr->>'name' = 'call' LIMIT 1) AS called
        FROM queues q JOIN ticket_types tt ON tt.id = q.ticket_type_id
        WHERE q.deleted_at IS NULL AND (q.settings ? 'called_timeout_seconds' OR q.settings ? 'ticket_ttl_minutes'))
    SELECT 'timeout', timed.tenant_id, timed.id, t.id, t.ticket_type_id, t.called_at
    FROM timed CROSS JOIN LATERAL (
        SELECT id, ticket_type_id, called_at FROM tickets
        WHERE queue_id = timed.id AND NOT in_line AND finished_at IS NULL AND served_at IS NULL
          AND status = timed.called AND called_at <= p_now - make_interval(secs => timed.timeout_secs)
        ORDER BY called_at LIMIT p_limit) t
    WHERE timed.timeout_secs IS NOT NULL
    UNION ALL
    SELECT 'expire', timed.tenant_id, timed.id, t.id, t.ticket_type_id, t.joined_at
    FROM timed CROSS JOIN LATERAL (
        SELECT id, ticket_type_id, joined_at FROM tickets
        WHERE queue_id = timed.id AND in_line AND joined_at <= p_now - make_interval(mins => timed.ttl_mins)
        ORDER BY joined_at LIMIT p_limit) t
    WHERE timed.ttl_mins IS NOT NULL
    $$;

GRANT CREATE ON SCHEMA public TO queuecast_clock;
ALTER FUNCTION qc_due_hours(timestamptz, integer) OWNER TO queuecast_clock;
ALTER FUNCTION qc_due_tickets(timestamptz, integer) OWNER TO queuecast_clock;
REVOKE CREATE ON SCHEMA public FROM queuecast_clock;
REVOKE EXECUTE ON FUNCTION qc_due_hours(timestamptz, integer), qc_due_tickets(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qc_due_hours(timestamptz, integer), qc_due_tickets(timestamptz, integer) TO queuecast_app;

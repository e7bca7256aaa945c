-- The outboxes' claims read by index however much the outbox grew since they were last planned.
--
-- A connection kept a claim's plan (PL/pgSQL, 0064) until the table's statistics changed. One
-- made at start, with a handful of messages, found the claimed rows again by reading the whole
-- table, or every pending entry of the due index, and the sender claims every 25 ms: in 10,000
-- opt-in joins the claims took a sixth of PostgreSQL's time, growing with the backlog
-- (BENCHMARKS.md, issue 14), since a crowd grows the outbox faster than autovacuum analyses it.
-- Now:
-- * each claim is planned when it runs (`force_custom_plan`): the planner scales the last
--   statistics to the table's size now, so it sees the outbox as long as it is. A plan costs
--   well under a millisecond, and a sender claims at most 40 times a second while the node is
--   busy;
-- * the rows a claim locked are updated by their tuple ids (a TID scan, no index to choose; the
--   lock taken FOR UPDATE keeps each row where it is until the update).
-- Same signatures, answers and owner; the outbox role may now read the tuple ids it updates.

GRANT SELECT (ctid) ON notifications, webhook_deliveries TO queuecast_outbox;

CREATE OR REPLACE FUNCTION qc_claim_notifications(p_limit integer, p_lease_ms integer)
    RETURNS TABLE (id uuid, tenant_id uuid, queue_id uuid, ticket_id uuid, appointment_id uuid, channel text,
                   kind text, state text, recipient text, lang text, vars jsonb, attempts integer,
                   ticket_state text, queue_name text, settings jsonb, opted_out boolean)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
    SET plan_cache_mode = force_custom_plan
    AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH claimed AS (
        UPDATE notifications n SET locked_until = now() + make_interval(secs => p_lease_ms / 1000.0)
        WHERE n.ctid = ANY (ARRAY(
            SELECT d.ctid FROM notifications d
            WHERE d.status = 'pending' AND d.next_attempt_at <= now()
              AND (d.locked_until IS NULL OR d.locked_until <= now())
            ORDER BY d.next_attempt_at
            LIMIT p_limit
            FOR UPDATE SKIP LOCKED))
        RETURNING n.id, n.tenant_id, n.queue_id, n.ticket_id, n.appointment_id, n.channel, n.kind, n.state,
                  n.recipient, n.lang, n.vars, n.attempts
    )
    SELECT c.id, c.tenant_id, c.queue_id, c.ticket_id, c.appointment_id, c.channel, c.kind, c.state, c.recipient,
           c.lang, c.vars, c.attempts,
           coalesce((SELECT t.status FROM tickets t WHERE t.id = c.ticket_id),
                    (SELECT a.status FROM appointments a WHERE a.id = c.appointment_id)),
           q.name, q.settings->'notify',
           c.channel = 'sms' AND EXISTS (SELECT 1 FROM sms_optouts o WHERE o.phone = c.recipient)
    FROM claimed c
    LEFT JOIN LATERAL (SELECT q.name, q.settings FROM queues q WHERE q.id = c.queue_id OFFSET 0) q ON true;
END $$;

CREATE OR REPLACE FUNCTION qc_claim_deliveries(p_limit integer, p_lease_ms integer)
    RETURNS TABLE (id uuid, tenant_id uuid, url text, secret text, kind text, queue_id uuid, seq bigint,
                   attempts integer, event jsonb)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
    SET plan_cache_mode = force_custom_plan
    AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH claimed AS (
        UPDATE webhook_deliveries d SET locked_until = now() + make_interval(secs => p_lease_ms / 1000.0)
        WHERE d.ctid = ANY (ARRAY(
            SELECT due.ctid FROM webhook_deliveries due
            WHERE due.delivered_at IS NULL AND due.failed_at IS NULL AND due.next_attempt_at <= now()
              AND (due.locked_until IS NULL OR due.locked_until <= now())
            ORDER BY due.next_attempt_at
            LIMIT p_limit
            FOR UPDATE SKIP LOCKED))
        RETURNING d.id, d.tenant_id, d.webhook_id, d.queue_id, d.seq, d.kind, d.payload, d.attempts
    )
    SELECT c.id, c.tenant_id, w.url, w.secret, c.kind, c.queue_id, c.seq, c.attempts,
           COALESCE(c.payload, (
               SELECT jsonb_strip_nulls(jsonb_build_object(
                   'seq', e.seq, 'queue_id', e.queue_id, 'kind', e.kind, 'ticket', e.data->'ticket',
                   'queue', e.data->'queue', 'actor', e.actor, 'at', e.at, 'from', e.from_state, 'to', e.to_state))
               FROM queue_events e WHERE e.queue_id = c.queue_id AND e.seq = c.seq), '{}')
    FROM claimed c
    JOIN LATERAL (SELECT w.url, w.secret FROM webhooks w WHERE w.id = c.webhook_id OFFSET 0) w ON true;
END $$;

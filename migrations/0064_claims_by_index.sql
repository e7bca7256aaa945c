-- The outboxes' claims read what they claim by index, whatever the planner thinks a claim holds.
--
-- As `LANGUAGE sql` functions, `qc_claim_notifications` (0033) and `qc_claim_deliveries` (0006)
-- were planned on every call without the value of `p_limit`: the planner took the claim for a
-- tenth of the due rows, and with thousands due it joined them by hashing whole tables, so each
-- claim of 32 read every message, every ticket (or every delivery and queue event) there was
-- (perf and auto_explain during 10,000 opt-in joins, BENCHMARKS.md). Now the claimed ids are an
-- array the UPDATE finds by primary key, and each claimed row's ticket, appointment, queue or
-- event is a lookup by key; in PL/pgSQL the plan is made once per connection. Same signatures,
-- answers, owner and grants.

CREATE OR REPLACE FUNCTION qc_claim_notifications(p_limit integer, p_lease_ms integer)
    RETURNS TABLE (id uuid, tenant_id uuid, queue_id uuid, ticket_id uuid, appointment_id uuid, channel text,
                   kind text, state text, recipient text, lang text, vars jsonb, attempts integer,
                   ticket_state text, queue_name text, settings jsonb, opted_out boolean)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH claimed AS (
        UPDATE notifications n SET locked_until = now() + make_interval(secs => p_lease_ms / 1000.0)
        WHERE n.id = ANY (ARRAY(
            SELECT d.id FROM notifications d
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
    AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH claimed AS (
        UPDATE webhook_deliveries d SET locked_until = now() + make_interval(secs => p_lease_ms / 1000.0)
        WHERE d.id = ANY (ARRAY(
            SELECT due.id FROM webhook_deliveries due
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

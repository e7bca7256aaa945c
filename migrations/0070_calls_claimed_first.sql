-- A call's message is claimed before older messages that can wait.
--
-- Claims took due messages oldest first. While a node writes a crowd's changes its sender claims
-- at most 32 every 25 ms (the write path first), and a crowd writes messages faster than that:
-- in 10 s of opt-in joins and call-nexts the outbox grew by ~17,000 a second, so a "you are
-- called" written at second 10 waited behind every "you joined" before it, minutes after its
-- customer was due at the counter (BENCHMARKS.md, issue 14).
--
-- Now the due index leads with whether a message can wait (0: `called` and `recalled`, the
-- customer is expected now; 1: joined, ahead, snoozed, no-show and reminders). A CASE rather
-- than a boolean: the planner rewrites `NOT (kind NOT IN …)` into a form the index no longer
-- matches, and then reads the whole index to find the first class. A claim takes the
-- due messages that cannot wait first, oldest first, then fills up with the others, oldest
-- first: two range scans of the same index, each bounded by `next_attempt_at <= now()`, so a
-- claim's cost does not grow with the backlog of either class. Same signature, answers and owner.

DROP INDEX notifications_due;
CREATE INDEX notifications_due
    ON notifications ((CASE WHEN kind IN ('called', 'recalled') THEN 0 ELSE 1 END), next_attempt_at)
    WHERE status = 'pending';

CREATE OR REPLACE FUNCTION qc_claim_notifications(p_limit integer, p_lease_ms integer)
    RETURNS TABLE (id uuid, tenant_id uuid, queue_id uuid, ticket_id uuid, appointment_id uuid, channel text,
                   kind text, state text, recipient text, lang text, vars jsonb, attempts integer,
                   ticket_state text, queue_name text, settings jsonb, opted_out boolean)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
    SET plan_cache_mode = force_custom_plan
    AS $$
#variable_conflict use_column
DECLARE
    v_now tid[];
    v_later tid[] := '{}';
BEGIN
    v_now := ARRAY(
        SELECT d.ctid FROM notifications d
        WHERE d.status = 'pending' AND (CASE WHEN d.kind IN ('called', 'recalled') THEN 0 ELSE 1 END) = 0 AND d.next_attempt_at <= now()
          AND (d.locked_until IS NULL OR d.locked_until <= now())
        ORDER BY d.next_attempt_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED);
    IF cardinality(v_now) < p_limit THEN
        v_later := ARRAY(
            SELECT d.ctid FROM notifications d
            WHERE d.status = 'pending' AND (CASE WHEN d.kind IN ('called', 'recalled') THEN 0 ELSE 1 END) = 1 AND d.next_attempt_at <= now()
              AND (d.locked_until IS NULL OR d.locked_until <= now())
            ORDER BY d.next_attempt_at
            LIMIT p_limit - cardinality(v_now)
            FOR UPDATE SKIP LOCKED);
    END IF;
    RETURN QUERY
    WITH claimed AS (
        UPDATE notifications n SET locked_until = now() + make_interval(secs => p_lease_ms / 1000.0)
        WHERE n.ctid = ANY (v_now || v_later)
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

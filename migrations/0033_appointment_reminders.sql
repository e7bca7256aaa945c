-- Reminders of appointments, through the notification outbox (0030): a message may be about an
-- appointment instead of a ticket. A booking gives its contacts for messages with consent
-- (`notify_sms`, `notify_email`, apart from the phone and e-mail staff see), and keeps which
-- reminders it is owed (`reminders`: minutes before `start_at`, largest first, fixed at booking),
-- how many were written (`reminded`) and when the next is due (`next_reminder_at`). The clock
-- writes each reminder's messages with a conditional update of `next_reminder_at`, so with
-- several nodes each is written once; the sender drops one whose appointment is no longer booked.
ALTER TABLE appointments
    ADD COLUMN notify_sms text,
    ADD COLUMN notify_email text,
    ADD COLUMN reminders integer[] NOT NULL DEFAULT '{}',
    ADD COLUMN reminded integer NOT NULL DEFAULT 0,
    ADD COLUMN next_reminder_at timestamptz,
    -- The booking's token sealed with the deployment's secret and the appointment's id
    -- (`secret::booking_link_key`): the sender unseals it into the reminders' links, so they open
    -- the booking on any device. A reader of the database alone cannot.
    ADD COLUMN link_sealed bytea;
-- The day report tells booked customers' tickets from walk-ins'.
CREATE INDEX appointments_ticket ON appointments (ticket_id) WHERE ticket_id IS NOT NULL;
CREATE INDEX appointments_reminder_due ON appointments (next_reminder_at)
    WHERE status = 'booked' AND next_reminder_at IS NOT NULL;

ALTER TABLE notifications ALTER COLUMN ticket_id DROP NOT NULL;
ALTER TABLE notifications ADD COLUMN appointment_id uuid;
ALTER TABLE notifications ADD CONSTRAINT notifications_about CHECK (ticket_id IS NOT NULL OR appointment_id IS NOT NULL);
CREATE INDEX notifications_appointment ON notifications (appointment_id, created_at) WHERE appointment_id IS NOT NULL;
-- An appointment is reminded once per channel and reminder (`position`: its minutes before).
CREATE UNIQUE INDEX notifications_reminder_once ON notifications (appointment_id, channel, position)
    WHERE kind = 'reminder';

-- The clock finds due reminders across tenants.
GRANT SELECT (start_at, next_reminder_at, reminders, reminded) ON appointments TO queuecast_clock;
CREATE FUNCTION qc_due_reminders(p_now timestamptz, p_limit integer)
    RETURNS TABLE (tenant_id uuid, queue_id uuid, appointment_id uuid, start_at timestamptz,
                   reminders integer[], reminded integer, next_reminder_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    SELECT a.tenant_id, a.queue_id, a.id, a.start_at, a.reminders, a.reminded, a.next_reminder_at
    FROM appointments a JOIN queues q ON q.id = a.queue_id AND q.deleted_at IS NULL
    WHERE a.status = 'booked' AND a.next_reminder_at IS NOT NULL AND a.next_reminder_at <= p_now
    ORDER BY a.next_reminder_at LIMIT p_limit
    $$;
GRANT CREATE ON SCHEMA public TO queuecast_clock;
ALTER FUNCTION qc_due_reminders(timestamptz, integer) OWNER TO queuecast_clock;
REVOKE CREATE ON SCHEMA public FROM queuecast_clock;
REVOKE EXECUTE ON FUNCTION qc_due_reminders(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qc_due_reminders(timestamptz, integer) TO queuecast_app;

-- The sender: a reminder's "state now" is its appointment's status.
GRANT SELECT (id, status) ON appointments TO queuecast_outbox;
GRANT SELECT (appointment_id) ON notifications TO queuecast_outbox;
CREATE POLICY outbox_send ON appointments FOR SELECT TO queuecast_outbox USING (true);
DROP FUNCTION qc_claim_notifications(integer, integer);
CREATE FUNCTION qc_claim_notifications(p_limit integer, p_lease_ms integer)
    RETURNS TABLE (id uuid, tenant_id uuid, queue_id uuid, ticket_id uuid, appointment_id uuid, channel text,
                   kind text, state text, recipient text, lang text, vars jsonb, attempts integer,
                   ticket_state text, queue_name text, settings jsonb, opted_out boolean)
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    WITH due AS (
        SELECT n.id FROM notifications n
        WHERE n.status = 'pending' AND n.next_attempt_at <= now()
          AND (n.locked_until IS NULL OR n.locked_until <= now())
        ORDER BY n.next_attempt_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE notifications n SET locked_until = now() + make_interval(secs => p_lease_ms / 1000.0)
        FROM due WHERE n.id = due.id
        RETURNING n.id, n.tenant_id, n.queue_id, n.ticket_id, n.appointment_id, n.channel, n.kind, n.state,
                  n.recipient, n.lang, n.vars, n.attempts
    )
    SELECT c.id, c.tenant_id, c.queue_id, c.ticket_id, c.appointment_id, c.channel, c.kind, c.state, c.recipient,
           c.lang, c.vars, c.attempts, coalesce(t.status, a.status), q.name, q.settings->'notify',
           c.channel = 'sms' AND EXISTS (SELECT 1 FROM sms_optouts o WHERE o.phone = c.recipient)
    FROM claimed c
    LEFT JOIN tickets t ON t.id = c.ticket_id
    LEFT JOIN appointments a ON a.id = c.appointment_id
    LEFT JOIN queues q ON q.id = c.queue_id
    $$;
GRANT CREATE ON SCHEMA public TO queuecast_outbox;
ALTER FUNCTION qc_claim_notifications(integer, integer) OWNER TO queuecast_outbox;
REVOKE CREATE ON SCHEMA public FROM queuecast_outbox;
REVOKE EXECUTE ON FUNCTION qc_claim_notifications(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qc_claim_notifications(integer, integer) TO queuecast_app;

-- Retention reaches bookings too: an appointment whose time ended more than p_days ago loses its
-- name, phone, e-mail and contacts for reminders (its time, status and ticket stay: the reports
-- count them), its events' copies lose the name, and its reminders' recipients are blanked.
GRANT SELECT (id, end_at, customer_name, customer_phone, customer_email, notify_sms, notify_email)
    ON appointments TO queuecast_retention;
GRANT UPDATE (customer_name, customer_phone, customer_email, notify_sms, notify_email)
    ON appointments TO queuecast_retention;
GRANT SELECT (appointment_id) ON notifications TO queuecast_retention;
CREATE POLICY retention_read ON appointments FOR SELECT TO queuecast_retention USING (true);
CREATE POLICY retention_scrub ON appointments FOR UPDATE TO queuecast_retention
    USING (end_at < now())
    WITH CHECK (customer_name = '' AND customer_phone IS NULL AND customer_email IS NULL
                AND notify_sms IS NULL AND notify_email IS NULL);
-- Appointment events carry no ticket: retention reads and scrubs those too.
CREATE POLICY retention_read_appointments ON queue_events FOR SELECT TO queuecast_retention
    USING (kind LIKE 'appointment.%');
CREATE POLICY retention_scrub_appointments ON queue_events FOR UPDATE TO queuecast_retention
    USING (kind LIKE 'appointment.%') WITH CHECK ((data->'appointment'->>'name') = '');
GRANT SELECT (kind) ON queue_events TO queuecast_retention;

CREATE FUNCTION qc_blank_appointments(p_days integer, p_limit integer) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    cutoff timestamptz;
    n bigint;
    m bigint;
    k bigint;
BEGIN
    IF p_days IS NULL OR p_days < 1 THEN
        RAISE EXCEPTION 'retention keeps at least one day';
    END IF;
    cutoff := now() - make_interval(days => p_days);
    WITH batch AS (
        SELECT id FROM appointments
        WHERE end_at < cutoff AND (customer_name <> '' OR customer_phone IS NOT NULL OR customer_email IS NOT NULL
                                   OR notify_sms IS NOT NULL OR notify_email IS NOT NULL)
        LIMIT p_limit FOR UPDATE SKIP LOCKED)
    UPDATE appointments a SET customer_name = '', customer_phone = NULL, customer_email = NULL,
        notify_sms = NULL, notify_email = NULL
    FROM batch WHERE a.id = batch.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    WITH batch AS (
        SELECT n.id FROM notifications n JOIN appointments a ON a.id = n.appointment_id
        WHERE n.recipient IS NOT NULL AND a.end_at < cutoff
        LIMIT p_limit FOR UPDATE OF n SKIP LOCKED)
    UPDATE notifications n SET recipient = NULL FROM batch WHERE n.id = batch.id;
    GET DIAGNOSTICS m = ROW_COUNT;
    -- An appointment's events all happened before its time ended, or soon after: older than
    -- the cutoff once it is (those of the last minutes go in a later round).
    WITH batch AS (
        SELECT queue_id, seq FROM queue_events
        WHERE kind LIKE 'appointment.%' AND at < cutoff AND (data->'appointment'->>'name') <> ''
        LIMIT p_limit * 4)
    UPDATE queue_events e SET data = jsonb_set(e.data, '{appointment,name}', '""')
    FROM batch WHERE e.queue_id = batch.queue_id AND e.seq = batch.seq;
    GET DIAGNOSTICS k = ROW_COUNT;
    RETURN n + m + k;
END $$;
GRANT CREATE ON SCHEMA public TO queuecast_retention;
ALTER FUNCTION qc_blank_appointments(integer, integer) OWNER TO queuecast_retention;
REVOKE CREATE ON SCHEMA public FROM queuecast_retention;
REVOKE EXECUTE ON FUNCTION qc_blank_appointments(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qc_blank_appointments(integer, integer) TO queuecast_app;

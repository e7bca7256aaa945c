-- Line control: presence, snoozes, staff notes, a ticket's history, and feedback.

-- Whether the customer is watching (an open ticket page), and since when (or, once away, when
-- they were last seen); how often the ticket stepped back in line; staff's notes (never shown to
-- the customer, never in events).
ALTER TABLE tickets
    ADD COLUMN present    boolean NOT NULL DEFAULT false,
    ADD COLUMN present_at timestamptz,
    ADD COLUMN snoozes    smallint NOT NULL DEFAULT 0,
    ADD COLUMN notes      text CONSTRAINT tickets_notes_length CHECK (length(notes) <= 2000);

-- A ticket's history: its events across every queue it was in.
CREATE INDEX queue_events_ticket ON queue_events (ticket_id, at, seq) WHERE ticket_id IS NOT NULL;

-- One rating per ticket, given by its customer after it ended.
CREATE TABLE ticket_feedback (
    ticket_id   uuid PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    tenant_id   uuid NOT NULL,
    queue_id    uuid NOT NULL,
    rating      smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment     text CHECK (length(comment) <= 1000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX ticket_feedback_queue ON ticket_feedback (queue_id, created_at);
ALTER TABLE ticket_feedback ENABLE ROW LEVEL SECURITY;
ALTER TABLE ticket_feedback FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ticket_feedback TO queuecast_app
    USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
GRANT SELECT, INSERT ON ticket_feedback TO queuecast_app;

-- Retention blanks staff notes of tickets that finished long ago, and feedback comments as old
-- (ratings stay: they are the statistic); how many rows changed.
GRANT SELECT (notes) ON tickets TO queuecast_retention;
GRANT UPDATE (notes) ON tickets TO queuecast_retention;
GRANT SELECT (ticket_id, comment, created_at), UPDATE (comment) ON ticket_feedback TO queuecast_retention;
CREATE POLICY retention_read ON ticket_feedback FOR SELECT TO queuecast_retention USING (true);
CREATE POLICY retention_scrub ON ticket_feedback FOR UPDATE TO queuecast_retention
    USING (comment IS NOT NULL) WITH CHECK (comment IS NULL);
CREATE FUNCTION qc_blank_notes(p_days integer, p_limit integer) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    cutoff timestamptz;
    n bigint;
    m bigint;
BEGIN
    IF p_days IS NULL OR p_days < 1 THEN
        RAISE EXCEPTION 'retention keeps at least one day';
    END IF;
    cutoff := now() - make_interval(days => p_days);
    WITH batch AS (
        SELECT id FROM tickets WHERE notes IS NOT NULL AND anonymised_at IS NOT NULL AND finished_at < cutoff
        LIMIT p_limit FOR UPDATE SKIP LOCKED)
    UPDATE tickets t SET notes = NULL FROM batch WHERE t.id = batch.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    WITH batch AS (
        SELECT ticket_id FROM ticket_feedback WHERE comment IS NOT NULL AND created_at < cutoff
        LIMIT p_limit FOR UPDATE SKIP LOCKED)
    UPDATE ticket_feedback f SET comment = NULL FROM batch WHERE f.ticket_id = batch.ticket_id;
    GET DIAGNOSTICS m = ROW_COUNT;
    RETURN n + m;
END $$;
-- Notes go once the ticket's name and fields went (qc_anonymise_finished, which retention runs
-- first): the retention role's policy on tickets (migration 0005) lets it write only such rows.
GRANT CREATE ON SCHEMA public TO queuecast_retention;
ALTER FUNCTION qc_blank_notes(integer, integer) OWNER TO queuecast_retention;
REVOKE CREATE ON SCHEMA public FROM queuecast_retention;
REVOKE EXECUTE ON FUNCTION qc_blank_notes(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qc_blank_notes(integer, integer) TO queuecast_app;

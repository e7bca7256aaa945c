-- Tickets and queue events name their queue checked once per statement, as the outbox's rows
-- are since 0066 (issue 14).
--
-- A join inserted three rows checked by foreign key against `queues`, each check a query of
-- its own: the ticket, its event, and (since 0066, no longer) its messages. The writer inserts
-- a batch's tickets in one statement and its events in another, all of queues it holds locked,
-- so the same rule is kept by the triggers of 0066, once per statement and distinct queue:
--
-- * inserted tickets and events must name a queue of their tenant (locked FOR KEY SHARE);
-- * a ticket moved to another queue (a transfer) must name one too; an event never moves;
-- * deleted queues take their tickets and events with them (the foreign keys' ON DELETE
--   CASCADE; what references a ticket still goes with it by its own foreign key).
--
-- The ticket's foreign key to its ticket type stays.

ALTER TABLE tickets DROP CONSTRAINT tickets_tenant_id_queue_id_fkey;
ALTER TABLE queue_events DROP CONSTRAINT queue_events_tenant_id_queue_id_fkey;

CREATE TRIGGER tickets_name_queues AFTER INSERT ON tickets
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION qc_rows_name_queues();
CREATE TRIGGER queue_events_name_queues AFTER INSERT ON queue_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION qc_rows_name_queues();

-- A transfer: the ticket's new queue, checked as an insert's.
CREATE FUNCTION qc_row_names_its_queue() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
BEGIN
    PERFORM 1 FROM queues WHERE tenant_id = NEW.tenant_id AND id = NEW.queue_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'update on table "%" names queue % of tenant %, which does not exist',
            TG_TABLE_NAME, NEW.queue_id, NEW.tenant_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER tickets_move_to_queues AFTER UPDATE OF tenant_id, queue_id ON tickets
    FOR EACH ROW WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id OR OLD.queue_id IS DISTINCT FROM NEW.queue_id)
    EXECUTE FUNCTION qc_row_names_its_queue();
CREATE TRIGGER queue_events_queue_stays BEFORE UPDATE OF tenant_id, queue_id ON queue_events
    FOR EACH ROW WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id OR OLD.queue_id IS DISTINCT FROM NEW.queue_id)
    EXECUTE FUNCTION qc_queue_stays();

-- Deleted queues take their tickets and events, as well as their outbox (0066).
CREATE OR REPLACE FUNCTION qc_queues_take_their_outbox() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
BEGIN
    DELETE FROM notifications n USING gone g WHERE n.tenant_id = g.tenant_id AND n.queue_id = g.id;
    DELETE FROM notify_contacts c USING gone g WHERE c.tenant_id = g.tenant_id AND c.queue_id = g.id;
    DELETE FROM queue_events e USING gone g WHERE e.tenant_id = g.tenant_id AND e.queue_id = g.id;
    DELETE FROM tickets t USING gone g WHERE t.tenant_id = g.tenant_id AND t.queue_id = g.id;
    RETURN NULL;
END $$;
ALTER FUNCTION qc_queues_take_their_outbox() RENAME TO qc_queues_take_their_rows;
ALTER TRIGGER queues_take_their_outbox ON queues RENAME TO queues_take_their_rows;

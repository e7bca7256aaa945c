-- The outbox's rows checked once per statement, not once per row (issue 14).
--
-- `notifications` and `notify_contacts` referenced `queues` with a foreign key. PostgreSQL
-- checks a foreign key with one query per inserted row (~6 µs here), and the writer inserts a
-- contact per opt-in join and a message per channel per told moment: at 10,000 opt-in joins
-- those checks were a fifth of what the messages cost the writer's transaction (BENCHMARKS.md).
-- The same rule now holds by triggers that work per statement:
--
-- * after an insert, each distinct (tenant, queue) the new rows name must be a queue, locked
--   FOR KEY SHARE as the foreign key did (a queue cannot be deleted under rows that name it);
--   a statement of a hundred messages of one queue checks one key;
-- * a row's tenant and queue never change (nothing changes them; an update that tries is
--   refused, where the foreign key would have checked the new key);
-- * when queues are deleted, their messages and contacts go with them (the foreign key's
--   ON DELETE CASCADE). The delete runs as whoever deleted the queues. Nothing in Queuecast
--   deletes a queue (they are closed and marked deleted); an operator may.

CREATE FUNCTION qc_rows_name_queues() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
DECLARE
    t uuid;
    q uuid;
BEGIN
    FOR t, q IN SELECT DISTINCT n.tenant_id, n.queue_id FROM new_rows n LOOP
        PERFORM 1 FROM queues WHERE tenant_id = t AND id = q FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'insert on table "%" names queue % of tenant %, which does not exist', TG_TABLE_NAME, q, t
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

CREATE FUNCTION qc_queue_stays() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
BEGIN
    RAISE EXCEPTION 'the queue of a row of "%" never changes', TG_TABLE_NAME
        USING ERRCODE = 'foreign_key_violation';
END $$;

CREATE FUNCTION qc_queues_take_their_outbox() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
BEGIN
    DELETE FROM notifications n USING gone g WHERE n.tenant_id = g.tenant_id AND n.queue_id = g.id;
    DELETE FROM notify_contacts c USING gone g WHERE c.tenant_id = g.tenant_id AND c.queue_id = g.id;
    RETURN NULL;
END $$;

ALTER TABLE notifications DROP CONSTRAINT notifications_tenant_id_queue_id_fkey;
ALTER TABLE notify_contacts DROP CONSTRAINT notify_contacts_tenant_id_queue_id_fkey;

CREATE TRIGGER notifications_name_queues AFTER INSERT ON notifications
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION qc_rows_name_queues();
CREATE TRIGGER notify_contacts_name_queues AFTER INSERT ON notify_contacts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION qc_rows_name_queues();
CREATE TRIGGER notifications_queue_stays BEFORE UPDATE OF tenant_id, queue_id ON notifications
    FOR EACH ROW WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id OR OLD.queue_id IS DISTINCT FROM NEW.queue_id)
    EXECUTE FUNCTION qc_queue_stays();
CREATE TRIGGER notify_contacts_queue_stays BEFORE UPDATE OF tenant_id, queue_id ON notify_contacts
    FOR EACH ROW WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id OR OLD.queue_id IS DISTINCT FROM NEW.queue_id)
    EXECUTE FUNCTION qc_queue_stays();
CREATE TRIGGER queues_take_their_outbox AFTER DELETE ON queues
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION qc_queues_take_their_outbox();

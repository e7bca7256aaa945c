-- Notifications off the page: SMS, e-mail and web push, from one outbox.
--
-- A join may carry contacts (`notify_contacts`: a phone for SMS, an e-mail address, a push
-- subscription, the customer's language), given with explicit consent. The writer inserts a row
-- into `notifications` for each channel of a ticket's contacts when an event that deserves a
-- message commits (joined, called, recalled, no-show; `ahead` when the ticket reaches a position
-- of its queue's `settings.notify.ahead`), in the transaction of that event: a committed event
-- always has its messages, an uncommitted one never does. Both tables follow 0002: `tenant_id`,
-- FORCE RLS, the `tenant_isolation` policy.
--
-- The sender works across tenants like the webhook sender (0006): `qc_claim_notifications`, run
-- as `queuecast_outbox`, leases due messages with FOR UPDATE SKIP LOCKED and answers what a
-- send needs (the recipient, the words' parts, the ticket's state now, so that a message the
-- ticket has outrun is dropped rather than sent late). Outcomes are recorded in a transaction
-- scoped to the message's tenant.

CREATE TABLE notify_contacts (
    ticket_id   uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    queue_id    uuid NOT NULL,
    -- E.164 (`+33612345678`), for SMS.
    sms         text,
    email       text,
    -- A PushSubscription as the browser gave it: {endpoint, keys: {p256dh, auth}}.
    push        jsonb,
    lang        text NOT NULL DEFAULT 'en',
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE notifications (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    queue_id         uuid NOT NULL,
    ticket_id        uuid NOT NULL,
    channel          text NOT NULL CHECK (channel IN ('sms', 'email', 'push')),
    -- joined, ahead, called, recalled, no_show.
    kind             text NOT NULL,
    -- `ahead` only: the position reached.
    position         integer,
    -- The queue's seq when the message was written.
    seq              bigint NOT NULL,
    -- The ticket's state when the message was written: a ticket in another state now has moved
    -- on, and the message is dropped as stale rather than sent late.
    state            text NOT NULL,
    -- Where it goes (phone, address, or the subscription as JSON text); blanked by retention.
    recipient        text,
    lang             text NOT NULL,
    -- The words' parts known at the event: number, counter, ahead.
    vars             jsonb NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- A sender's lease: no other sender claims the message before this.
    locked_until     timestamptz,
    last_error       text,
    -- The provider's id of the message, which its receipts name.
    provider_id      text,
    sent_at          timestamptz,
    delivered_at     timestamptz,
    failed_at        timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id) ON DELETE CASCADE
);
-- What the sender claims: due pending messages, oldest first.
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
-- A ticket's messages, in order.
CREATE INDEX notifications_ticket ON notifications (ticket_id, created_at);
-- The day report: messages of a queue by day.
CREATE INDEX notifications_queue_day ON notifications (queue_id, created_at);
-- A ticket is told once per channel and position.
CREATE UNIQUE INDEX notifications_ahead_once ON notifications (ticket_id, channel, position) WHERE kind = 'ahead';

-- Numbers that answered STOP: no more SMS to them, from any tenant (the sender number is the
-- deployment's). No tenant column: the opt-out belongs to the phone.
CREATE TABLE sms_optouts (
    phone  text PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now()
);

-- Keys of the deployment, made on first start: `receipts` signs the URLs providers call back,
-- `vapid` is the web push key pair.
CREATE TABLE server_keys (
    name        text PRIMARY KEY,
    value       bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO server_keys (name, value)
VALUES ('receipts', uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));

GRANT SELECT, INSERT, UPDATE, DELETE ON notify_contacts, notifications TO queuecast_app;
GRANT SELECT, INSERT, DELETE ON sms_optouts TO queuecast_app;
GRANT SELECT, INSERT ON server_keys TO queuecast_app;
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['notify_contacts', 'notifications']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO queuecast_app '
                       'USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant())', t);
    END LOOP;
END $$;

-- A receipt names a message, not its tenant: the resolver answers which tenant holds it.
GRANT SELECT (id, tenant_id) ON notifications TO queuecast_resolver;
CREATE POLICY resolver_lookup ON notifications FOR SELECT TO queuecast_resolver USING (true);
CREATE FUNCTION qc_tenant_of_notification(p_id uuid) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT tenant_id FROM notifications WHERE id = p_id $$;
GRANT CREATE ON SCHEMA public TO queuecast_resolver;
ALTER FUNCTION qc_tenant_of_notification(uuid) OWNER TO queuecast_resolver;
REVOKE CREATE ON SCHEMA public FROM queuecast_resolver;
REVOKE EXECUTE ON FUNCTION qc_tenant_of_notification(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qc_tenant_of_notification(uuid) TO queuecast_app;

-- The outbox role reads what a send needs and sets leases, nothing else.
GRANT SELECT (id, tenant_id, queue_id, ticket_id, channel, kind, position, state, recipient, lang, vars,
              status, attempts, next_attempt_at, locked_until) ON notifications TO queuecast_outbox;
GRANT UPDATE (locked_until) ON notifications TO queuecast_outbox;
GRANT SELECT (id, status) ON tickets TO queuecast_outbox;
GRANT SELECT (id, name, settings) ON queues TO queuecast_outbox;
GRANT SELECT ON sms_optouts TO queuecast_outbox;
CREATE POLICY outbox_claim ON notifications FOR SELECT TO queuecast_outbox USING (status = 'pending');
CREATE POLICY outbox_lease ON notifications FOR UPDATE TO queuecast_outbox USING (status = 'pending');
CREATE POLICY outbox_send ON tickets FOR SELECT TO queuecast_outbox USING (true);
CREATE POLICY outbox_send ON queues FOR SELECT TO queuecast_outbox USING (true);

-- Leases up to `p_limit` due messages for `p_lease_ms` milliseconds, each with what its send
-- needs: the ticket's state now (null when the ticket is gone), the queue's name and its
-- `settings.notify` (templates), and whether the phone opted out.
CREATE FUNCTION qc_claim_notifications(p_limit integer, p_lease_ms integer)
    RETURNS TABLE (id uuid, tenant_id uuid, queue_id uuid, ticket_id uuid, channel text, kind text,
                   state text, recipient text, lang text, vars jsonb, attempts integer,
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
        RETURNING n.id, n.tenant_id, n.queue_id, n.ticket_id, n.channel, n.kind, n.state, n.recipient,
                  n.lang, n.vars, n.attempts
    )
    SELECT c.id, c.tenant_id, c.queue_id, c.ticket_id, c.channel, c.kind, c.state, c.recipient, c.lang,
           c.vars, c.attempts, t.status, q.name, q.settings->'notify',
           c.channel = 'sms' AND EXISTS (SELECT 1 FROM sms_optouts o WHERE o.phone = c.recipient)
    FROM claimed c
    LEFT JOIN tickets t ON t.id = c.ticket_id
    LEFT JOIN queues q ON q.id = c.queue_id
    $$;
GRANT CREATE ON SCHEMA public TO queuecast_outbox;
ALTER FUNCTION qc_claim_notifications(integer, integer) OWNER TO queuecast_outbox;
REVOKE CREATE ON SCHEMA public FROM queuecast_outbox;
REVOKE EXECUTE ON FUNCTION qc_claim_notifications(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qc_claim_notifications(integer, integer) TO queuecast_app;

-- Retention blanks recipients too: the outbox's copies of phones and addresses, and the
-- contacts, of tickets that finished more than p_days days ago; how many rows changed.
GRANT SELECT (id, ticket_id, recipient) ON notifications TO queuecast_retention;
GRANT UPDATE (recipient) ON notifications TO queuecast_retention;
GRANT SELECT (ticket_id), DELETE ON notify_contacts TO queuecast_retention;
-- Reads every row (its columns are only id, ticket_id and recipient): an updated row must
-- still be readable, and a blanked one has no recipient.
CREATE POLICY retention_read ON notifications FOR SELECT TO queuecast_retention USING (true);
CREATE POLICY retention_scrub ON notifications FOR UPDATE TO queuecast_retention
    USING (recipient IS NOT NULL) WITH CHECK (recipient IS NULL);
CREATE POLICY retention_read ON notify_contacts FOR SELECT TO queuecast_retention USING (true);
CREATE POLICY retention_scrub ON notify_contacts FOR DELETE TO queuecast_retention USING (true);
CREATE FUNCTION qc_blank_notifications(p_days integer, p_limit integer) RETURNS bigint
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
        SELECT n.id FROM notifications n JOIN tickets t ON t.id = n.ticket_id
        WHERE n.recipient IS NOT NULL AND t.finished_at < cutoff
        LIMIT p_limit FOR UPDATE OF n SKIP LOCKED)
    UPDATE notifications n SET recipient = NULL FROM batch WHERE n.id = batch.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    WITH batch AS (
        SELECT c.ticket_id FROM notify_contacts c JOIN tickets t ON t.id = c.ticket_id
        WHERE t.finished_at < cutoff LIMIT p_limit)
    DELETE FROM notify_contacts c USING batch WHERE c.ticket_id = batch.ticket_id;
    GET DIAGNOSTICS m = ROW_COUNT;
    RETURN n + m;
END $$;
GRANT CREATE ON SCHEMA public TO queuecast_retention;
ALTER FUNCTION qc_blank_notifications(integer, integer) OWNER TO queuecast_retention;
REVOKE CREATE ON SCHEMA public FROM queuecast_retention;
REVOKE EXECUTE ON FUNCTION qc_blank_notifications(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qc_blank_notifications(integer, integer) TO queuecast_app;

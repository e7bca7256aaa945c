-- Webhooks from an outbox.
--
-- Managers register endpoints (`webhooks`) per queue or tenant-wide, for chosen event kinds. The
-- writer inserts a row into `webhook_deliveries` for every matching event in the same transaction
-- that appends the event, so a committed event always has its deliveries and an uncommitted one
-- never does. Both tables follow 0002: `tenant_id`, FORCE RLS, the `tenant_isolation` policy.
--
-- The sender works across tenants, so it gets one narrow path: `qc_claim_deliveries`, run as the
-- dedicated role `queuecast_outbox`, which may read only what a request needs (the endpoint's
-- url and secret, the event) and may only set the lease of due deliveries. It claims with
-- FOR UPDATE SKIP LOCKED and a lease (`locked_until`), so several nodes share the outbox and a
-- node that dies mid-send only delays its claims until the lease runs out. The outcome of each
-- attempt is recorded in a transaction scoped to the delivery's tenant, like any other write.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'queuecast_outbox') THEN
        CREATE ROLE queuecast_outbox NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- created meanwhile by another database's migration
END $$;
GRANT queuecast_outbox TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO queuecast_outbox;

CREATE TABLE webhooks (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- Null: every queue of the tenant.
    queue_id       uuid,
    url            text NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
    events         text[] NOT NULL CHECK (cardinality(events) > 0),
    -- Kept in clear: the sender needs it to sign. It is shown once, when the endpoint is created.
    secret         text NOT NULL,
    -- Whether `ticket.ahead` notifications carry the customer's phone (for the tenant's own SMS
    -- gateway); off unless asked for.
    include_phone  boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id) ON DELETE CASCADE
);
-- The writer's lookup: a tenant's endpoints (few per tenant).
CREATE INDEX webhooks_tenant ON webhooks (tenant_id, queue_id);

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    webhook_id       uuid NOT NULL,
    queue_id         uuid NOT NULL,
    -- The queue event this delivery announces (for `ticket.ahead`: the queue's seq at the time).
    seq              bigint NOT NULL,
    kind             text NOT NULL,
    -- `ticket.ahead` only: the ticket, its position, and the body of the notification (events'
    -- bodies are read from `queue_events` when sent, so the write path stays small).
    ticket_id        uuid,
    position         integer,
    payload          jsonb,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- A sender's lease on the delivery: no other sender claims it before this.
    locked_until     timestamptz,
    last_status      integer,
    last_error       text,
    delivered_at     timestamptz,
    failed_at        timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, webhook_id) REFERENCES webhooks (tenant_id, id) ON DELETE CASCADE
);
-- What the sender claims: due and unfinished deliveries, oldest first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
-- The delivery log of an endpoint, newest first.
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, created_at DESC);
-- A ticket is told once per endpoint and position.
CREATE UNIQUE INDEX webhook_deliveries_ahead_once ON webhook_deliveries (webhook_id, ticket_id, position)
    WHERE kind = 'ticket.ahead';

GRANT SELECT, INSERT, UPDATE, DELETE ON webhooks, webhook_deliveries TO queuecast_app;
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['webhooks', 'webhook_deliveries']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO queuecast_app '
                       'USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant())', t);
    END LOOP;
END $$;

-- The outbox role reads what a request needs and sets leases, nothing else.
GRANT SELECT (id, tenant_id, url, secret) ON webhooks TO queuecast_outbox;
GRANT SELECT (id, tenant_id, webhook_id, queue_id, seq, kind, payload, attempts, next_attempt_at,
              locked_until, delivered_at, failed_at) ON webhook_deliveries TO queuecast_outbox;
GRANT UPDATE (locked_until) ON webhook_deliveries TO queuecast_outbox;
GRANT SELECT (queue_id, seq, kind, actor, data, at, from_state, to_state) ON queue_events TO queuecast_outbox;
CREATE POLICY outbox_send ON webhooks FOR SELECT TO queuecast_outbox USING (true);
CREATE POLICY outbox_send ON queue_events FOR SELECT TO queuecast_outbox USING (true);
CREATE POLICY outbox_claim ON webhook_deliveries FOR SELECT TO queuecast_outbox
    USING (delivered_at IS NULL AND failed_at IS NULL);
CREATE POLICY outbox_lease ON webhook_deliveries FOR UPDATE TO queuecast_outbox
    USING (delivered_at IS NULL AND failed_at IS NULL);

-- Claims up to `p_limit` due deliveries for `p_lease_ms` milliseconds: each with its tenant, the
-- endpoint's url and secret, and the body's parts (`event` is the queue event as the protocol
-- shows it, or the notification's payload).
CREATE FUNCTION qc_claim_deliveries(p_limit integer, p_lease_ms integer)
    RETURNS TABLE (id uuid, tenant_id uuid, url text, secret text, kind text, queue_id uuid, seq bigint,
                   attempts integer, event jsonb)
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    WITH due AS (
        SELECT d.id FROM webhook_deliveries d
        WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_attempt_at <= now()
          AND (d.locked_until IS NULL OR d.locked_until <= now())
        ORDER BY d.next_attempt_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE webhook_deliveries d SET locked_until = now() + make_interval(secs => p_lease_ms / 1000.0)
        FROM due WHERE d.id = due.id
        RETURNING d.id, d.tenant_id, d.webhook_id, d.queue_id, d.seq, d.kind, d.payload, d.attempts
    )
    SELECT c.id, c.tenant_id, w.url, w.secret, c.kind, c.queue_id, c.seq, c.attempts,
           COALESCE(c.payload, jsonb_strip_nulls(jsonb_build_object(
               'seq', e.seq, 'queue_id', e.queue_id, 'kind', e.kind, 'ticket', e.data->'ticket',
               'queue', e.data->'queue', 'actor', e.actor, 'at', e.at, 'from', e.from_state, 'to', e.to_state)))
    FROM claimed c
    JOIN webhooks w ON w.id = c.webhook_id
    LEFT JOIN queue_events e ON e.queue_id = c.queue_id AND e.seq = c.seq
    $$;

GRANT CREATE ON SCHEMA public TO queuecast_outbox;
ALTER FUNCTION qc_claim_deliveries(integer, integer) OWNER TO queuecast_outbox;
REVOKE CREATE ON SCHEMA public FROM queuecast_outbox;
REVOKE EXECUTE ON FUNCTION qc_claim_deliveries(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qc_claim_deliveries(integer, integer) TO queuecast_app;

-- Device keys: one revocable secret for a venue's device (a screen or a lobby tablet) that
-- covers up to 12 queues of its tenant. `display` keys open the display sockets of their
-- queues; `kiosk` keys issue tickets in their queues (`POST /api/v1/kiosk/tickets`). The keys
-- of `display_keys` (0001: one queue, a display) stay valid beside these.
--
-- Like every tenant table (0002): `tenant_id`, FORCE RLS, the `tenant_isolation` policy. A key
-- is found before its tenant is known through `qc_tenant_of_device_key`, run as
-- `queuecast_resolver`, which may read only the hash, the tenant and the revocation.

CREATE TABLE device_keys (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('display', 'kiosk')),
    -- In the order given: a display shows them side by side in this order. Each is a queue of
    -- the tenant when the key is made (an array cannot carry foreign keys; a queue deleted
    -- later is simply not opened).
    queue_ids     uuid[] NOT NULL CHECK (cardinality(queue_ids) BETWEEN 1 AND 12),
    -- SHA-256 of the key; the key itself is shown once.
    key_hash      bytea NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- When a device last used it (at most once a minute is written).
    last_seen_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX device_keys_live ON device_keys (tenant_id, created_at) WHERE revoked_at IS NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON device_keys TO queuecast_app;
ALTER TABLE device_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE device_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON device_keys TO queuecast_app
    USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());

GRANT SELECT (key_hash, tenant_id, revoked_at) ON device_keys TO queuecast_resolver;
CREATE POLICY resolver_lookup ON device_keys FOR SELECT TO queuecast_resolver USING (true);

CREATE FUNCTION qc_tenant_of_device_key(p_hash bytea) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT tenant_id FROM device_keys WHERE key_hash = p_hash AND revoked_at IS NULL $$;

GRANT CREATE ON SCHEMA public TO queuecast_resolver;
ALTER FUNCTION qc_tenant_of_device_key(bytea) OWNER TO queuecast_resolver;
REVOKE CREATE ON SCHEMA public FROM queuecast_resolver;
REVOKE EXECUTE ON FUNCTION qc_tenant_of_device_key(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qc_tenant_of_device_key(bytea) TO queuecast_app;

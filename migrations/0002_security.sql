-- Tenant isolation in the database.
--
-- The service runs every query as `queuecast_app` (it connects as the owner and `SET ROLE`s):
-- not the owner, not a superuser, no BYPASSRLS. Each transaction names its tenant with
-- `set_config('app.tenant_id', $1, true)`; every tenant table only shows and accepts that
-- tenant's rows, even to the owner (FORCE ROW LEVEL SECURITY).
--
-- A few public lookups must cross the boundary before the tenant is known (a queue's join page, a
-- ticket's token, a login by tenant slug, a bearer token). They go through the `qc_tenant_of_*`
-- functions below, which answer only "which tenant owns this", run as `queuecast_resolver`
-- (which can read just the id and tenant columns it needs), and nothing else.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'queuecast_app') THEN
        CREATE ROLE queuecast_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- created meanwhile by another database's migration
END $$;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'queuecast_resolver') THEN
        CREATE ROLE queuecast_resolver NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

-- The connecting (owner) role must be able to become the app role, and to hand functions to the
-- resolver role.
GRANT queuecast_app TO CURRENT_USER;
GRANT queuecast_resolver TO CURRENT_USER;

-- The tenant of the current transaction, or null when none was set (which matches no row).
CREATE FUNCTION app_tenant() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;

GRANT USAGE ON SCHEMA public TO queuecast_app, queuecast_resolver;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    tenants, locations, users, user_locations, staff_tokens, socket_passes, ticket_types,
    queues, display_keys, tickets, queue_events, idempotency_keys
    TO queuecast_app;

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants TO queuecast_app
    USING (id = app_tenant()) WITH CHECK (id = app_tenant());

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['locations', 'users', 'user_locations', 'staff_tokens', 'socket_passes',
                             'ticket_types', 'queues', 'display_keys', 'tickets', 'queue_events',
                             'idempotency_keys']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO queuecast_app '
                       'USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant())', t);
    END LOOP;
END $$;

-- The resolver sees every row of these tables, but only these columns.
GRANT SELECT (id, slug) ON tenants TO queuecast_resolver;
GRANT SELECT (id, tenant_id) ON queues TO queuecast_resolver;
GRANT SELECT (id, tenant_id) ON tickets TO queuecast_resolver;
GRANT SELECT (token_hash, tenant_id, expires_at) ON staff_tokens TO queuecast_resolver;
GRANT SELECT (pass_hash, tenant_id, expires_at, used_at) ON socket_passes TO queuecast_resolver;
GRANT SELECT (key_hash, tenant_id, revoked_at) ON display_keys TO queuecast_resolver;
CREATE POLICY resolver_lookup ON tenants FOR SELECT TO queuecast_resolver USING (true);
CREATE POLICY resolver_lookup ON queues FOR SELECT TO queuecast_resolver USING (true);
CREATE POLICY resolver_lookup ON tickets FOR SELECT TO queuecast_resolver USING (true);
CREATE POLICY resolver_lookup ON staff_tokens FOR SELECT TO queuecast_resolver USING (true);
CREATE POLICY resolver_lookup ON socket_passes FOR SELECT TO queuecast_resolver USING (true);
CREATE POLICY resolver_lookup ON display_keys FOR SELECT TO queuecast_resolver USING (true);

CREATE FUNCTION qc_tenant_by_slug(p_slug text) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT id FROM tenants WHERE slug = p_slug $$;
CREATE FUNCTION qc_tenant_of_queue(p_queue uuid) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT tenant_id FROM queues WHERE id = p_queue $$;
CREATE FUNCTION qc_tenant_of_ticket(p_ticket uuid) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT tenant_id FROM tickets WHERE id = p_ticket $$;
CREATE FUNCTION qc_tenant_of_staff_token(p_hash bytea) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT tenant_id FROM staff_tokens WHERE token_hash = p_hash AND expires_at > now() $$;
CREATE FUNCTION qc_tenant_of_socket_pass(p_hash bytea) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT tenant_id FROM socket_passes
          WHERE pass_hash = p_hash AND used_at IS NULL AND expires_at > now() $$;
CREATE FUNCTION qc_tenant_of_display_key(p_hash bytea) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT tenant_id FROM display_keys WHERE key_hash = p_hash AND revoked_at IS NULL $$;

-- Hand the functions to the resolver. Owning a function needs CREATE on its schema, so the
-- resolver holds it only for these statements.
GRANT CREATE ON SCHEMA public TO queuecast_resolver;
ALTER FUNCTION qc_tenant_by_slug(text) OWNER TO queuecast_resolver;
ALTER FUNCTION qc_tenant_of_queue(uuid) OWNER TO queuecast_resolver;
ALTER FUNCTION qc_tenant_of_ticket(uuid) OWNER TO queuecast_resolver;
ALTER FUNCTION qc_tenant_of_staff_token(bytea) OWNER TO queuecast_resolver;
ALTER FUNCTION qc_tenant_of_socket_pass(bytea) OWNER TO queuecast_resolver;
ALTER FUNCTION qc_tenant_of_display_key(bytea) OWNER TO queuecast_resolver;
REVOKE CREATE ON SCHEMA public FROM queuecast_resolver;

REVOKE EXECUTE ON FUNCTION qc_tenant_by_slug(text), qc_tenant_of_queue(uuid), qc_tenant_of_ticket(uuid),
    qc_tenant_of_staff_token(bytea), qc_tenant_of_socket_pass(bytea), qc_tenant_of_display_key(bytea)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qc_tenant_by_slug(text), qc_tenant_of_queue(uuid), qc_tenant_of_ticket(uuid),
    qc_tenant_of_staff_token(bytea), qc_tenant_of_socket_pass(bytea), qc_tenant_of_display_key(bytea)
    TO queuecast_app;

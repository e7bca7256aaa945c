-- Purging what has expired (idempotency records, staff tokens, socket passes) crosses tenants,
-- so it goes through one narrow function run as `queuecast_resolver`, whose policies let it
-- delete only rows that have already expired.

GRANT SELECT (expires_at) ON idempotency_keys TO queuecast_resolver;
GRANT DELETE ON idempotency_keys, staff_tokens, socket_passes TO queuecast_resolver;
CREATE POLICY resolver_lookup ON idempotency_keys FOR SELECT TO queuecast_resolver USING (true);
CREATE POLICY resolver_purge ON idempotency_keys FOR DELETE TO queuecast_resolver USING (expires_at <= now());
CREATE POLICY resolver_purge ON staff_tokens FOR DELETE TO queuecast_resolver USING (expires_at <= now());
CREATE POLICY resolver_purge ON socket_passes FOR DELETE TO queuecast_resolver USING (expires_at <= now());

CREATE FUNCTION qc_purge_expired() RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    n bigint;
    total bigint := 0;
BEGIN
    DELETE FROM idempotency_keys WHERE expires_at <= now();
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    DELETE FROM staff_tokens WHERE expires_at <= now();
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    DELETE FROM socket_passes WHERE expires_at <= now();
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN total + n;
END $$;

GRANT CREATE ON SCHEMA public TO queuecast_resolver;
ALTER FUNCTION qc_purge_expired() OWNER TO queuecast_resolver;
REVOKE CREATE ON SCHEMA public FROM queuecast_resolver;
REVOKE EXECUTE ON FUNCTION qc_purge_expired() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qc_purge_expired() TO queuecast_app;

-- A retried join finds its committed key in one round trip, with no transaction to open and no
-- tenant to set: a function that answers only for the tenant and key hash it is given (the
-- caller knows both: the queue names its tenant, the client sent the key), run as the resolver,
-- which may read just these columns.
GRANT SELECT (tenant_id, key_hash, request_hash, ticket_id, token_sealed, expires_at) ON idempotency_keys
    TO queuecast_resolver;

CREATE FUNCTION qc_idempotency_record(p_tenant uuid, p_key_hash bytea)
    RETURNS TABLE (request_hash bytea, ticket_id uuid, token_sealed bytea)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT k.request_hash, k.ticket_id, k.token_sealed FROM idempotency_keys k
          WHERE k.tenant_id = p_tenant AND k.key_hash = p_key_hash AND k.expires_at > now() $$;

GRANT CREATE ON SCHEMA public TO queuecast_resolver;
ALTER FUNCTION qc_idempotency_record(uuid, bytea) OWNER TO queuecast_resolver;
REVOKE CREATE ON SCHEMA public FROM queuecast_resolver;
REVOKE EXECUTE ON FUNCTION qc_idempotency_record(uuid, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qc_idempotency_record(uuid, bytea) TO queuecast_app;

-- Joins retried with their keys, looked up together: a crowd's keyed joins each opened a call of
-- `qc_idempotency_record` (a round trip, a transaction and the function's setting of its search
-- path), which took about two fifths of what a keyed join cost (BENCHMARKS.md). This answers
-- for many (tenant, key hash) pairs at once: for each pair, the one record by its whole key
-- (`OFFSET 0` keeps each lookup a lookup by the primary key, whatever the plan), the same answer
-- as `qc_idempotency_record` gave for it alone. Run as the resolver, like that function, which
-- nothing calls any more and goes (a definer's function is a door: none is left open unused).
CREATE FUNCTION qc_idempotency_records(p_tenants uuid[], p_key_hashes bytea[])
    RETURNS TABLE (r_tenant uuid, r_key_hash bytea, r_request_hash bytea, r_ticket_id uuid, r_token_sealed bytea)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ BEGIN
        RETURN QUERY SELECT w.t, w.h, k.request_hash, k.ticket_id, k.token_sealed
            FROM unnest(p_tenants, p_key_hashes) AS w(t, h)
            CROSS JOIN LATERAL (
                SELECT i.request_hash, i.ticket_id, i.token_sealed FROM idempotency_keys i
                 WHERE i.tenant_id = w.t AND i.key_hash = w.h AND i.expires_at > now() OFFSET 0
            ) k;
    END $$;

GRANT CREATE ON SCHEMA public TO queuecast_resolver;
ALTER FUNCTION qc_idempotency_records(uuid[], bytea[]) OWNER TO queuecast_resolver;
REVOKE CREATE ON SCHEMA public FROM queuecast_resolver;
REVOKE EXECUTE ON FUNCTION qc_idempotency_records(uuid[], bytea[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qc_idempotency_records(uuid[], bytea[]) TO queuecast_app;

DROP FUNCTION qc_idempotency_record(uuid, bytea);

-- The safety net of the live fan-out compares each live hub with its queue's `last_seq`, for all
-- tenants at once, through this one function (run as `queuecast_resolver`, which may read only
-- queue ids, tenants and seqs).

GRANT SELECT (last_seq) ON queues TO queuecast_resolver;

CREATE FUNCTION qc_last_seqs(p_queues uuid[]) RETURNS TABLE (id uuid, last_seq bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT id, last_seq FROM queues WHERE id = ANY(p_queues) $$;

GRANT CREATE ON SCHEMA public TO queuecast_resolver;
ALTER FUNCTION qc_last_seqs(uuid[]) OWNER TO queuecast_resolver;
REVOKE CREATE ON SCHEMA public FROM queuecast_resolver;
REVOKE EXECUTE ON FUNCTION qc_last_seqs(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qc_last_seqs(uuid[]) TO queuecast_app;

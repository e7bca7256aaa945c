-- Committed keys looked up by their whole key, whatever the table's statistics say.
--
-- `qc_idempotency_records` (0069) asked for a live record in the lookup itself
-- (`expires_at > now()` beside the key), so the planner could read it from the index on expiry
-- instead of the primary key. A connection keeps a PL/pgSQL statement's plan until the table's
-- statistics change; one made while the table held a handful of keys estimated a handful live,
-- and once a ticket drop had written 20,000 it read all 20,000 for every lookup: twice in a
-- keyed join and its replay, caught by `replays::a_keyed_join_looks_its_key_up_by_key…` when the
-- machine was busy (its plan, by `auto_explain`: a bitmap scan of `idempotency_keys_expiry`,
-- estimated 8 rows, 20,008 read). Now, as the writer's own lookup does: the record is found by
-- its key alone, behind `OFFSET 0` (no condition is pushed into it), and whether it is live is
-- read from the row found; sequential and bitmap scans are off while the function runs, so a
-- plan made on a short table is the same lookup by key. Same signature, answers and owner.

CREATE OR REPLACE FUNCTION qc_idempotency_records(p_tenants uuid[], p_key_hashes bytea[])
    RETURNS TABLE (r_tenant uuid, r_key_hash bytea, r_request_hash bytea, r_ticket_id uuid, r_token_sealed bytea)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    SET enable_seqscan = off SET enable_bitmapscan = off
    AS $$ BEGIN
        RETURN QUERY SELECT w.t, w.h, k.request_hash, k.ticket_id, k.token_sealed
            FROM unnest(p_tenants, p_key_hashes) AS w(t, h)
            CROSS JOIN LATERAL (
                SELECT i.request_hash, i.ticket_id, i.token_sealed, i.expires_at FROM idempotency_keys i
                 WHERE i.tenant_id = w.t AND i.key_hash = w.h OFFSET 0
            ) k
            WHERE k.expires_at > now();
    END $$;

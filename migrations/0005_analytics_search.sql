-- Analytics, staff search, retention and soft-deleted queues.
--
-- Search. Row-level security keeps a query from evaluating a non-leakproof condition (LIKE,
-- ILIKE, pg_trgm's `%`) before the policy's, so under the app role none of these can use an
-- index: every search would read all of a tenant's tickets. So the search goes through one
-- narrow function, `qc_find_tickets`, run as `queuecast_finder`, which reads just the columns a
-- search needs, filters on the caller's tenant (`app_tenant()`) itself, and answers only ids.
-- The service then reads those tickets as `queuecast_app`, under RLS as always: even a wrong id
-- from the function could not show another tenant's ticket.
--
-- Retention. Blanking the names, phones and fields of tickets that finished long ago crosses
-- tenants, so it goes through `qc_anonymise_finished`, run as `queuecast_retention`, whose
-- policies let it change only finished tickets, and only to blank them.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'queuecast_finder') THEN
        CREATE ROLE queuecast_finder NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- created meanwhile by another database's migration
END $$;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'queuecast_retention') THEN
        CREATE ROLE queuecast_retention NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
GRANT queuecast_finder TO CURRENT_USER;
GRANT queuecast_retention TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO queuecast_finder, queuecast_retention;

-- Soft deletion: a deleted queue leaves lists, joins and changes, and keeps its history.
ALTER TABLE queues ADD COLUMN deleted_at timestamptz;
-- A deleted queue's slug is free again.
ALTER TABLE queues DROP CONSTRAINT queues_tenant_id_slug_key;
CREATE UNIQUE INDEX queues_live_slug ON queues (tenant_id, slug) WHERE deleted_at IS NULL;

-- When a ticket's personal data was blanked by retention.
ALTER TABLE tickets ADD COLUMN anonymised_at timestamptz;

-- Analytics read a queue's tickets by day of joining: `tickets_joined (queue_id, joined_at)`
-- from 0001 is the index they use.

-- Search: by display number (prefix), phone (suffix of its digits), name (trigrams).
CREATE INDEX tickets_number ON tickets (tenant_id, number text_pattern_ops);
CREATE INDEX tickets_phone_digits ON tickets
    (tenant_id, (reverse(regexp_replace(customer_phone, '[^0-9]', '', 'g'))) text_pattern_ops)
    WHERE customer_phone IS NOT NULL;
CREATE INDEX tickets_name_trgm ON tickets USING gin (customer_name gin_trgm_ops)
    WHERE customer_name IS NOT NULL;

-- Retention: finished tickets not yet blanked, oldest first; events that still carry a name or
-- fields (scrubbed events leave this index).
CREATE INDEX tickets_to_anonymise ON tickets (finished_at)
    WHERE finished_at IS NOT NULL AND anonymised_at IS NULL;
CREATE INDEX queue_events_personal ON queue_events (at)
    WHERE (data->'ticket'->>'name') IS NOT NULL OR (data->'ticket'->'fields') <> '{}'::jsonb;

GRANT SELECT (id, tenant_id, queue_id, number, customer_name, customer_phone, joined_at) ON tickets
    TO queuecast_finder;
GRANT SELECT (id, tenant_id, location_id) ON queues TO queuecast_finder;
CREATE POLICY finder_search ON tickets FOR SELECT TO queuecast_finder USING (true);
CREATE POLICY finder_search ON queues FOR SELECT TO queuecast_finder USING (true);

-- The ids of the current tenant's tickets that match, newest first, at most p_limit:
-- p_kind 'number' (p_q an upper-case display number or its start), 'digits' (p_q digits: the
-- end of a phone number, or the start of a display number without prefix), 'name' (names that
-- contain p_q; when those are fewer than p_limit, then names similar to it, for typos).
-- Optionally one queue, or the queues of some locations.
CREATE FUNCTION qc_find_tickets(p_kind text, p_q text, p_queue uuid, p_locations uuid[], p_limit integer)
    RETURNS SETOF uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    tenant uuid := app_tenant();
    pattern text := replace(replace(replace(p_q, '\', '\\'), '%', '\%'), '_', '\_');
    base text := 'SELECT id FROM tickets WHERE tenant_id = $1'
        ' AND ($6::uuid IS NULL OR queue_id = $6)'
        ' AND ($7::uuid[] IS NULL OR queue_id IN (SELECT id FROM queues WHERE tenant_id = $1 AND location_id = ANY($7)))'
        ' AND ';
    tail text := ' ORDER BY joined_at DESC LIMIT $8';
    cond text;
    n bigint;
BEGIN
    IF tenant IS NULL OR p_q IS NULL OR p_q = '' OR p_limit < 1 THEN
        RETURN;
    END IF;
    cond := CASE p_kind
        WHEN 'number' THEN 'number LIKE $2'
        WHEN 'digits' THEN '(number LIKE $2 OR (customer_phone IS NOT NULL AND '
                           'reverse(regexp_replace(customer_phone, ''[^0-9]'', '''', ''g'')) LIKE $3))'
        WHEN 'name' THEN 'customer_name ILIKE $4'
    END;
    IF cond IS NULL THEN
        RAISE EXCEPTION 'unknown search kind %', p_kind;
    END IF;
    -- Dynamic, so each search is planned with its own pattern (a LIKE uses an index only when
    -- the planner sees the pattern).
    RETURN QUERY EXECUTE base || cond || tail
        USING tenant, pattern || '%', reverse(pattern) || '%', '%' || pattern || '%', p_q,
              p_queue, p_locations, p_limit;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF p_kind = 'name' AND n < p_limit THEN
        RETURN QUERY EXECUTE base || 'customer_name % $5 AND customer_name NOT ILIKE $4' || tail
            USING tenant, NULL::text, NULL::text, '%' || pattern || '%', p_q,
                  p_queue, p_locations, (p_limit - n)::integer;
    END IF;
END $$;

-- Retention's rights: read when tickets finished, and blank them; read events, and blank the
-- ticket copies in them.
GRANT SELECT (id, finished_at, anonymised_at) ON tickets TO queuecast_retention;
GRANT UPDATE (customer_name, customer_phone, fields, anonymised_at) ON tickets TO queuecast_retention;
GRANT SELECT (queue_id, seq, ticket_id, at, data) ON queue_events TO queuecast_retention;
GRANT UPDATE (data) ON queue_events TO queuecast_retention;
CREATE POLICY retention_read ON tickets FOR SELECT TO queuecast_retention USING (finished_at IS NOT NULL);
CREATE POLICY retention_scrub ON tickets FOR UPDATE TO queuecast_retention
    USING (finished_at < now())
    WITH CHECK (customer_name IS NULL AND customer_phone IS NULL AND fields = '{}'::jsonb);
CREATE POLICY retention_read ON queue_events FOR SELECT TO queuecast_retention USING (ticket_id IS NOT NULL);
CREATE POLICY retention_scrub ON queue_events FOR UPDATE TO queuecast_retention
    USING (ticket_id IS NOT NULL)
    WITH CHECK ((data->'ticket'->>'name') IS NULL AND (data->'ticket'->'fields') = '{}'::jsonb);

-- Blanks the name, phone and fields of at most p_limit tickets that finished more than p_days
-- days ago, then of as many of their events' copies; how many rows changed (0: nothing left).
-- Counts, states and times stay, so statistics do not change.
CREATE FUNCTION qc_anonymise_finished(p_days integer, p_limit integer) RETURNS bigint
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
        SELECT id FROM tickets
        WHERE finished_at IS NOT NULL AND anonymised_at IS NULL AND finished_at < cutoff
        ORDER BY finished_at LIMIT p_limit FOR UPDATE SKIP LOCKED)
    UPDATE tickets t SET customer_name = NULL, customer_phone = NULL, fields = '{}', anonymised_at = now()
    FROM batch WHERE t.id = batch.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    -- A ticket's events all happened before it finished, so they are older than the cutoff too.
    WITH batch AS (
        SELECT e.queue_id, e.seq FROM queue_events e JOIN tickets t ON t.id = e.ticket_id
        WHERE ((e.data->'ticket'->>'name') IS NOT NULL OR (e.data->'ticket'->'fields') <> '{}'::jsonb)
          AND e.at < cutoff AND t.anonymised_at IS NOT NULL
        ORDER BY e.at LIMIT p_limit * 4)
    UPDATE queue_events e
    SET data = jsonb_set(jsonb_set(e.data, '{ticket,name}', 'null'), '{ticket,fields}', '{}')
    FROM batch WHERE e.queue_id = batch.queue_id AND e.seq = batch.seq;
    GET DIAGNOSTICS m = ROW_COUNT;
    RETURN n + m;
END $$;

GRANT CREATE ON SCHEMA public TO queuecast_finder, queuecast_retention;
ALTER FUNCTION qc_find_tickets(text, text, uuid, uuid[], integer) OWNER TO queuecast_finder;
ALTER FUNCTION qc_anonymise_finished(integer, integer) OWNER TO queuecast_retention;
REVOKE CREATE ON SCHEMA public FROM queuecast_finder, queuecast_retention;
REVOKE EXECUTE ON FUNCTION qc_find_tickets(text, text, uuid, uuid[], integer),
    qc_anonymise_finished(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qc_find_tickets(text, text, uuid, uuid[], integer),
    qc_anonymise_finished(integer, integer) TO queuecast_app;

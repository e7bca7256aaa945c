-- Room inside the line. A ticket entering at the end still takes the place of the event that put
-- it there, now `seq << 16`: the 65,535 values between two events' places are free for a ticket
-- placed inside the line (a checked-in appointment goes ahead of walk-ins who came after its
-- time). The line's buckets (migration 0009) keep counting the places of 1,024 events each:
-- `line_seq >> 26`.
CREATE OR REPLACE FUNCTION qc_line_counts() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT 1 FROM new_rows WHERE in_line) THEN RETURN NULL; END IF;
        INSERT INTO line_counts AS c (tenant_id, queue_id, priority, bucket, waiting)
        SELECT tenant_id, queue_id, priority, line_seq >> 26, count(*)
        FROM new_rows WHERE in_line GROUP BY 1, 2, 3, 4
        ON CONFLICT (queue_id, priority, bucket) DO UPDATE SET waiting = c.waiting + EXCLUDED.waiting;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NOT EXISTS (SELECT 1 FROM old_rows WHERE in_line) AND NOT EXISTS (SELECT 1 FROM new_rows WHERE in_line) THEN
            RETURN NULL;
        END IF;
        INSERT INTO line_counts AS c (tenant_id, queue_id, priority, bucket, waiting)
        SELECT tenant_id, queue_id, priority, bucket, sum(n)
        FROM (SELECT tenant_id, queue_id, priority, line_seq >> 26 AS bucket, -1 AS n FROM old_rows WHERE in_line
              UNION ALL
              SELECT tenant_id, queue_id, priority, line_seq >> 26, 1 FROM new_rows WHERE in_line) d
        GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0
        ON CONFLICT (queue_id, priority, bucket) DO UPDATE SET waiting = c.waiting + EXCLUDED.waiting;
    ELSE
        IF NOT EXISTS (SELECT 1 FROM old_rows WHERE in_line) THEN RETURN NULL; END IF;
        UPDATE line_counts c SET waiting = c.waiting - d.n
        FROM (SELECT queue_id, priority, line_seq >> 26 AS bucket, count(*) AS n
              FROM old_rows WHERE in_line GROUP BY 1, 2, 3) d
        WHERE c.queue_id = d.queue_id AND c.priority = d.priority AND c.bucket = d.bucket;
    END IF;
    RETURN NULL;
END $$;

-- Every ticket's place moves to the new scale (finished ones too: a requeue restores a place),
-- and the buckets are counted again. Row-level security is lifted for this, in this transaction
-- only, as in migration 0009.
ALTER TABLE tickets NO FORCE ROW LEVEL SECURITY;
ALTER TABLE line_counts NO FORCE ROW LEVEL SECURITY;
ALTER TABLE tickets DISABLE TRIGGER tickets_line_counts_update;
UPDATE tickets SET line_seq = line_seq << 16;
ALTER TABLE tickets ENABLE TRIGGER tickets_line_counts_update;
DELETE FROM line_counts;
INSERT INTO line_counts (tenant_id, queue_id, priority, bucket, waiting)
SELECT tenant_id, queue_id, priority, line_seq >> 26, count(*) FROM tickets WHERE in_line GROUP BY 1, 2, 3, 4;
ALTER TABLE tickets FORCE ROW LEVEL SECURITY;
ALTER TABLE line_counts FORCE ROW LEVEL SECURITY;

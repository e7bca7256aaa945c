-- How many wait in each stretch of a line, so a ticket's place is found without counting the line.
--
-- A place is the number of tickets in line ahead of it, plus one. Counting them reads an index
-- entry per ticket ahead (~300 ms for the last of 500,000: BENCHMARKS.md). Here the line is cut
-- into buckets of 1,024 consecutive `line_seq`s per priority, each with its count, kept by
-- statement-level triggers on `tickets` (one upsert per statement, whatever its size: a batch of
-- a thousand joins costs one). A place is then the counts of the buckets ahead (a few hundred rows
-- at 500,000 in line) plus a count inside the ticket's own bucket (at most 1,024 index entries).
-- A node that holds the queue's live line answers from it instead (O(log n)).
CREATE TABLE line_counts (
    tenant_id  uuid NOT NULL,
    queue_id   uuid NOT NULL,
    priority   smallint NOT NULL,
    -- line_seq >> 10
    bucket     bigint NOT NULL,
    waiting    integer NOT NULL,
    PRIMARY KEY (queue_id, priority, bucket),
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id) ON DELETE CASCADE
);

GRANT SELECT, INSERT, UPDATE, DELETE ON line_counts TO queuecast_app;
ALTER TABLE line_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE line_counts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON line_counts TO queuecast_app
    USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());

-- The change a statement made to the line: -1 for each row that was in line, +1 for each that is,
-- summed per bucket. Runs as the statement's role; statements that touch no ticket in line (the
-- retention role blanking finished tickets, say) return at once, needing no right on this table.
CREATE FUNCTION qc_line_counts() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT 1 FROM new_rows WHERE in_line) THEN RETURN NULL; END IF;
        INSERT INTO line_counts AS c (tenant_id, queue_id, priority, bucket, waiting)
        SELECT tenant_id, queue_id, priority, line_seq >> 10, count(*)
        FROM new_rows WHERE in_line GROUP BY 1, 2, 3, 4
        ON CONFLICT (queue_id, priority, bucket) DO UPDATE SET waiting = c.waiting + EXCLUDED.waiting;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NOT EXISTS (SELECT 1 FROM old_rows WHERE in_line) AND NOT EXISTS (SELECT 1 FROM new_rows WHERE in_line) THEN
            RETURN NULL;
        END IF;
        INSERT INTO line_counts AS c (tenant_id, queue_id, priority, bucket, waiting)
        SELECT tenant_id, queue_id, priority, bucket, sum(n)
        FROM (SELECT tenant_id, queue_id, priority, line_seq >> 10 AS bucket, -1 AS n FROM old_rows WHERE in_line
              UNION ALL
              SELECT tenant_id, queue_id, priority, line_seq >> 10, 1 FROM new_rows WHERE in_line) d
        GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0
        ON CONFLICT (queue_id, priority, bucket) DO UPDATE SET waiting = c.waiting + EXCLUDED.waiting;
    ELSE
        IF NOT EXISTS (SELECT 1 FROM old_rows WHERE in_line) THEN RETURN NULL; END IF;
        UPDATE line_counts c SET waiting = c.waiting - d.n
        FROM (SELECT queue_id, priority, line_seq >> 10 AS bucket, count(*) AS n
              FROM old_rows WHERE in_line GROUP BY 1, 2, 3) d
        WHERE c.queue_id = d.queue_id AND c.priority = d.priority AND c.bucket = d.bucket;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER tickets_line_counts_insert AFTER INSERT ON tickets
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION qc_line_counts();
CREATE TRIGGER tickets_line_counts_update AFTER UPDATE ON tickets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION qc_line_counts();
CREATE TRIGGER tickets_line_counts_delete AFTER DELETE ON tickets
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION qc_line_counts();

-- The lines as they are now. Row-level security is forced on both tables, even for their owner
-- running this: lifted for the count, in this transaction only.
ALTER TABLE tickets NO FORCE ROW LEVEL SECURITY;
ALTER TABLE line_counts NO FORCE ROW LEVEL SECURITY;
INSERT INTO line_counts (tenant_id, queue_id, priority, bucket, waiting)
SELECT tenant_id, queue_id, priority, line_seq >> 10, count(*) FROM tickets WHERE in_line GROUP BY 1, 2, 3, 4;
ALTER TABLE tickets FORCE ROW LEVEL SECURITY;
ALTER TABLE line_counts FORCE ROW LEVEL SECURITY;

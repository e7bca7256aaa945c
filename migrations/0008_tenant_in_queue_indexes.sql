-- The per-queue indexes of the hot path also hold tenant_id, so row-level security's condition
-- (tenant_id = the session's tenant) is checked inside the same ordered index scan.
--
-- Why: since 0005, tickets_number (tenant_id, number) leads with tenant_id. While a tenant's
-- statistics were stale (a new tenant, a flash crowd: ANALYZE had not yet seen its tickets), the
-- planner answered the RLS condition with it and ANDed the bitmap with the line's, reading an
-- index entry for every ticket the tenant ever had on every call-next and every pace read
-- (37,130 entries, 1.8 ms, where the ordered line scan takes 0.17 ms). Durable joins+calls over
-- 100 queues fell from ~7,900/s to ~2,900/s (BENCHMARKS.md, scenario 4).
DROP INDEX tickets_line;
CREATE INDEX tickets_line ON tickets (queue_id, priority DESC, line_seq, tenant_id) WHERE in_line;
DROP INDEX tickets_active;
CREATE INDEX tickets_active ON tickets (queue_id, called_at, tenant_id) WHERE NOT in_line AND finished_at IS NULL;
DROP INDEX tickets_calls;
CREATE INDEX tickets_calls ON tickets (queue_id, called_at DESC, tenant_id) WHERE called_at IS NOT NULL;

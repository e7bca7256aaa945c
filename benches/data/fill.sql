-- The data set of BENCHMARKS.md "Reports and the finder": run after `queuecast migrate` and
-- `queuecast admin create-tenant` (acme, beta) + `create-queue` (main in each).
-- 1,000,000 past tickets in acme's queue `main` over 365 days, 100,000 in beta's.
\timing on
CREATE TEMP TABLE firsts AS SELECT unnest(ARRAY['Maria','John','Ana','Peter','Olga','Luis','Fatima','Chen','Aisha','Tom','Sofia','Ivan','Lena','Omar','Yuki','Carlos','Emma','Noah','Mia','Lucas']) AS f, generate_series(1,20) AS i;
CREATE TEMP TABLE lasts AS SELECT unnest(ARRAY['Smith','Garcia','Muller','Rossi','Kowalski','Nguyen','Silva','Petrov','Jensen','Dubois','Tanaka','Okafor','Haddad','Novak','Schmidt','Costa','Moreau','Lopez','Berg','Ivanova','Kim','Singh','Khan','Park','Fischer']) AS l, generate_series(1,25) AS i;
WITH q AS (SELECT q.id, q.tenant_id, q.ticket_type_id, n, t.slug FROM queues q JOIN tenants t ON t.id = q.tenant_id
           CROSS JOIN LATERAL (SELECT CASE WHEN t.slug = 'acme' THEN 1000000 ELSE 100000 END) AS c(n)),
g AS (SELECT q.*, s, now() - interval '365 days' + (s::float8 / q.n) * interval '365 days' AS joined,
             random() AS r, (random()*1500)::int AS wait, (random()*600)::int AS svc, (random()*1200)::int AS est
      FROM q, generate_series(1, q.n) s)
INSERT INTO tickets (id, tenant_id, queue_id, ticket_type_id, number, status, in_line, line_seq, counter,
                     customer_name, customer_phone, fields, token_hash, joined_at, called_at, served_at, finished_at,
                     estimated_wait_seconds, actual_wait_seconds)
SELECT gen_random_uuid(), tenant_id, id, ticket_type_id, 'A' || lpad(s::text, greatest(3, length(s::text)), '0'),
       CASE WHEN r < 0.80 THEN 'completed' WHEN r < 0.88 THEN 'no_show' ELSE 'cancelled' END, false, s, '1',
       CASE WHEN r < 0.9 THEN (SELECT f FROM firsts WHERE i = 1 + (s % 20)) || ' ' || (SELECT l FROM lasts WHERE i = 1 + ((s / 20) % 25)) END,
       CASE WHEN r < 0.7 THEN '+1 555 ' || lpad(((s::bigint * 7919) % 10000000)::text, 7, '0') END,
       '{}', sha256(s::text::bytea), joined,
       CASE WHEN r < 0.94 THEN joined + wait * interval '1 second' END,
       CASE WHEN r < 0.80 THEN joined + (wait + 30) * interval '1 second' END,
       CASE WHEN r < 0.88 THEN joined + (wait + 30 + svc) * interval '1 second' ELSE joined + 60 * interval '1 second' END,
       est, CASE WHEN r < 0.94 THEN wait END
FROM g;
UPDATE queues q SET last_seq = (SELECT count(*) FROM tickets t WHERE t.queue_id = q.id),
                    next_number = (SELECT count(*) + 1 FROM tickets t WHERE t.queue_id = q.id);
VACUUM ANALYZE tickets;
VACUUM ANALYZE queues;
SELECT pg_size_pretty(pg_total_relation_size('tickets')) AS tickets_size;

-- Each statement reads its tenant once. The tenant policies compared every row with
-- `app_tenant()`, which parses the `app.tenant_id` setting into a uuid: a stable function, so
-- PostgreSQL evaluated it again for each row a query read or wrote (a ticket's place counts up to
-- 1,024 rows of its line: uuid_in and strtoull were 5% of PostgreSQL's CPU in perf during reads).
-- As `(SELECT app_tenant())` it is an InitPlan, evaluated once per statement and usable as an
-- index condition. Which rows a policy admits does not change: the setting cannot change within a
-- statement. Policies added later should be written the same way.
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_policies
             WHERE schemaname = current_schema() AND policyname = 'tenant_isolation'
               AND qual = '(tenant_id = app_tenant())' AND with_check = '(tenant_id = app_tenant())'
    LOOP
        EXECUTE format('ALTER POLICY tenant_isolation ON %I '
                       'USING (tenant_id = (SELECT app_tenant())) WITH CHECK (tenant_id = (SELECT app_tenant()))', t);
    END LOOP;
END $$;
ALTER POLICY tenant_isolation ON tenants USING (id = (SELECT app_tenant())) WITH CHECK (id = (SELECT app_tenant()));

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = current_schema() AND policyname = 'tenant_isolation'
               AND (qual NOT LIKE '%SELECT app_tenant()%' OR with_check NOT LIKE '%SELECT app_tenant()%')) THEN
        RAISE EXCEPTION 'a tenant_isolation policy still compares rows with app_tenant() directly';
    END IF;
END $$;

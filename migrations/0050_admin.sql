-- Running Queuecast for an organisation: the audit trail, one-time password reset codes, and
-- sign-ins that can be ended one by one.
--
-- The audit log is append-only for the service: `queuecast_app` may read and add rows of its own
-- tenant, never change or remove one (no UPDATE, DELETE or TRUNCATE grant; the startup check
-- refuses a deployment that grants them). Rows go in the transaction of the change they record.

CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    -- `staff:<user id>`, `system`, or `anonymous` (a failed sign-in).
    actor       text NOT NULL,
    -- `user.created`, `queue.updated`, `auth.login_failed`, …
    action      text NOT NULL,
    -- `user`, `queue`, `location`, `display_key`, `ticket_type`, `webhook`, `session`
    entity      text NOT NULL,
    entity_id   text,
    -- What the entity was and became, without secrets (no hashes, keys, codes or passwords).
    before      jsonb,
    after       jsonb,
    ip          text,
    user_agent  text CHECK (length(user_agent) <= 512)
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log TO queuecast_app
    USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
GRANT SELECT, INSERT ON audit_log TO queuecast_app;

-- A password reset an admin issued: the code is shown once to the admin (stored as SHA-256),
-- works once, for a day.
CREATE TABLE password_resets (
    code_hash   bytea PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    user_id     uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
ALTER TABLE password_resets ENABLE ROW LEVEL SECURITY;
ALTER TABLE password_resets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON password_resets TO queuecast_app
    USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON password_resets TO queuecast_app;

-- A socket pass remembers the sign-in it was made with, so ending that sign-in (sign out, a
-- password change elsewhere) ends the sockets it opened.
ALTER TABLE socket_passes ADD COLUMN token_hash bytea;

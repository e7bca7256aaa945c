-- The resolver's lookups keep their plans. A `LANGUAGE sql` function that cannot be inlined (a
-- SECURITY DEFINER one never is) is parsed, analysed and planned again in every statement that
-- calls it, before PostgreSQL 18: during a storm of retried joins a quarter of PostgreSQL's CPU
-- went to planning `qc_idempotency_record`'s one-line query (perf, BENCHMARKS.md), about six
-- times what running it cost. PL/pgSQL prepares a function's queries once per connection and
-- reuses the plan. Same signatures, owner and grants (`CREATE OR REPLACE` keeps them), same
-- answers: these only say which tenant owns a thing, or a committed idempotency key's record.

CREATE OR REPLACE FUNCTION qc_idempotency_record(p_tenant uuid, p_key_hash bytea)
    RETURNS TABLE (request_hash bytea, ticket_id uuid, token_sealed bytea)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ BEGIN
        RETURN QUERY SELECT k.request_hash, k.ticket_id, k.token_sealed FROM idempotency_keys k
            WHERE k.tenant_id = p_tenant AND k.key_hash = p_key_hash AND k.expires_at > now();
    END $$;

CREATE OR REPLACE FUNCTION qc_tenant_by_slug(p_slug text) RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ BEGIN RETURN (SELECT id FROM tenants WHERE slug = p_slug); END $$;

CREATE OR REPLACE FUNCTION qc_tenant_of_queue(p_queue uuid) RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ BEGIN RETURN (SELECT tenant_id FROM queues WHERE id = p_queue); END $$;

CREATE OR REPLACE FUNCTION qc_tenant_of_ticket(p_ticket uuid) RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ BEGIN RETURN (SELECT tenant_id FROM tickets WHERE id = p_ticket); END $$;

CREATE OR REPLACE FUNCTION qc_tenant_of_staff_token(p_hash bytea) RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ BEGIN
        RETURN (SELECT tenant_id FROM staff_tokens WHERE token_hash = p_hash AND expires_at > now());
    END $$;

CREATE OR REPLACE FUNCTION qc_tenant_of_socket_pass(p_hash bytea) RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ BEGIN
        RETURN (SELECT tenant_id FROM socket_passes
                WHERE pass_hash = p_hash AND used_at IS NULL AND expires_at > now());
    END $$;

CREATE OR REPLACE FUNCTION qc_tenant_of_display_key(p_hash bytea) RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ BEGIN
        RETURN (SELECT tenant_id FROM display_keys WHERE key_hash = p_hash AND revoked_at IS NULL);
    END $$;

CREATE OR REPLACE FUNCTION qc_tenant_of_device_key(p_hash bytea) RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ BEGIN
        RETURN (SELECT tenant_id FROM device_keys WHERE key_hash = p_hash AND revoked_at IS NULL);
    END $$;

CREATE OR REPLACE FUNCTION qc_tenant_of_appointment(p_id uuid) RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ BEGIN RETURN (SELECT tenant_id FROM appointments WHERE id = p_id); END $$;

CREATE OR REPLACE FUNCTION qc_tenant_of_notification(p_id uuid) RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ BEGIN RETURN (SELECT tenant_id FROM notifications WHERE id = p_id); END $$;

-- Appointments: a booked time in a queue, kept until the customer checks in (then it has a
-- ticket in the live line), cancels, or misses it. Every change to one is an event in its
-- queue's numbered log (`appointment.booked`, …), made by the writer under the queue's row lock,
-- so the count of bookings in a slot is read and raised by one writer at a time across nodes:
-- `per_slot` holds however many book the last place at once.
CREATE TABLE appointments (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL,
    queue_id        uuid NOT NULL,
    start_at        timestamptz NOT NULL,
    end_at          timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'booked'
                    CHECK (status IN ('booked', 'checked_in', 'cancelled', 'missed')),
    customer_name   text NOT NULL,
    customer_phone  text,
    customer_email  text,
    lang            text NOT NULL DEFAULT 'en',
    token_hash      bytea NOT NULL,
    -- The booking's Idempotency-Key (SHA-256), the request's hash and the token sealed with the
    -- key, as for joins: the same request answers the same booking and its token.
    key_hash        bytea,
    request_hash    bytea,
    token_sealed    bytea,
    -- Fixed at booking from the queue's settings then: check-in opens at `opens_at`
    -- (start_at - early_minutes), whose place in line the appointment keeps, and the clock marks
    -- it missed at `missed_at` (start_at + late_minutes) when nobody checked in.
    opens_at        timestamptz NOT NULL,
    missed_at       timestamptz NOT NULL,
    ticket_id       uuid,
    checked_in_at   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX appointments_by_start ON appointments (queue_id, start_at);
CREATE UNIQUE INDEX appointments_by_key ON appointments (tenant_id, key_hash) WHERE key_hash IS NOT NULL;
CREATE INDEX appointments_due ON appointments (missed_at) WHERE status = 'booked';

GRANT SELECT, INSERT, UPDATE ON appointments TO queuecast_app;
ALTER TABLE appointments ENABLE ROW LEVEL SECURITY;
ALTER TABLE appointments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON appointments TO queuecast_app
    USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());

-- Which tenant owns an appointment: for its customer's token, before the tenant is known.
CREATE FUNCTION qc_tenant_of_appointment(p_id uuid) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT tenant_id FROM appointments WHERE id = p_id $$;
GRANT SELECT (id, tenant_id) ON appointments TO queuecast_resolver;
CREATE POLICY resolver_read ON appointments FOR SELECT TO queuecast_resolver USING (true);
GRANT CREATE ON SCHEMA public TO queuecast_resolver;
ALTER FUNCTION qc_tenant_of_appointment(uuid) OWNER TO queuecast_resolver;
REVOKE CREATE ON SCHEMA public FROM queuecast_resolver;
REVOKE EXECUTE ON FUNCTION qc_tenant_of_appointment(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qc_tenant_of_appointment(uuid) TO queuecast_app;

-- Appointments nobody checked in for, past their `missed_at`, across tenants (of queues not
-- deleted): the clock marks each missed through the writer, which does it once whichever node
-- asks first.
CREATE FUNCTION qc_due_appointments(p_now timestamptz, p_limit integer)
    RETURNS TABLE (tenant_id uuid, queue_id uuid, appointment_id uuid, missed_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    SELECT a.tenant_id, a.queue_id, a.id, a.missed_at FROM appointments a
    JOIN queues q ON q.id = a.queue_id AND q.deleted_at IS NULL
    WHERE a.status = 'booked' AND a.missed_at <= p_now ORDER BY a.missed_at LIMIT p_limit
    $$;
GRANT SELECT (id, tenant_id, queue_id, status, missed_at) ON appointments TO queuecast_clock;
CREATE POLICY clock_read ON appointments FOR SELECT TO queuecast_clock USING (true);
GRANT CREATE ON SCHEMA public TO queuecast_clock;
ALTER FUNCTION qc_due_appointments(timestamptz, integer) OWNER TO queuecast_clock;
REVOKE CREATE ON SCHEMA public FROM queuecast_clock;
REVOKE EXECUTE ON FUNCTION qc_due_appointments(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qc_due_appointments(timestamptz, integer) TO queuecast_app;

-- Queuecast schema: tenants → locations → queues → tickets, staff and their credentials, and the
-- numbered event log that every change appends to. Row-level security is in 0002.

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Sites of a tenant (a clinic's branches, a venue's halls).
CREATE TABLE locations (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    timezone    text NOT NULL DEFAULT 'UTC',
    address     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email          text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 320),
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('admin', 'manager', 'staff')),
    display_name   text,
    disabled_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, email),
    UNIQUE (tenant_id, id)
);

-- A user with rows here only works at those locations; a user without rows works everywhere.
CREATE TABLE user_locations (
    tenant_id    uuid NOT NULL,
    user_id      uuid NOT NULL,
    location_id  uuid NOT NULL,
    PRIMARY KEY (user_id, location_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, id) ON DELETE CASCADE
);

-- Bearer tokens of staff, stored as SHA-256 of the secret.
CREATE TABLE staff_tokens (
    token_hash  bytea PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    user_id     uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX staff_tokens_expiry ON staff_tokens (expires_at);

-- Single-use, short-lived passes that open a staff socket (browsers cannot set headers on one).
CREATE TABLE socket_passes (
    pass_hash   bytea PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    user_id     uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX socket_passes_expiry ON socket_passes (expires_at);

-- A ticket type is a state machine ({init, states, transitions}) and an optional JSON Schema for
-- the custom fields a customer fills in when joining. Each tenant gets the built-in `default`.
CREATE TABLE ticket_types (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    code           text NOT NULL CHECK (code ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    fsm            jsonb NOT NULL,
    fields_schema  jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, code),
    UNIQUE (tenant_id, id)
);

CREATE TABLE queues (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    location_id     uuid,
    slug            text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    prefix          text NOT NULL DEFAULT 'A' CHECK (prefix ~ '^[A-Z]{0,3}$'),
    -- Most tickets allowed in line at once; null is unlimited.
    capacity        integer CHECK (capacity > 0),
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paused', 'closed')),
    ticket_type_id  uuid NOT NULL,
    settings        jsonb NOT NULL DEFAULT '{}',
    -- The seq of the queue's last event: bumped by exactly one per event, under the row lock.
    last_seq        bigint NOT NULL DEFAULT 0,
    -- The next display number (A042) to hand out.
    next_number     integer NOT NULL DEFAULT 1,
    -- Tickets in line now, kept by the write path so capacity checks and summaries are O(1).
    waiting         integer NOT NULL DEFAULT 0 CHECK (waiting >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, slug),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, ticket_type_id) REFERENCES ticket_types (tenant_id, id),
    FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, id)
);

-- Revocable keys for kiosk displays, stored as SHA-256.
CREATE TABLE display_keys (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    queue_id    uuid NOT NULL,
    key_hash    bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE tickets (
    id                      uuid PRIMARY KEY,
    tenant_id               uuid NOT NULL,
    queue_id                uuid NOT NULL,
    ticket_type_id          uuid NOT NULL,
    number                  text NOT NULL,
    status                  text NOT NULL,
    -- True exactly when status is the type's init state: the ticket is in line.
    in_line                 boolean NOT NULL,
    priority                smallint NOT NULL DEFAULT 0 CHECK (priority >= 0),
    -- The queue seq at which the ticket entered this line: line order is (priority desc, line_seq).
    line_seq                bigint NOT NULL,
    counter                 text,
    customer_name           text,
    customer_phone          text,
    party_size              integer CHECK (party_size BETWEEN 1 AND 1000),
    fields                  jsonb NOT NULL DEFAULT '{}',
    token_hash              bytea NOT NULL,
    joined_at               timestamptz NOT NULL,
    called_at               timestamptz,
    served_at               timestamptz,
    finished_at             timestamptz,
    estimated_wait_seconds  integer,
    actual_wait_seconds     integer,
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, ticket_type_id) REFERENCES ticket_types (tenant_id, id)
);
-- The waiting line in call order: call-next reads its first row, positions count its prefix.
CREATE INDEX tickets_line ON tickets (queue_id, priority DESC, line_seq) WHERE in_line;
-- Called and in-service tickets, for staff snapshots.
CREATE INDEX tickets_active ON tickets (queue_id, called_at) WHERE NOT in_line AND finished_at IS NULL;
-- Recent calls, for the wait estimate and stats.
CREATE INDEX tickets_calls ON tickets (queue_id, called_at DESC) WHERE called_at IS NOT NULL;

-- A queue's tickets by arrival, for stats.
CREATE INDEX tickets_joined ON tickets (queue_id, joined_at);

-- The log: one row per change, numbered gaplessly per queue.
CREATE TABLE queue_events (
    queue_id    uuid NOT NULL,
    seq         bigint NOT NULL,
    tenant_id   uuid NOT NULL,
    kind        text NOT NULL,
    ticket_id   uuid,
    from_state  text,
    to_state    text,
    actor       text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}',
    at          timestamptz NOT NULL,
    PRIMARY KEY (queue_id, seq),
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id) ON DELETE CASCADE
);

-- Join requests that carried an Idempotency-Key. The key and the request are kept as SHA-256;
-- the ticket token is kept sealed with a pad derived from the key, so only a client that holds
-- the key can recover it on replay.
CREATE TABLE idempotency_keys (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key_hash      bytea NOT NULL,
    request_hash  bytea NOT NULL,
    ticket_id     uuid NOT NULL,
    token_sealed  bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key_hash)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

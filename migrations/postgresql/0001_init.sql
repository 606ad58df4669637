-- 0001_init (PostgreSQL 15): the same schema as migrations/0001_init.sql, whose comments explain
-- each table. Dialect: INTEGER columns (times in ms, ids, counters, 0/1 flags) are BIGINT;
-- JSON columns stay TEXT and are checked by json_valid/json_type, defined here with SQLite's
-- meaning; an INTEGER PRIMARY KEY that SQLite fills in is an identity column; triggers are
-- PL/pgSQL functions. contract.pg_schema_matches checks that both give the same tables,
-- columns, keys and indexes.

-- json_valid(t): t is well-formed JSON (SQLite's json_valid); NULL for NULL, as there.
CREATE FUNCTION json_valid(t TEXT) RETURNS BOOLEAN LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF t IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM t::json;
    RETURN TRUE;
EXCEPTION WHEN others THEN
    RETURN FALSE;
END;
$$;

-- json_type(t): 'object', 'array', 'string', 'number', 'boolean' or 'null' (SQLite's json_type
-- says 'integer'/'real'/'true'/'false' for the last ones; the schema only asks for the first two).
CREATE FUNCTION json_type(t TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT json_typeof(t::json)
$$;

-- vl_now_ms(): milliseconds since the epoch, the unit of every time column.
CREATE FUNCTION vl_now_ms() RETURNS BIGINT LANGUAGE sql VOLATILE AS $$
    SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT
$$;

-- ---- observed -------------------------------------------------------------------------------

CREATE TABLE subscriptions (
    id            TEXT PRIMARY KEY,
    display_name  TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL DEFAULT '',
    tenant_id     TEXT NOT NULL DEFAULT '',
    first_seen_at BIGINT NOT NULL,
    changed_at    BIGINT NOT NULL,
    gone_at       BIGINT
);

CREATE TABLE vms (
    id_key                TEXT PRIMARY KEY,
    id                    TEXT NOT NULL,
    subscription_id       TEXT NOT NULL REFERENCES subscriptions (id),
    resource_group        TEXT NOT NULL,
    resource_group_key    TEXT NOT NULL,
    name                  TEXT NOT NULL,
    location              TEXT NOT NULL DEFAULT '',
    vm_id                 TEXT NOT NULL DEFAULT '',
    computer_name         TEXT NOT NULL DEFAULT '',
    os_type               TEXT NOT NULL DEFAULT '',
    image_publisher       TEXT NOT NULL DEFAULT '',
    image_offer           TEXT NOT NULL DEFAULT '',
    image_sku             TEXT NOT NULL DEFAULT '',
    image_version         TEXT NOT NULL DEFAULT '',
    image_id              TEXT NOT NULL DEFAULT '',
    os_name               TEXT NOT NULL DEFAULT '',
    os_version            TEXT NOT NULL DEFAULT '',
    power_state           TEXT NOT NULL DEFAULT '',
    provisioning_state    TEXT NOT NULL DEFAULT '',
    identity_type         TEXT NOT NULL DEFAULT '',
    identity_principal_id TEXT NOT NULL DEFAULT '',
    user_assigned_ids     TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(user_assigned_ids)),
    tags                  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(tags)),
    generation            BIGINT NOT NULL DEFAULT 1 CHECK (generation > 0),
    first_seen_at         BIGINT NOT NULL,
    changed_at            BIGINT NOT NULL,
    gone_at               BIGINT
);
CREATE INDEX vms_by_subscription ON vms (subscription_id, resource_group_key);
CREATE INDEX vms_by_computer_name ON vms (lower(computer_name)) WHERE computer_name <> '';

CREATE TABLE extensions (
    vm_key               TEXT NOT NULL REFERENCES vms (id_key) ON DELETE CASCADE,
    name_key             TEXT NOT NULL,
    name                 TEXT NOT NULL,
    publisher            TEXT NOT NULL DEFAULT '',
    type                 TEXT NOT NULL DEFAULT '',
    type_handler_version TEXT NOT NULL DEFAULT '',
    auto_upgrade_minor   BIGINT NOT NULL DEFAULT 0 CHECK (auto_upgrade_minor IN (0, 1)),
    provisioning_state   TEXT NOT NULL DEFAULT '',
    status_code          TEXT NOT NULL DEFAULT '',
    status_level         TEXT NOT NULL DEFAULT '',
    status_message       TEXT NOT NULL DEFAULT '',
    generation           BIGINT NOT NULL DEFAULT 1,
    changed_at           BIGINT NOT NULL,
    gone_at              BIGINT,
    PRIMARY KEY (vm_key, name_key)
);
CREATE INDEX extensions_by_type ON extensions (lower(publisher), lower(type), vm_key);

CREATE TABLE role_assignments (
    id_key             TEXT PRIMARY KEY,
    id                 TEXT NOT NULL,
    name               TEXT NOT NULL,
    scope              TEXT NOT NULL,
    scope_key          TEXT NOT NULL,
    role_definition_id TEXT NOT NULL,
    principal_id       TEXT NOT NULL,
    principal_type     TEXT NOT NULL DEFAULT '',
    created_on         BIGINT,
    created_by         TEXT NOT NULL DEFAULT '',
    changed_at         BIGINT NOT NULL,
    gone_at            BIGINT
);
CREATE INDEX role_assignments_by_scope ON role_assignments (scope_key, role_definition_id);
CREATE INDEX role_assignments_by_principal ON role_assignments (principal_id);
CREATE INDEX role_assignments_by_name ON role_assignments (name);

CREATE TABLE principals (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL
                    CHECK (kind IN ('user', 'group', 'servicePrincipal', 'device')),
    upn             TEXT,
    upn_key         TEXT,
    display_name    TEXT NOT NULL DEFAULT '',
    user_type       TEXT NOT NULL DEFAULT '',
    account_enabled BIGINT CHECK (account_enabled IN (0, 1)),
    app_id          TEXT,
    deleted         TEXT NOT NULL DEFAULT 'none' CHECK (deleted IN ('none', 'soft', 'gone')),
    changed_at      BIGINT NOT NULL,
    checked_at      BIGINT
);
CREATE UNIQUE INDEX principals_by_upn ON principals (upn_key) WHERE upn_key IS NOT NULL;
CREATE INDEX principals_by_app_id ON principals (app_id) WHERE app_id IS NOT NULL;

CREATE TABLE group_members (
    group_id    TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    member_id   TEXT NOT NULL,
    member_kind TEXT NOT NULL
                CHECK (member_kind IN ('user', 'group', 'servicePrincipal', 'device')),
    changed_at  BIGINT NOT NULL,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX group_members_by_member ON group_members (member_id, group_id);

CREATE TABLE devices (
    id               TEXT PRIMARY KEY,
    device_id        TEXT NOT NULL DEFAULT '',
    display_name     TEXT NOT NULL,
    display_name_key TEXT NOT NULL,
    trust_type       TEXT NOT NULL DEFAULT '',
    changed_at       BIGINT NOT NULL
);
CREATE INDEX devices_by_name ON devices (display_name_key);

-- ---- desired --------------------------------------------------------------------------------

CREATE TABLE login_settings (
    scope_key         TEXT PRIMARY KEY,
    scope             TEXT NOT NULL,
    scope_kind        TEXT NOT NULL CHECK (scope_kind IN ('subscription', 'resourceGroup', 'vm')),
    desired           TEXT NOT NULL CHECK (desired IN ('enabled', 'disabled')),
    mode              TEXT NOT NULL DEFAULT 'enforce' CHECK (mode IN ('enforce', 'audit')),
    exclude_tags      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(exclude_tags)),
    extension_version TEXT NOT NULL DEFAULT '1.0',
    spec              TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(spec)),
    generation        BIGINT NOT NULL DEFAULT 1 CHECK (generation > 0),
    operation_id      TEXT,
    created_by        TEXT NOT NULL,
    updated_by        TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE login_grants (
    id                 TEXT PRIMARY KEY,
    scope              TEXT NOT NULL,
    scope_key          TEXT NOT NULL,
    role               TEXT NOT NULL CHECK (role IN ('administrator', 'user')),
    principal_id       TEXT NOT NULL,
    principal_type     TEXT NOT NULL
                       CHECK (principal_type IN ('User', 'Group', 'ServicePrincipal')),
    upn                TEXT,
    expires_at         BIGINT,
    justification      TEXT NOT NULL DEFAULT '',
    state              TEXT NOT NULL DEFAULT 'pending'
                       CHECK (state IN ('pending', 'active', 'failed', 'revoking', 'revoked',
                                        'expired')),
    last_error_code    TEXT,
    last_error_message TEXT,
    assignment_name    TEXT NOT NULL,
    assignment_id      TEXT,
    operation_id       TEXT,
    generation         BIGINT NOT NULL DEFAULT 1 CHECK (generation > 0),
    created_by         TEXT NOT NULL,
    revoked_by         TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    CHECK (expires_at IS NULL OR expires_at > created_at)
);
CREATE UNIQUE INDEX login_grants_live ON login_grants (assignment_name)
    WHERE state IN ('pending', 'active', 'revoking');
CREATE INDEX login_grants_by_scope ON login_grants (scope_key, state);
CREATE INDEX login_grants_by_principal ON login_grants (principal_id, state);
CREATE INDEX login_grants_by_expiry ON login_grants (expires_at)
    WHERE expires_at IS NOT NULL AND state IN ('pending', 'active');

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('reader', 'operator', 'administrator')),
    scopes       TEXT NOT NULL DEFAULT '[]'
                 CHECK (json_valid(scopes) AND json_type(scopes) = 'array'),
    grant_limits TEXT NOT NULL DEFAULT '{}'
                 CHECK (json_valid(grant_limits) AND json_type(grant_limits) = 'object'),
    key_hash     TEXT NOT NULL UNIQUE CHECK (length(key_hash) = 64),
    created_by   TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT
);

CREATE TABLE authoritative_scopes (
    scope_key  TEXT PRIMARY KEY,
    scope      TEXT NOT NULL,
    dry_run    BIGINT NOT NULL DEFAULT 1 CHECK (dry_run IN (0, 1)),
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- ---- work -----------------------------------------------------------------------------------

CREATE TABLE tasks (
    id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
    due_at      BIGINT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    lease_owner TEXT,
    lease_until BIGINT,
    rewake      BIGINT NOT NULL DEFAULT 0 CHECK (rewake IN (0, 1)),
    last_error  TEXT,
    op_url      TEXT,
    payload     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (kind, key),
    CHECK ((lease_owner IS NULL) = (lease_until IS NULL))
);
CREATE INDEX tasks_due ON tasks (due_at) WHERE state = 'pending';

CREATE TABLE operations (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    target        TEXT NOT NULL,
    target_key    TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'NotStarted'
                  CHECK (status IN ('NotStarted', 'Running', 'Succeeded', 'Failed',
                                    'PartiallySucceeded', 'Canceled')),
    created_by    TEXT NOT NULL DEFAULT '',
    request_id    TEXT NOT NULL DEFAULT '',
    steps         TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(steps)),
    error_code    TEXT,
    error_message TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    ended_at      BIGINT
);
CREATE INDEX operations_by_target ON operations (target_key, created_at);

CREATE TABLE operation_items (
    operation_id  TEXT NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
    item_key      TEXT NOT NULL,
    item          TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'NotStarted'
                  CHECK (status IN ('NotStarted', 'Running', 'Succeeded', 'Failed',
                                    'Skipped', 'Canceled')),
    step          TEXT NOT NULL DEFAULT '',
    error_code    TEXT,
    error_message TEXT,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (operation_id, item_key)
);

CREATE TABLE vm_login (
    vm_key           TEXT PRIMARY KEY REFERENCES vms (id_key) ON DELETE CASCADE,
    setting_key      TEXT REFERENCES login_settings (scope_key) ON DELETE SET NULL,
    state            TEXT NOT NULL DEFAULT 'not_covered'
                     CHECK (state IN ('not_covered', 'excluded', 'unsupported', 'pending',
                                      'applying', 'waiting', 'enabled', 'failed', 'disabling',
                                      'disabled', 'drifted')),
    step             TEXT NOT NULL DEFAULT '',
    cause_code       TEXT,
    cause_message    TEXT,
    backoff_until    BIGINT,
    op_url           TEXT,
    operation_id     TEXT,
    preflight        TEXT CHECK (preflight IS NULL OR json_valid(preflight)),
    preflight_at     BIGINT,
    generation       BIGINT NOT NULL DEFAULT 1 CHECK (generation > 0),
    updated_at       BIGINT NOT NULL
);
CREATE INDEX vm_login_by_state ON vm_login (state);

-- Append-only, hash-chained; seq is assigned by the writing transaction.
CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL DEFAULT '',
    request_id TEXT NOT NULL DEFAULT '',
    outcome    TEXT NOT NULL,
    details    TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
    prev_hash  TEXT NOT NULL CHECK (length(prev_hash) = 64),
    hash       TEXT NOT NULL UNIQUE CHECK (length(hash) = 64)
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE idempotency_keys (
    caller          TEXT NOT NULL,
    key             TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    response_status BIGINT,
    response_body   TEXT,
    location        TEXT,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);

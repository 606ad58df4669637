-- 0001_init: the first schema of vmlogind (DESIGN section 5). Three kinds of tables:
--   observed  what Azure last showed us (subscriptions, vms, extensions, role_assignments,
--             principals, group_members, devices), with when it last changed;
--   desired   what callers asked for (login_settings, login_grants, api_keys,
--             authoritative_scopes);
--   work      the reconciler's and the API's bookkeeping (tasks, operations,
--             operation_items, vm_login, audit_log, idempotency_keys).
-- Conventions: times are INTEGER ms since the epoch; booleans INTEGER 0/1; ARM ids are kept as
-- Azure wrote them in `id`/`scope` next to a lowercase `*_key` used for lookups, because ARM
-- ids compare case-insensitively; GUIDs are stored lowercase; JSON columns are TEXT checked
-- by json_valid. Observed rows carry `changed_at` (not a per-sync timestamp) so that a sync
-- that finds nothing new writes nothing. Later changes come as new migrations.

-- ---- observed -------------------------------------------------------------------------------

CREATE TABLE subscriptions (
    id            TEXT PRIMARY KEY,               -- subscription GUID, lowercase
    display_name  TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL DEFAULT '',       -- Enabled, Disabled, Warned, ...
    tenant_id     TEXT NOT NULL DEFAULT '',
    first_seen_at INTEGER NOT NULL,
    changed_at    INTEGER NOT NULL,
    gone_at       INTEGER                         -- NULL while Azure lists it
) STRICT;

CREATE TABLE vms (
    id_key                TEXT PRIMARY KEY,       -- lower(id): sorts by subscription, then RG
    id                    TEXT NOT NULL,          -- ARM id as Azure wrote it
    subscription_id       TEXT NOT NULL REFERENCES subscriptions (id),
    resource_group        TEXT NOT NULL,
    resource_group_key    TEXT NOT NULL,          -- lower(resource_group)
    name                  TEXT NOT NULL,
    location              TEXT NOT NULL DEFAULT '',
    vm_id                 TEXT NOT NULL DEFAULT '', -- properties.vmId
    computer_name         TEXT NOT NULL DEFAULT '', -- osProfile.computerName: the hostname
    os_type               TEXT NOT NULL DEFAULT '', -- Windows | Linux
    image_publisher       TEXT NOT NULL DEFAULT '',
    image_offer           TEXT NOT NULL DEFAULT '',
    image_sku             TEXT NOT NULL DEFAULT '',
    image_version         TEXT NOT NULL DEFAULT '',
    image_id              TEXT NOT NULL DEFAULT '', -- custom image / gallery id
    os_name               TEXT NOT NULL DEFAULT '', -- instanceView.osName
    os_version            TEXT NOT NULL DEFAULT '', -- instanceView.osVersion (build)
    power_state           TEXT NOT NULL DEFAULT '', -- running, deallocated, stopped, ...
    provisioning_state    TEXT NOT NULL DEFAULT '',
    identity_type         TEXT NOT NULL DEFAULT '', -- '', SystemAssigned, UserAssigned, both
    identity_principal_id TEXT NOT NULL DEFAULT '',
    user_assigned_ids     TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(user_assigned_ids)),
    tags                  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(tags)),
    generation            INTEGER NOT NULL DEFAULT 1 CHECK (generation > 0),
    first_seen_at         INTEGER NOT NULL,
    changed_at            INTEGER NOT NULL,
    gone_at               INTEGER
) STRICT;
CREATE INDEX vms_by_subscription ON vms (subscription_id, resource_group_key);
CREATE INDEX vms_by_computer_name ON vms (lower(computer_name)) WHERE computer_name <> '';

CREATE TABLE extensions (
    vm_key               TEXT NOT NULL REFERENCES vms (id_key) ON DELETE CASCADE,
    name_key             TEXT NOT NULL,           -- lower(name)
    name                 TEXT NOT NULL,
    publisher            TEXT NOT NULL DEFAULT '',
    type                 TEXT NOT NULL DEFAULT '',
    type_handler_version TEXT NOT NULL DEFAULT '',
    auto_upgrade_minor   INTEGER NOT NULL DEFAULT 0 CHECK (auto_upgrade_minor IN (0, 1)),
    provisioning_state   TEXT NOT NULL DEFAULT '',
    status_code          TEXT NOT NULL DEFAULT '', -- e.g. ProvisioningState/failed/1007
    status_level         TEXT NOT NULL DEFAULT '',
    status_message       TEXT NOT NULL DEFAULT '',
    generation           INTEGER NOT NULL DEFAULT 1,
    changed_at           INTEGER NOT NULL,
    gone_at              INTEGER,
    PRIMARY KEY (vm_key, name_key)
) STRICT;
-- Extensions are matched by publisher and type, never by name.
CREATE INDEX extensions_by_type ON extensions (lower(publisher), lower(type), vm_key);

CREATE TABLE role_assignments (
    id_key             TEXT PRIMARY KEY,          -- lower(id)
    id                 TEXT NOT NULL,
    name               TEXT NOT NULL,             -- the assignment GUID
    scope              TEXT NOT NULL,
    scope_key          TEXT NOT NULL,             -- lower(scope)
    role_definition_id TEXT NOT NULL,             -- role definition GUID, lowercase
    principal_id       TEXT NOT NULL,             -- object id, lowercase
    principal_type     TEXT NOT NULL DEFAULT '',  -- User | Group | ServicePrincipal | ...
    created_on         INTEGER,
    created_by         TEXT NOT NULL DEFAULT '',
    changed_at         INTEGER NOT NULL,
    gone_at            INTEGER
) STRICT;
CREATE INDEX role_assignments_by_scope ON role_assignments (scope_key, role_definition_id);
CREATE INDEX role_assignments_by_principal ON role_assignments (principal_id);
CREATE INDEX role_assignments_by_name ON role_assignments (name);

CREATE TABLE principals (
    id              TEXT PRIMARY KEY,             -- Entra object id, lowercase
    kind            TEXT NOT NULL
                    CHECK (kind IN ('user', 'group', 'servicePrincipal', 'device')),
    upn             TEXT,                         -- users only
    upn_key         TEXT,                         -- lower(upn)
    display_name    TEXT NOT NULL DEFAULT '',
    user_type       TEXT NOT NULL DEFAULT '',     -- Member | Guest | ''
    account_enabled INTEGER CHECK (account_enabled IN (0, 1)),
    app_id          TEXT,                         -- service principals
    deleted         TEXT NOT NULL DEFAULT 'none' CHECK (deleted IN ('none', 'soft', 'gone')),
    changed_at      INTEGER NOT NULL,
    checked_at      INTEGER                       -- last Graph lookup (orphan sweeps)
) STRICT;
CREATE UNIQUE INDEX principals_by_upn ON principals (upn_key) WHERE upn_key IS NOT NULL;
CREATE INDEX principals_by_app_id ON principals (app_id) WHERE app_id IS NOT NULL;

-- Direct memberships only; transitive expansion walks this with a recursive query.
CREATE TABLE group_members (
    group_id    TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    member_id   TEXT NOT NULL,                    -- user, group or servicePrincipal object id
    member_kind TEXT NOT NULL
                CHECK (member_kind IN ('user', 'group', 'servicePrincipal', 'device')),
    changed_at  INTEGER NOT NULL,
    PRIMARY KEY (group_id, member_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX group_members_by_member ON group_members (member_id, group_id);

-- Entra devices, for the hostname-collision preflight check.
CREATE TABLE devices (
    id               TEXT PRIMARY KEY,            -- object id, lowercase
    device_id        TEXT NOT NULL DEFAULT '',
    display_name     TEXT NOT NULL,
    display_name_key TEXT NOT NULL,               -- lower(display_name)
    trust_type       TEXT NOT NULL DEFAULT '',
    changed_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX devices_by_name ON devices (display_name_key);

-- ---- desired --------------------------------------------------------------------------------

-- PUT/DELETE {scope}/entraLogin: a row per scope; DELETE keeps the row as desired = disabled
-- until the reconciler has uninstalled, so the intent survives restarts.
CREATE TABLE login_settings (
    scope_key         TEXT PRIMARY KEY,
    scope             TEXT NOT NULL,
    scope_kind        TEXT NOT NULL CHECK (scope_kind IN ('subscription', 'resourceGroup', 'vm')),
    desired           TEXT NOT NULL CHECK (desired IN ('enabled', 'disabled')),
    mode              TEXT NOT NULL DEFAULT 'enforce' CHECK (mode IN ('enforce', 'audit')),
    exclude_tags      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(exclude_tags)),
    extension_version TEXT NOT NULL DEFAULT '1.0',
    spec              TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(spec)), -- canonical body
    generation        INTEGER NOT NULL DEFAULT 1 CHECK (generation > 0),  -- ETag
    operation_id      TEXT,                       -- the last operation started for it
    created_by        TEXT NOT NULL,
    updated_by        TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;

CREATE TABLE login_grants (
    id                 TEXT PRIMARY KEY,          -- UUIDv4
    scope              TEXT NOT NULL,
    scope_key          TEXT NOT NULL,
    role               TEXT NOT NULL CHECK (role IN ('administrator', 'user')),
    principal_id       TEXT NOT NULL,             -- object id, lowercase
    principal_type     TEXT NOT NULL
                       CHECK (principal_type IN ('User', 'Group', 'ServicePrincipal')),
    upn                TEXT,
    expires_at         INTEGER,
    justification      TEXT NOT NULL DEFAULT '',
    state              TEXT NOT NULL DEFAULT 'pending'
                       CHECK (state IN ('pending', 'active', 'failed', 'revoking', 'revoked',
                                        'expired')),
    last_error_code    TEXT,
    last_error_message TEXT,
    assignment_name    TEXT NOT NULL,             -- UUIDv5(scope_key, role, principal_id)
    assignment_id      TEXT,                      -- ARM id once created or adopted
    operation_id       TEXT,
    generation         INTEGER NOT NULL DEFAULT 1 CHECK (generation > 0),
    created_by         TEXT NOT NULL,
    revoked_by         TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    CHECK (expires_at IS NULL OR expires_at > created_at)
) STRICT;
-- One live grant per (scope, role, principal): repeats find it instead of adding another.
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
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_used_at INTEGER
) STRICT;

-- Scopes where login-role assignments made outside vmlogind are removed (opt-in).
CREATE TABLE authoritative_scopes (
    scope_key  TEXT PRIMARY KEY,
    scope      TEXT NOT NULL,
    dry_run    INTEGER NOT NULL DEFAULT 1 CHECK (dry_run IN (0, 1)),
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- ---- work -----------------------------------------------------------------------------------

-- A task names a thing (kind, key), never a step. Leasable: state = 'pending' AND due_at <= now.
-- A lease sets lease_owner/lease_until and moves due_at to lease_until, so a dead worker's
-- lease just becomes due again. `rewake` records an upsert that arrived during a lease.
CREATE TABLE tasks (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
    due_at      INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    lease_owner TEXT,
    lease_until INTEGER,
    rewake      INTEGER NOT NULL DEFAULT 0 CHECK (rewake IN (0, 1)),
    last_error  TEXT,
    op_url      TEXT,                             -- Azure-AsyncOperation / Location to resume
    payload     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (kind, key),
    CHECK ((lease_owner IS NULL) = (lease_until IS NULL))
) STRICT;
CREATE INDEX tasks_due ON tasks (due_at) WHERE state = 'pending';

CREATE TABLE operations (
    id            TEXT PRIMARY KEY,               -- UUIDv4, in Location: /v1/operations/{id}
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
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    ended_at      INTEGER
) STRICT;
CREATE INDEX operations_by_target ON operations (target_key, created_at);

-- Per-item results of an operation over many VMs or grants (PartiallySucceeded lists them).
CREATE TABLE operation_items (
    operation_id  TEXT NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
    item_key      TEXT NOT NULL,                  -- lower(item)
    item          TEXT NOT NULL,                  -- VM id or grant id
    status        TEXT NOT NULL DEFAULT 'NotStarted'
                  CHECK (status IN ('NotStarted', 'Running', 'Succeeded', 'Failed',
                                    'Skipped', 'Canceled')),
    step          TEXT NOT NULL DEFAULT '',       -- identity, extension, wait, ...
    error_code    TEXT,
    error_message TEXT,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (operation_id, item_key)
) STRICT, WITHOUT ROWID;

-- The reconciler's per-VM login state machine and the last preflight: what /compliance counts.
CREATE TABLE vm_login (
    vm_key           TEXT PRIMARY KEY REFERENCES vms (id_key) ON DELETE CASCADE,
    setting_key      TEXT REFERENCES login_settings (scope_key) ON DELETE SET NULL,
    state            TEXT NOT NULL DEFAULT 'not_covered'
                     CHECK (state IN ('not_covered', 'excluded', 'unsupported', 'pending',
                                      'applying', 'waiting', 'enabled', 'failed', 'disabling',
                                      'disabled', 'drifted')),
    step             TEXT NOT NULL DEFAULT '',    -- identity | extension | wait | uninstall
    cause_code       TEXT,                        -- 1007, -2145648607, 51, hostname_duplicate
    cause_message    TEXT,
    backoff_until    INTEGER,
    op_url           TEXT,
    operation_id     TEXT,
    preflight        TEXT CHECK (preflight IS NULL OR json_valid(preflight)),
    preflight_at     INTEGER,
    generation       INTEGER NOT NULL DEFAULT 1 CHECK (generation > 0),
    updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX vm_login_by_state ON vm_login (state);

-- Append-only, hash-chained (store_audit.c computes hash; see store.h for the encoding).
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,               -- 1, 2, 3, ... assigned in the writing tx
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL DEFAULT '',
    request_id TEXT NOT NULL DEFAULT '',
    outcome    TEXT NOT NULL,
    details    TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
    prev_hash  TEXT NOT NULL CHECK (length(prev_hash) = 64),
    hash       TEXT NOT NULL UNIQUE CHECK (length(hash) = 64)
) STRICT;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE idempotency_keys (
    caller          TEXT NOT NULL,                -- the authenticated identity
    key             TEXT NOT NULL,                -- Idempotency-Key header
    request_hash    TEXT NOT NULL,                -- sha256 of method, path and body
    response_status INTEGER,                      -- NULL while the first request runs
    response_body   TEXT,
    location        TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (caller, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);

-- 0015_webhooks: webhook subscriptions and their durable outbox, and the event types a
-- receiver acts on. The events table of 0014 is rebuilt because SQLite cannot widen a CHECK:
-- its rows, their seq and the AUTOINCREMENT counter are kept (so a Last-Event-ID stays
-- meaningful) and 0014's triggers are created again as they were. The new types are derived by
-- triggers where the store already records the change:
--   grant.active|failed|expired|revoked   login_grants.state reaching that state
--   login.enabled|failed                  vm_login.state reaching enabled / failed (cause, fix)
--   drift.detected|repaired               vm_login.state reaching drifted / leaving it for enabled
--   sweep.completed                       a loginGrant.sweep operation reaching a final status
--                                         (a login policy's standing sweep: reconcile_grant_sweep.c)
--   sync.failed                           a sync run finishing failed
--   permissions.missing                   a permissions check finding a new set of gaps
-- activation.* are allowed here for just-in-time activations, whose own triggers write them.
-- A delivery row per matching enabled subscription is added in the same statement as the event,
-- with the body frozen then, so the events trim (newest 10000) loses nothing still to be sent.
DROP TRIGGER events_trim;
DROP TRIGGER events_op_ins;
DROP TRIGGER events_op_upd;
DROP TRIGGER events_item_ins;
DROP TRIGGER events_item_upd;
DROP TRIGGER events_grant_ins;
DROP TRIGGER events_grant_upd;
DROP TRIGGER events_login_ins;
DROP TRIGGER events_login_upd;
DROP TRIGGER events_sync_done;

CREATE TABLE events_new (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    at    INTEGER NOT NULL,
    type  TEXT NOT NULL CHECK (type IN (
              'operation.progress', 'grant.changed', 'login.changed', 'sync.finished',
              'activation.requested', 'activation.approved', 'activation.denied',
              'activation.expired', 'activation.activated', 'activation.deactivated',
              'grant.active', 'grant.failed', 'grant.expired', 'grant.revoked',
              'login.enabled', 'login.failed', 'drift.detected', 'drift.repaired',
              'sweep.completed', 'sync.failed', 'permissions.missing')),
    scope TEXT,
    data  TEXT NOT NULL CHECK (json_valid(data))
) STRICT;
INSERT INTO events_new (seq, at, type, scope, data) SELECT seq, at, type, scope, data FROM events;
-- The counter moves with the table: seq values trimmed away are never handed out again.
DELETE FROM sqlite_sequence WHERE name = 'events_new';
UPDATE sqlite_sequence SET name = 'events_new' WHERE name = 'events';
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;

CREATE TRIGGER events_trim AFTER INSERT ON events
BEGIN
    DELETE FROM events WHERE seq <= NEW.seq - 10000;
END;

CREATE TRIGGER events_op_ins AFTER INSERT ON operations
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at, 'operation.progress',
        NEW.target_key, json_object('operationId', NEW.id, 'kind', NEW.kind,
                                    'target', NEW.target, 'status', NEW.status));
END;

CREATE TRIGGER events_op_upd AFTER UPDATE OF status, steps ON operations
WHEN OLD.status IS NOT NEW.status OR OLD.steps IS NOT NEW.steps
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at, 'operation.progress',
        NEW.target_key, json_object('operationId', NEW.id, 'kind', NEW.kind,
                                    'target', NEW.target, 'status', NEW.status,
                                    'errorCode', NEW.error_code));
END;

-- An item's scope is its operation's target, as for GET /v1/operations/{id}: a caller limited
-- to a resource group does not learn of an operation at its subscription through a VM in it.
CREATE TRIGGER events_item_ins AFTER INSERT ON operation_items
BEGIN
    INSERT INTO events (at, type, scope, data)
    SELECT NEW.updated_at, 'operation.progress', o.target_key,
           json_object('operationId', NEW.operation_id, 'item', NEW.item,
                       'itemStatus', NEW.status, 'step', NEW.step, 'status', o.status)
      FROM operations o WHERE o.id = NEW.operation_id;
END;

CREATE TRIGGER events_item_upd AFTER UPDATE OF status, step ON operation_items
WHEN OLD.status IS NOT NEW.status OR OLD.step IS NOT NEW.step
BEGIN
    INSERT INTO events (at, type, scope, data)
    SELECT NEW.updated_at, 'operation.progress', o.target_key,
           json_object('operationId', NEW.operation_id, 'item', NEW.item,
                       'itemStatus', NEW.status, 'step', NEW.step, 'status', o.status,
                       'errorCode', NEW.error_code)
      FROM operations o WHERE o.id = NEW.operation_id;
END;

CREATE TRIGGER events_grant_ins AFTER INSERT ON login_grants
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at, 'grant.changed',
        NEW.scope_key, json_object('grantId', NEW.id, 'scope', NEW.scope, 'role', NEW.role,
                                   'principalId', NEW.principal_id, 'upn', NEW.upn,
                                   'state', NEW.state, 'expiresAt', NEW.expires_at));
END;

CREATE TRIGGER events_grant_upd AFTER UPDATE OF state, expires_at ON login_grants
WHEN OLD.state IS NOT NEW.state OR OLD.expires_at IS NOT NEW.expires_at
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at, 'grant.changed',
        NEW.scope_key, json_object('grantId', NEW.id, 'scope', NEW.scope, 'role', NEW.role,
                                   'principalId', NEW.principal_id, 'upn', NEW.upn,
                                   'state', NEW.state, 'expiresAt', NEW.expires_at,
                                   'errorCode', NEW.last_error_code));
END;

-- A VM a sync first sees is not_covered: no event until its login state says something. No
-- operation id: the VM's last operation may be one at a scope wider than the caller's.
CREATE TRIGGER events_login_ins AFTER INSERT ON vm_login
WHEN NEW.state <> 'not_covered'
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at, 'login.changed',
        NEW.vm_key, json_object('vm', coalesce((SELECT id FROM vms WHERE id_key = NEW.vm_key),
                                               NEW.vm_key),
                                'state', NEW.state, 'step', NEW.step));
END;

CREATE TRIGGER events_login_upd AFTER UPDATE OF state, step ON vm_login
WHEN OLD.state IS NOT NEW.state OR OLD.step IS NOT NEW.step
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at, 'login.changed',
        NEW.vm_key, json_object('vm', coalesce((SELECT id FROM vms WHERE id_key = NEW.vm_key),
                                               NEW.vm_key),
                                'state', NEW.state, 'step', NEW.step,
                                'causeCode', NEW.cause_code));
END;

CREATE TRIGGER events_sync_done AFTER UPDATE OF finished_at ON sync_runs
WHEN OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.finished_at, 'sync.finished', NULL,
        json_object('syncId', NEW.id, 'state', NEW.state, 'startedAt', NEW.started_at,
                    'finishedAt', NEW.finished_at, 'vmsSeen', NEW.vms_seen,
                    'vmsChanged', NEW.vms_changed, 'errors', NEW.errors));
END;

CREATE INDEX events_by_scope_type ON events (scope, type);

-- ---- the webhook-facing types ---------------------------------------------------------------

CREATE TRIGGER events_grant_state_ins AFTER INSERT ON login_grants
WHEN NEW.state IN ('active', 'failed', 'expired', 'revoked')
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at, 'grant.' || NEW.state,
        NEW.scope_key, json_object('grantId', NEW.id, 'scope', NEW.scope, 'role', NEW.role,
                                   'principalId', NEW.principal_id, 'upn', NEW.upn,
                                   'expiresAt', NEW.expires_at,
                                   'errorCode', NEW.last_error_code));
END;

CREATE TRIGGER events_grant_state_upd AFTER UPDATE OF state ON login_grants
WHEN OLD.state IS NOT NEW.state AND NEW.state IN ('active', 'failed', 'expired', 'revoked')
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at, 'grant.' || NEW.state,
        NEW.scope_key, json_object('grantId', NEW.id, 'scope', NEW.scope, 'role', NEW.role,
                                   'principalId', NEW.principal_id, 'upn', NEW.upn,
                                   'expiresAt', NEW.expires_at,
                                   'errorCode', NEW.last_error_code,
                                   'errorMessage', NEW.last_error_message,
                                   'revokedBy', NEW.revoked_by));
END;

-- vl_login_fix(cause) is registered on every store connection (store.c): the fix the
-- diagnosis table gives for a cause code, as GET .../entraLogin shows it.
CREATE TRIGGER events_login_state_ins AFTER INSERT ON vm_login
WHEN NEW.state IN ('enabled', 'failed', 'drifted')
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at,
        CASE NEW.state WHEN 'enabled' THEN 'login.enabled' WHEN 'failed' THEN 'login.failed'
                       ELSE 'drift.detected' END,
        NEW.vm_key, json_object('vm', coalesce((SELECT id FROM vms WHERE id_key = NEW.vm_key),
                                               NEW.vm_key),
                                'state', NEW.state, 'causeCode', NEW.cause_code,
                                'causeMessage', NEW.cause_message,
                                'fix', CASE WHEN NEW.state = 'failed'
                                            THEN vl_login_fix(NEW.cause_code) END));
END;

CREATE TRIGGER events_login_state_upd AFTER UPDATE OF state, cause_code ON vm_login
WHEN (OLD.state IS NOT NEW.state AND NEW.state IN ('enabled', 'drifted'))
  OR (NEW.state = 'failed' AND (OLD.state IS NOT 'failed' OR OLD.cause_code IS NOT NEW.cause_code))
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at,
        CASE NEW.state WHEN 'enabled' THEN 'login.enabled' WHEN 'failed' THEN 'login.failed'
                       ELSE 'drift.detected' END,
        NEW.vm_key, json_object('vm', coalesce((SELECT id FROM vms WHERE id_key = NEW.vm_key),
                                               NEW.vm_key),
                                'state', NEW.state, 'previousState', OLD.state,
                                'causeCode', NEW.cause_code, 'causeMessage', NEW.cause_message,
                                'fix', CASE WHEN NEW.state = 'failed'
                                            THEN vl_login_fix(NEW.cause_code) END));
END;

-- Drift is repaired when a VM whose last drift.detected is newer than its last drift.repaired
-- is enabled again (directly, or through applying and waiting).
CREATE TRIGGER events_drift_repaired AFTER UPDATE OF state ON vm_login
WHEN OLD.state IS NOT 'enabled' AND NEW.state = 'enabled'
 AND coalesce((SELECT max(seq) FROM events WHERE scope = NEW.vm_key AND type = 'drift.detected'),
              0) >
     coalesce((SELECT max(seq) FROM events WHERE scope = NEW.vm_key AND type = 'drift.repaired'),
              0)
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at, 'drift.repaired',
        NEW.vm_key, json_object('vm', coalesce((SELECT id FROM vms WHERE id_key = NEW.vm_key),
                                               NEW.vm_key),
                                'state', NEW.state));
END;

CREATE TRIGGER events_sweep_done AFTER UPDATE OF status ON operations
WHEN NEW.kind = 'loginGrant.sweep'
 AND NEW.status IN ('Succeeded', 'Failed', 'PartiallySucceeded', 'Canceled')
 AND OLD.status NOT IN ('Succeeded', 'Failed', 'PartiallySucceeded', 'Canceled')
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at, 'sweep.completed',
        NEW.target_key, json_object('sweepId', NEW.id, 'scope', NEW.target,
                                    'status', NEW.status, 'errorCode', NEW.error_code,
                                    'dryRun', json(CASE WHEN json_extract(NEW.steps, '$.dryRun')
                                                        THEN 'true' ELSE 'false' END),
                                    'counts', json(json_extract(NEW.steps, '$.counts'))));
END;

CREATE TRIGGER events_sync_failed AFTER UPDATE OF finished_at ON sync_runs
WHEN OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL AND NEW.state = 'failed'
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.finished_at, 'sync.failed', NULL,
        json_object('syncId', NEW.id, 'startedAt', NEW.started_at,
                    'finishedAt', NEW.finished_at, 'errors', NEW.errors,
                    'lastError', NEW.last_error));
END;

-- A check that finds gaps, when they differ from the last check's (each check rewrites the row).
CREATE TRIGGER events_permissions_ins AFTER INSERT ON permission_checks
WHEN coalesce(json_extract(NEW.result, '$.missingCount'), 0) > 0
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.checked_at, 'permissions.missing',
        NULL, json_object('subject', NEW.subject,
                          'missingCount', json_extract(NEW.result, '$.missingCount'),
                          'checkedAt', NEW.checked_at));
END;

CREATE TRIGGER events_permissions_upd AFTER UPDATE OF result ON permission_checks
WHEN coalesce(json_extract(NEW.result, '$.missingCount'), 0) > 0
 AND (SELECT group_concat(value, '|') FROM json_tree(OLD.result) WHERE key = 'missing') IS NOT
     (SELECT group_concat(value, '|') FROM json_tree(NEW.result) WHERE key = 'missing')
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.checked_at, 'permissions.missing',
        NULL, json_object('subject', NEW.subject,
                          'missingCount', json_extract(NEW.result, '$.missingCount'),
                          'checkedAt', NEW.checked_at));
END;

-- ---- webhook subscriptions and their outbox ----------------------------------------------------

-- scopes: the lowercase ARM scopes the creator held (unlimited = 1: none, fleet-wide); a
-- subscription receives only the events those scopes may read. secret is the signing key
-- (whsec_ + base64), kept to sign; prev_secret signs too until prev_until (a rotation's overlap).
-- failures counts failed attempts in a row; at webhook_disable_after it is disabled with a reason.
CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,                  -- UUIDv4
    url             TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    events          TEXT NOT NULL CHECK (json_valid(events) AND json_type(events) = 'array'),
    scopes          TEXT NOT NULL DEFAULT '[]'
                    CHECK (json_valid(scopes) AND json_type(scopes) = 'array'),
    unlimited       INTEGER NOT NULL CHECK (unlimited IN (0, 1)),
    secret          TEXT NOT NULL,
    prev_secret     TEXT,
    prev_until      INTEGER,
    enabled         INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    disabled_reason TEXT,
    disabled_at     INTEGER,
    failures        INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    created_by      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

-- One message to one subscription. msg_id is the webhook-id header, the same on every attempt
-- and redelivery. body is {type, timestamp, data}, frozen when the event was written.
CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY,
    webhook_id  TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    msg_id      TEXT NOT NULL,
    seq         INTEGER,                               -- the event's seq; NULL: webhook.test
    type        TEXT NOT NULL,
    body        TEXT NOT NULL CHECK (json_valid(body)),
    state       TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_at     INTEGER NOT NULL,
    last_at     INTEGER,
    last_status INTEGER,
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (webhook_id, msg_id)
) STRICT;
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, id)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (created_at)
    WHERE state <> 'pending';

-- The dashboard's types (operation.progress and the *.changed/finished summaries) stay on
-- GET /v1/events; subscriptions get the webhook-facing ones, those listed or all with "*".
CREATE TRIGGER events_webhooks AFTER INSERT ON events
WHEN NEW.type NOT IN ('operation.progress', 'grant.changed', 'login.changed', 'sync.finished')
BEGIN
    INSERT INTO webhook_deliveries (webhook_id, msg_id, seq, type, body, next_at, created_at)
    SELECT w.id, 'msg_' || NEW.seq, NEW.seq, NEW.type,
           json_object('type', NEW.type,
                       'timestamp', strftime('%Y-%m-%dT%H:%M:%fZ', NEW.at / 1000.0, 'unixepoch'),
                       'data', json(NEW.data)),
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER),
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
      FROM webhooks w
     WHERE w.enabled = 1
       AND EXISTS (SELECT 1 FROM json_each(w.events) e WHERE e.value IN ('*', NEW.type))
       AND (w.unlimited = 1
            OR (NEW.scope IS NOT NULL
                AND EXISTS (SELECT 1 FROM json_each(w.scopes) s
                             WHERE NEW.scope = s.value
                                OR substr(NEW.scope, 1, length(s.value) + 1) = s.value || '/')));
END;

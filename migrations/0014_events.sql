-- 0014_events: a bounded log of what changed, for GET /v1/events (Server-Sent Events) and the
-- ops dashboard. Rows are written by triggers on the tables whose changes a watcher cares about
-- (operations and their items, login grants, per-VM login state, sync runs), so every writer
-- (API, reconciler, a second replica) feeds it without knowing it exists. seq is the SSE id:
-- AUTOINCREMENT never reuses one, so a Last-Event-ID stays meaningful after the trim, which
-- keeps the newest 10000 rows. scope is the lowercase ARM id the event is about (what the
-- caller's scopes are held to); NULL means fleet-wide (a sync run).
CREATE TABLE events (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    at    INTEGER NOT NULL,
    type  TEXT NOT NULL CHECK (type IN ('operation.progress', 'grant.changed', 'login.changed',
                                        'sync.finished')),
    scope TEXT,
    data  TEXT NOT NULL CHECK (json_valid(data))
) STRICT;

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

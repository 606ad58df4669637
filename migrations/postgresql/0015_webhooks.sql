-- 0015_webhooks (PostgreSQL 15): as migrations/0015_webhooks.sql, whose comments explain the
-- event types and the outbox. PostgreSQL widens the CHECK on events.type in place, so the
-- table and 0014's triggers stay as they are. Triggers whose SQLite WHEN clause reads other
-- rows test it in their function (PostgreSQL's WHEN takes no subquery). SQLite's
-- events_grant_state_ins, events_login_state_ins, events_sweep_done and events_sync_failed are
-- folded into the 0014 function of the same write (see below), to keep SQLite's event order.
-- vl_login_fix(cause), the diagnosis table's fix for a cause code, is not defined here: it
-- depends on the configured cloud, and SQLite has it as a C function on every connection;
-- store_pg_migrate (re)creates it from the same C table after the migrations.
ALTER TABLE events DROP CONSTRAINT events_type_check;
ALTER TABLE events ADD CONSTRAINT events_type_check CHECK (type IN (
    'operation.progress', 'grant.changed', 'login.changed', 'sync.finished',
    'activation.requested', 'activation.approved', 'activation.denied',
    'activation.expired', 'activation.activated', 'activation.deactivated',
    'grant.active', 'grant.failed', 'grant.expired', 'grant.revoked',
    'login.enabled', 'login.failed', 'drift.detected', 'drift.repaired',
    'sweep.completed', 'sync.failed', 'permissions.missing'));

CREATE INDEX events_by_scope_type ON events (scope, type);

-- ---- the webhook-facing types ---------------------------------------------------------------

-- PostgreSQL fires a table's triggers in name order, SQLite the newest first. Where a new type
-- comes from the same write as a 0014 event (a grant or a VM's login row inserted, an operation
-- or a sync run finishing), 0014's function is replaced by one that writes both, the new type
-- first, as SQLite's triggers do (contract.pg_triggers_match compares the two event logs).
CREATE OR REPLACE FUNCTION events_grant_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state IN ('active', 'failed', 'expired', 'revoked') THEN
        INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at,
            'grant.' || NEW.state, NEW.scope_key,
            json_build_object('grantId', NEW.id, 'scope', NEW.scope, 'role', NEW.role,
                              'principalId', NEW.principal_id, 'upn', NEW.upn,
                              'expiresAt', NEW.expires_at,
                              'errorCode', NEW.last_error_code)::text);
    END IF;
    INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at, 'grant.changed',
        NEW.scope_key, json_build_object('grantId', NEW.id, 'scope', NEW.scope,
                                         'role', NEW.role, 'principalId', NEW.principal_id,
                                         'upn', NEW.upn, 'state', NEW.state,
                                         'expiresAt', NEW.expires_at)::text);
    RETURN NULL;
END;
$$;

CREATE FUNCTION events_grant_state_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at, 'grant.' || NEW.state,
        NEW.scope_key, json_build_object('grantId', NEW.id, 'scope', NEW.scope,
                                         'role', NEW.role, 'principalId', NEW.principal_id,
                                         'upn', NEW.upn, 'expiresAt', NEW.expires_at,
                                         'errorCode', NEW.last_error_code,
                                         'errorMessage', NEW.last_error_message,
                                         'revokedBy', NEW.revoked_by)::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_grant_state_upd AFTER UPDATE OF state ON login_grants
    FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state
          AND NEW.state IN ('active', 'failed', 'expired', 'revoked'))
    EXECUTE FUNCTION events_grant_state_upd();

-- vl_login_event_type(state): the webhook type of a vm_login state that has one.
CREATE FUNCTION vl_login_event_type(state TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE state WHEN 'enabled' THEN 'login.enabled' WHEN 'failed' THEN 'login.failed'
                      ELSE 'drift.detected' END
$$;

CREATE OR REPLACE FUNCTION events_login_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state IN ('enabled', 'failed', 'drifted') THEN
        INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at,
            vl_login_event_type(NEW.state),
            NEW.vm_key, json_build_object('vm', vl_vm_id(NEW.vm_key),
                                          'state', NEW.state,
                                          'causeCode', NEW.cause_code,
                                          'causeMessage', NEW.cause_message,
                                          'fix', CASE WHEN NEW.state = 'failed'
                                                      THEN vl_login_fix(NEW.cause_code)
                                                 END)::text);
    END IF;
    INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at, 'login.changed',
        NEW.vm_key, json_build_object('vm', vl_vm_id(NEW.vm_key),
                                      'state', NEW.state, 'step', NEW.step)::text);
    RETURN NULL;
END;
$$;

CREATE FUNCTION events_login_state_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at,
        vl_login_event_type(NEW.state),
        NEW.vm_key, json_build_object('vm', vl_vm_id(NEW.vm_key),
                                      'state', NEW.state, 'previousState', OLD.state,
                                      'causeCode', NEW.cause_code,
                                      'causeMessage', NEW.cause_message,
                                      'fix', CASE WHEN NEW.state = 'failed'
                                                  THEN vl_login_fix(NEW.cause_code) END)::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_login_state_upd AFTER UPDATE OF state, cause_code ON vm_login
    FOR EACH ROW
    WHEN ((OLD.state IS DISTINCT FROM NEW.state AND NEW.state IN ('enabled', 'drifted'))
          OR (NEW.state = 'failed' AND (OLD.state IS DISTINCT FROM 'failed'
                                        OR OLD.cause_code IS DISTINCT FROM NEW.cause_code)))
    EXECUTE FUNCTION events_login_state_upd();

CREATE FUNCTION events_drift_repaired() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce((SELECT max(seq) FROM events
                  WHERE scope = NEW.vm_key AND type = 'drift.detected'), 0) >
       coalesce((SELECT max(seq) FROM events
                  WHERE scope = NEW.vm_key AND type = 'drift.repaired'), 0) THEN
        INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at, 'drift.repaired',
            NEW.vm_key, json_build_object('vm', vl_vm_id(NEW.vm_key),
                                          'state', NEW.state)::text);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_drift_repaired AFTER UPDATE OF state ON vm_login
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM 'enabled' AND NEW.state = 'enabled')
    EXECUTE FUNCTION events_drift_repaired();

-- A loginGrant.sweep operation reaching a final status: sweep.completed, then 0014's progress.
CREATE OR REPLACE FUNCTION events_op_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'loginGrant.sweep'
       AND NEW.status IN ('Succeeded', 'Failed', 'PartiallySucceeded', 'Canceled')
       AND OLD.status NOT IN ('Succeeded', 'Failed', 'PartiallySucceeded', 'Canceled') THEN
        INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at, 'sweep.completed',
            NEW.target_key,
            json_build_object('sweepId', NEW.id, 'scope', NEW.target, 'status', NEW.status,
                              'errorCode', NEW.error_code,
                              'dryRun', coalesce((NEW.steps::jsonb -> 'dryRun') = 'true'::jsonb,
                                                 FALSE),
                              'counts', NEW.steps::json -> 'counts')::text);
    END IF;
    INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at, 'operation.progress',
        NEW.target_key, json_build_object('operationId', NEW.id, 'kind', NEW.kind,
                                          'target', NEW.target, 'status', NEW.status,
                                          'errorCode', NEW.error_code)::text);
    RETURN NULL;
END;
$$;

-- A sync run finishing failed: sync.failed, then 0014's sync.finished.
CREATE OR REPLACE FUNCTION events_sync_done() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state = 'failed' THEN
        INSERT INTO events (at, type, scope, data) VALUES (NEW.finished_at, 'sync.failed', NULL,
            json_build_object('syncId', NEW.id, 'startedAt', NEW.started_at,
                              'finishedAt', NEW.finished_at, 'errors', NEW.errors,
                              'lastError', NEW.last_error)::text);
    END IF;
    INSERT INTO events (at, type, scope, data) VALUES (NEW.finished_at, 'sync.finished', NULL,
        json_build_object('syncId', NEW.id, 'state', NEW.state, 'startedAt', NEW.started_at,
                          'finishedAt', NEW.finished_at, 'vmsSeen', NEW.vms_seen,
                          'vmsChanged', NEW.vms_changed, 'errors', NEW.errors)::text);
    RETURN NULL;
END;
$$;

-- vl_missing_of(result): every "missing" member of a permissions report, joined, to tell one
-- set of gaps from another (SQLite: group_concat over json_tree).
CREATE FUNCTION vl_missing_of(result TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(v::text, '|') FROM jsonb_path_query(result::jsonb, 'strict $.**.missing') v
$$;

CREATE FUNCTION events_permissions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND vl_missing_of(OLD.result) IS NOT DISTINCT FROM
                            vl_missing_of(NEW.result) THEN
        RETURN NULL;
    END IF;
    INSERT INTO events (at, type, scope, data) VALUES (NEW.checked_at, 'permissions.missing',
        NULL, json_build_object('subject', NEW.subject,
                                'missingCount', NEW.result::json -> 'missingCount',
                                'checkedAt', NEW.checked_at)::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_permissions_ins AFTER INSERT ON permission_checks
    FOR EACH ROW
    WHEN (coalesce((NEW.result::jsonb ->> 'missingCount')::numeric, 0) > 0)
    EXECUTE FUNCTION events_permissions();
CREATE TRIGGER events_permissions_upd AFTER UPDATE OF result ON permission_checks
    FOR EACH ROW
    WHEN (coalesce((NEW.result::jsonb ->> 'missingCount')::numeric, 0) > 0)
    EXECUTE FUNCTION events_permissions();

-- ---- webhook subscriptions and their outbox ----------------------------------------------------

CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    events          TEXT NOT NULL CHECK (json_valid(events) AND json_type(events) = 'array'),
    scopes          TEXT NOT NULL DEFAULT '[]'
                    CHECK (json_valid(scopes) AND json_type(scopes) = 'array'),
    unlimited       BIGINT NOT NULL CHECK (unlimited IN (0, 1)),
    secret          TEXT NOT NULL,
    prev_secret     TEXT,
    prev_until      BIGINT,
    enabled         BIGINT NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    disabled_reason TEXT,
    disabled_at     BIGINT,
    failures        BIGINT NOT NULL DEFAULT 0 CHECK (failures >= 0),
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    webhook_id  TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    msg_id      TEXT NOT NULL,
    seq         BIGINT,
    type        TEXT NOT NULL,
    body        TEXT NOT NULL CHECK (json_valid(body)),
    state       TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempts    BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_at     BIGINT NOT NULL,
    last_at     BIGINT,
    last_status BIGINT,
    last_error  TEXT,
    created_at  BIGINT NOT NULL,
    UNIQUE (webhook_id, msg_id)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, id)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (created_at)
    WHERE state <> 'pending';

CREATE FUNCTION events_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (webhook_id, msg_id, seq, type, body, next_at, created_at)
    SELECT w.id, 'msg_' || NEW.seq, NEW.seq, NEW.type,
           json_build_object('type', NEW.type,
                             'timestamp', to_char(to_timestamp(NEW.at / 1000.0) AT TIME ZONE 'UTC',
                                                  'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                             'data', NEW.data::json)::text,
           vl_now_ms(), vl_now_ms()
      FROM webhooks w
     WHERE w.enabled = 1
       AND EXISTS (SELECT 1 FROM json_array_elements_text(w.events::json) e(v)
                    WHERE e.v IN ('*', NEW.type))
       AND (w.unlimited = 1
            OR (NEW.scope IS NOT NULL
                AND EXISTS (SELECT 1 FROM json_array_elements_text(w.scopes::json) s(v)
                             WHERE NEW.scope = s.v
                                OR substr(NEW.scope, 1, length(s.v) + 1) = s.v || '/')));
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_webhooks AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.type NOT IN ('operation.progress', 'grant.changed', 'login.changed',
                           'sync.finished'))
    EXECUTE FUNCTION events_webhooks();

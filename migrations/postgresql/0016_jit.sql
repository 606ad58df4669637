-- 0016_jit (PostgreSQL 15): as migrations/0016_jit.sql.
CREATE TABLE eligibilities (
    id                    TEXT PRIMARY KEY,
    scope                 TEXT NOT NULL,
    scope_key             TEXT NOT NULL,
    role                  TEXT NOT NULL CHECK (role IN ('administrator', 'user')),
    principal_id          TEXT NOT NULL,
    principal_type        TEXT NOT NULL CHECK (principal_type IN ('User', 'Group')),
    max_duration_s        BIGINT NOT NULL CHECK (max_duration_s > 0),
    require_approval      BIGINT NOT NULL CHECK (require_approval IN (0, 1)),
    require_justification BIGINT NOT NULL CHECK (require_justification IN (0, 1)),
    require_ticket        BIGINT NOT NULL CHECK (require_ticket IN (0, 1)),
    expires_at            BIGINT,
    justification         TEXT NOT NULL DEFAULT '',
    created_by            TEXT NOT NULL,
    created_at            BIGINT NOT NULL
);
CREATE INDEX eligibilities_by_principal ON eligibilities (principal_id);

CREATE TABLE eligibility_approvers (
    eligibility_id TEXT NOT NULL REFERENCES eligibilities (id) ON DELETE CASCADE,
    approver_id    TEXT NOT NULL,
    PRIMARY KEY (eligibility_id, approver_id)
);
CREATE INDEX eligibility_approvers_by_approver ON eligibility_approvers (approver_id);

CREATE TABLE activations (
    id             TEXT PRIMARY KEY,
    eligibility_id TEXT NOT NULL,
    scope          TEXT NOT NULL,
    scope_key      TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('administrator', 'user')),
    principal_id   TEXT NOT NULL,
    requested_by   TEXT NOT NULL,
    duration_s     BIGINT NOT NULL CHECK (duration_s > 0),
    justification  TEXT NOT NULL DEFAULT '',
    ticket         TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL
                   CHECK (state IN ('requested', 'pendingApproval', 'active', 'denied', 'expired',
                                    'cancelled', 'deactivated')),
    approvers      TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(approvers)),
    pending_until  BIGINT,
    decided_by     TEXT,
    reason         TEXT NOT NULL DEFAULT '',
    grant_id       TEXT,
    expires_at     BIGINT,
    generation     BIGINT NOT NULL DEFAULT 1,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX activations_by_state ON activations (state, id);
CREATE INDEX activations_by_principal ON activations (principal_id);

ALTER TABLE login_grants ADD COLUMN activation_id TEXT;

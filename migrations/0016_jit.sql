-- 0016_jit: just-in-time login. An eligibility says who (a user, or a group's transitive
-- members) may activate which login role at or under which scope, for how long at most, and
-- what an activation needs (approval by whom, a justification, a ticket). An activation is one
-- person's request under an eligibility; once approved (or at once when no approval is needed)
-- it becomes an ordinary time-bound login grant, linked both ways (activations.grant_id,
-- login_grants.activation_id), so the reconciler makes and removes the assignment as for any
-- grant. Approvers are a table of their own so the inventory sync can read the groups it must
-- expand with one UNION next to the assignments' principals.
CREATE TABLE eligibilities (
    id                    TEXT PRIMARY KEY,            -- UUIDv4
    scope                 TEXT NOT NULL,               -- canonical ARM scope
    scope_key             TEXT NOT NULL,               -- lower(scope)
    role                  TEXT NOT NULL CHECK (role IN ('administrator', 'user')),
    principal_id          TEXT NOT NULL,               -- object id, lowercase
    principal_type        TEXT NOT NULL CHECK (principal_type IN ('User', 'Group')),
    max_duration_s        INTEGER NOT NULL CHECK (max_duration_s > 0),
    require_approval      INTEGER NOT NULL CHECK (require_approval IN (0, 1)),
    require_justification INTEGER NOT NULL CHECK (require_justification IN (0, 1)),
    require_ticket        INTEGER NOT NULL CHECK (require_ticket IN (0, 1)),
    expires_at            INTEGER,                     -- NULL: until deleted
    justification         TEXT NOT NULL DEFAULT '',
    created_by            TEXT NOT NULL,
    created_at            INTEGER NOT NULL
) STRICT;
CREATE INDEX eligibilities_by_principal ON eligibilities (principal_id);

CREATE TABLE eligibility_approvers (
    eligibility_id TEXT NOT NULL REFERENCES eligibilities (id) ON DELETE CASCADE,
    approver_id    TEXT NOT NULL,                      -- user or group object id, lowercase
    PRIMARY KEY (eligibility_id, approver_id)
) STRICT;
CREATE INDEX eligibility_approvers_by_approver ON eligibility_approvers (approver_id);

-- eligibility_id is kept without a foreign key: deleting an eligibility ends no activation
-- already made under it (its grant runs out as granted), and the history stays readable.
CREATE TABLE activations (
    id             TEXT PRIMARY KEY,                   -- UUIDv4
    eligibility_id TEXT NOT NULL,
    scope          TEXT NOT NULL,
    scope_key      TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('administrator', 'user')),
    principal_id   TEXT NOT NULL,                      -- the person who gets the login
    requested_by   TEXT NOT NULL,                      -- the caller: "user:<oid>" or an operator
    duration_s     INTEGER NOT NULL CHECK (duration_s > 0),
    justification  TEXT NOT NULL DEFAULT '',
    ticket         TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL
                   CHECK (state IN ('requested', 'pendingApproval', 'active', 'denied', 'expired',
                                    'cancelled', 'deactivated')),
    approvers      TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(approvers)), -- copied at request
    pending_until  INTEGER,                            -- pendingApproval lapses then
    decided_by     TEXT,
    reason         TEXT NOT NULL DEFAULT '',
    grant_id       TEXT,
    expires_at     INTEGER,                            -- the grant's expiry once active
    generation     INTEGER NOT NULL DEFAULT 1,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX activations_by_state ON activations (state, id);
CREATE INDEX activations_by_principal ON activations (principal_id);

ALTER TABLE login_grants ADD COLUMN activation_id TEXT;

-- 0012_signin (PostgreSQL 15): as migrations/0012_signin.sql.
CREATE TABLE signin_facts (
    vm_key        TEXT NOT NULL,
    principal_key TEXT NOT NULL,
    directory     TEXT NOT NULL CHECK (json_valid(directory)),
    checked_at    BIGINT NOT NULL,
    PRIMARY KEY (vm_key, principal_key)
);

CREATE TABLE vm_diagnostics (
    vm_key     TEXT PRIMARY KEY,
    result     TEXT NOT NULL CHECK (json_valid(result)),
    checked_at BIGINT NOT NULL
);

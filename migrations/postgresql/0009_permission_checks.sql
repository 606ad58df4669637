-- 0009_permission_checks (PostgreSQL 15): as migrations/0009_permission_checks.sql.
CREATE TABLE permission_checks (
    subject    TEXT PRIMARY KEY,
    result     TEXT NOT NULL CHECK (json_valid(result)),
    checked_at BIGINT NOT NULL
);

-- 0006_identity_limits (PostgreSQL 15): as migrations/0006_identity_limits.sql.
CREATE TABLE identity_limits (
    subject      TEXT PRIMARY KEY
                 CHECK (substr(subject, 1, 5) = 'user:' OR substr(subject, 1, 4) = 'app:'),
    scopes       TEXT NOT NULL DEFAULT '[]'
                 CHECK (json_valid(scopes) AND json_type(scopes) = 'array'),
    grant_limits TEXT NOT NULL DEFAULT '{}'
                 CHECK (json_valid(grant_limits) AND json_type(grant_limits) = 'object'),
    created_by   TEXT NOT NULL DEFAULT '',
    updated_at   BIGINT NOT NULL
);

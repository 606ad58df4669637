-- 0006_identity_limits: limits on Entra callers. An API key carries its scopes and grant limits
-- in its own row; a caller with an Entra token (a user "user:<oid>" or an application
-- "app:<appid>") gets its role from the token's app roles, and an administrator can hold it to
-- scopes and grant limits here, the same way. A subject without a row is held only by its role.
CREATE TABLE identity_limits (
    subject      TEXT PRIMARY KEY
                 CHECK (substr(subject, 1, 5) = 'user:' OR substr(subject, 1, 4) = 'app:'),
    scopes       TEXT NOT NULL DEFAULT '[]'
                 CHECK (json_valid(scopes) AND json_type(scopes) = 'array'),
    grant_limits TEXT NOT NULL DEFAULT '{}'
                 CHECK (json_valid(grant_limits) AND json_type(grant_limits) = 'object'),
    created_by   TEXT NOT NULL DEFAULT '',
    updated_at   INTEGER NOT NULL
) STRICT;

-- 0009_permission_checks: what vmlogind's own identity may do in Azure, as the reconciler last
-- found it (ARM Permissions_List per subscription, the app roles in its Graph token), so that
-- GET /v1/diagnostics/permissions answers from the store and never waits on Azure. One row per
-- subject ('self' today); result is the report the API serves, filtered by the caller's scopes.
CREATE TABLE permission_checks (
    subject    TEXT PRIMARY KEY,
    result     TEXT NOT NULL CHECK (json_valid(result)),
    checked_at INTEGER NOT NULL
) STRICT;

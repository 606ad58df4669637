-- 0004_grants: what login grants and effective access need beyond 0001. A grant that adopted
-- an assignment made before it (409 RoleAssignmentExists) is matched to the observed row by
-- the assignment's ARM id rather than by its deterministic name, so /access can tell an
-- adopted assignment (source: the grant) from one made outside vmlogind (source: external)
-- with an index lookup per row instead of a scan of every grant. ARM ids compare
-- case-insensitively, hence NOCASE (an index on lower(assignment_id) is not used by SQLite
-- on the right side of the LEFT JOIN that needs it).
CREATE INDEX login_grants_by_assignment_id ON login_grants (assignment_id COLLATE NOCASE)
    WHERE assignment_id IS NOT NULL;

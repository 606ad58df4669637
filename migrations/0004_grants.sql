-- 0004_grants: what login grants and effective access need beyond 0001. A grant that adopted
-- an assignment made before it (409 RoleAssignmentExists) is matched to the observed row by
-- the assignment's ARM id rather than by its deterministic name, so /access can tell an
-- adopted assignment (source: the grant) from one made outside vmlogind (source: external)
-- with an index lookup per row instead of a scan of every grant.
CREATE INDEX login_grants_by_assignment_id ON login_grants (lower(assignment_id))
    WHERE assignment_id IS NOT NULL;

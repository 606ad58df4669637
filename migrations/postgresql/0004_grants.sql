-- 0004_grants (PostgreSQL 15): as migrations/0004_grants.sql. ARM ids compare
-- case-insensitively: SQLite's COLLATE NOCASE is an index on lower() here, which a query
-- matches with lower(assignment_id).
CREATE INDEX login_grants_by_assignment_id ON login_grants (lower(assignment_id))
    WHERE assignment_id IS NOT NULL;

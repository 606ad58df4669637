-- 0003_vm_login (PostgreSQL 15): as migrations/0003_vm_login.sql.
ALTER TABLE vm_login ADD COLUMN ext_name TEXT;
ALTER TABLE vm_login ADD COLUMN ext_state TEXT;
ALTER TABLE vm_login ADD COLUMN ext_version TEXT;
ALTER TABLE vm_login ADD COLUMN has_identity BIGINT NOT NULL DEFAULT 0
    CHECK (has_identity IN (0, 1));
ALTER TABLE vm_login ADD COLUMN failures BIGINT NOT NULL DEFAULT 0 CHECK (failures >= 0);
ALTER TABLE vm_login ADD COLUMN fingerprint TEXT;
ALTER TABLE vm_login ADD COLUMN checked_at BIGINT;

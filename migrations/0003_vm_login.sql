-- 0003_vm_login: what the Entra-login reconciler needs beyond 0001's vm_login row: the
-- extension it last saw (matched by publisher and type, so its name is whatever Azure holds),
-- how many installs failed in a row (retry policy), and a fingerprint of the facts a failure
-- was judged on, so a cause that retrying can't fix is not retried until those facts or the
-- desired setting change.
ALTER TABLE vm_login ADD COLUMN ext_name TEXT;
ALTER TABLE vm_login ADD COLUMN ext_state TEXT;
ALTER TABLE vm_login ADD COLUMN ext_version TEXT;
ALTER TABLE vm_login ADD COLUMN has_identity INTEGER NOT NULL DEFAULT 0
    CHECK (has_identity IN (0, 1));
ALTER TABLE vm_login ADD COLUMN failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0);
ALTER TABLE vm_login ADD COLUMN fingerprint TEXT;
ALTER TABLE vm_login ADD COLUMN checked_at INTEGER;

-- 0008_audit_anchor: anchors the audit chain so that truncation and rewriting are detected.
-- Rows up to legacy_end were chained with plain SHA-256 by older versions and stay as they
-- are (no row is lost or rewritten); every later row is chained with HMAC-SHA256 under a key
-- kept outside the database (audit_key_file). audit_checkpoints holds signed heads of the
-- chain (seq, hash), each also appended to a file outside the database
-- (audit_checkpoint_file), since a checkpoint kept only here could be deleted with the rows.
-- The encodings are in include/vmlogind/store.h.
CREATE TABLE audit_anchor (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    legacy_end INTEGER NOT NULL CHECK (legacy_end >= 0), -- last plain SHA-256 row (0: none)
    created_at INTEGER NOT NULL
) STRICT;
INSERT INTO audit_anchor (id, legacy_end, created_at)
    SELECT 1, coalesce(max(seq), 0), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM audit_log;
CREATE TRIGGER audit_anchor_no_update BEFORE UPDATE ON audit_anchor
BEGIN
    SELECT RAISE(ABORT, 'audit_anchor is fixed');
END;
CREATE TRIGGER audit_anchor_no_delete BEFORE DELETE ON audit_anchor
BEGIN
    SELECT RAISE(ABORT, 'audit_anchor is fixed');
END;

CREATE TABLE audit_checkpoints (
    seq        INTEGER PRIMARY KEY CHECK (seq >= 0), -- the chain's head when signed
    hash       TEXT NOT NULL CHECK (length(hash) = 64),
    legacy_end INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    mac        TEXT NOT NULL CHECK (length(mac) = 64)
) STRICT;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;

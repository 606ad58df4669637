-- 0008_audit_anchor (PostgreSQL 15): as migrations/0008_audit_anchor.sql.
CREATE TABLE audit_anchor (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    legacy_end BIGINT NOT NULL CHECK (legacy_end >= 0),
    created_at BIGINT NOT NULL
);
INSERT INTO audit_anchor (id, legacy_end, created_at)
    SELECT 1, coalesce(max(seq), 0), vl_now_ms() FROM audit_log;
CREATE FUNCTION audit_anchor_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_anchor is fixed';
END;
$$;
CREATE TRIGGER audit_anchor_no_update BEFORE UPDATE ON audit_anchor
    FOR EACH ROW EXECUTE FUNCTION audit_anchor_fixed();
CREATE TRIGGER audit_anchor_no_delete BEFORE DELETE ON audit_anchor
    FOR EACH ROW EXECUTE FUNCTION audit_anchor_fixed();

CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY CHECK (seq >= 0),
    hash       TEXT NOT NULL CHECK (length(hash) = 64),
    legacy_end BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    mac        TEXT NOT NULL CHECK (length(mac) = 64)
);
CREATE FUNCTION audit_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_checkpoints is append-only';
END;
$$;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only();
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only();

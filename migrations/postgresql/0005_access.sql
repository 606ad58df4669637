-- 0005_access (PostgreSQL 15): as migrations/0005_access.sql. Every replica's access index
-- follows the same generation row.
CREATE TABLE access_generation (
    id    BIGINT PRIMARY KEY CHECK (id = 1),
    epoch BIGINT NOT NULL,
    gen   BIGINT NOT NULL
);
INSERT INTO access_generation (id, epoch, gen)
    VALUES (1, floor(random() * 9007199254740991)::BIGINT, 1);

CREATE FUNCTION access_gen_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE access_generation SET gen = gen + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;
CREATE TRIGGER access_gen_ra_ins AFTER INSERT ON role_assignments
    FOR EACH ROW EXECUTE FUNCTION access_gen_bump();
CREATE TRIGGER access_gen_ra_upd AFTER UPDATE ON role_assignments
    FOR EACH ROW EXECUTE FUNCTION access_gen_bump();
CREATE TRIGGER access_gen_ra_del AFTER DELETE ON role_assignments
    FOR EACH ROW EXECUTE FUNCTION access_gen_bump();
CREATE TRIGGER access_gen_p_ins AFTER INSERT ON principals
    FOR EACH ROW EXECUTE FUNCTION access_gen_bump();
CREATE TRIGGER access_gen_p_upd AFTER UPDATE ON principals
    FOR EACH ROW EXECUTE FUNCTION access_gen_bump();
CREATE TRIGGER access_gen_p_del AFTER DELETE ON principals
    FOR EACH ROW EXECUTE FUNCTION access_gen_bump();
CREATE TRIGGER access_gen_gm_ins AFTER INSERT ON group_members
    FOR EACH ROW EXECUTE FUNCTION access_gen_bump();
CREATE TRIGGER access_gen_gm_upd AFTER UPDATE ON group_members
    FOR EACH ROW EXECUTE FUNCTION access_gen_bump();
CREATE TRIGGER access_gen_gm_del AFTER DELETE ON group_members
    FOR EACH ROW EXECUTE FUNCTION access_gen_bump();
CREATE TRIGGER access_gen_g_ins AFTER INSERT ON login_grants
    FOR EACH ROW EXECUTE FUNCTION access_gen_bump();
CREATE TRIGGER access_gen_g_upd AFTER UPDATE ON login_grants
    FOR EACH ROW EXECUTE FUNCTION access_gen_bump();
CREATE TRIGGER access_gen_g_del AFTER DELETE ON login_grants
    FOR EACH ROW EXECUTE FUNCTION access_gen_bump();

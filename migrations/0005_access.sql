-- 0005_access: a generation number for effective access. GET /v1{vm}/access answers from an
-- in-memory index of the login-role assignments, group memberships and principals; every
-- write to a table that index is built from bumps access_generation.gen in the same
-- transaction, so a reader that finds the generation its index was built at knows the index
-- is exact, and one that does not falls back to the SQL path until a new index is built.
-- epoch tells one database from another (a process may open several, e.g. in tests).
CREATE TABLE access_generation (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL,
    gen   INTEGER NOT NULL
) STRICT;
INSERT INTO access_generation (id, epoch, gen) VALUES (1, random(), 1);

CREATE TRIGGER access_gen_ra_ins AFTER INSERT ON role_assignments
BEGIN UPDATE access_generation SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER access_gen_ra_upd AFTER UPDATE ON role_assignments
BEGIN UPDATE access_generation SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER access_gen_ra_del AFTER DELETE ON role_assignments
BEGIN UPDATE access_generation SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER access_gen_p_ins AFTER INSERT ON principals
BEGIN UPDATE access_generation SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER access_gen_p_upd AFTER UPDATE ON principals
BEGIN UPDATE access_generation SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER access_gen_p_del AFTER DELETE ON principals
BEGIN UPDATE access_generation SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER access_gen_gm_ins AFTER INSERT ON group_members
BEGIN UPDATE access_generation SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER access_gen_gm_upd AFTER UPDATE ON group_members
BEGIN UPDATE access_generation SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER access_gen_gm_del AFTER DELETE ON group_members
BEGIN UPDATE access_generation SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER access_gen_g_ins AFTER INSERT ON login_grants
BEGIN UPDATE access_generation SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER access_gen_g_upd AFTER UPDATE ON login_grants
BEGIN UPDATE access_generation SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER access_gen_g_del AFTER DELETE ON login_grants
BEGIN UPDATE access_generation SET gen = gen + 1 WHERE id = 1; END;

-- 0018_access_vm_facts (PostgreSQL 15): as migrations/0018_access_vm_facts.sql.
CREATE TRIGGER access_gen_vm_ins AFTER INSERT ON vms
    FOR EACH ROW EXECUTE FUNCTION access_gen_bump();
CREATE TRIGGER access_gen_vm_del AFTER DELETE ON vms
    FOR EACH ROW EXECUTE FUNCTION access_gen_bump();
CREATE TRIGGER access_gen_vm_upd AFTER UPDATE OF computer_name, gone_at ON vms
    FOR EACH ROW
    WHEN (OLD.computer_name IS DISTINCT FROM NEW.computer_name
          OR (OLD.gone_at IS NULL) <> (NEW.gone_at IS NULL))
    EXECUTE FUNCTION access_gen_bump();

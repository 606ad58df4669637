-- 0018_access_vm_facts: GET /v1{vm}/access shows whether the VM is known and its computer
-- name, and the in-memory index now holds both (one statement per answer instead of two). So
-- a write that changes either bumps the access generation, as writes to the index's other
-- tables do since 0005: an index built at another generation is not used.
CREATE TRIGGER access_gen_vm_ins AFTER INSERT ON vms
BEGIN UPDATE access_generation SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER access_gen_vm_del AFTER DELETE ON vms
BEGIN UPDATE access_generation SET gen = gen + 1 WHERE id = 1; END;
CREATE TRIGGER access_gen_vm_upd AFTER UPDATE OF computer_name, gone_at ON vms
WHEN OLD.computer_name IS NOT NEW.computer_name OR (OLD.gone_at IS NULL) <> (NEW.gone_at IS NULL)
BEGIN UPDATE access_generation SET gen = gen + 1 WHERE id = 1; END;

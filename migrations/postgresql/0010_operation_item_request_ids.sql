-- 0010_operation_item_request_ids (PostgreSQL 15): as
-- migrations/0010_operation_item_request_ids.sql.
ALTER TABLE operation_items ADD COLUMN client_request_id TEXT;
ALTER TABLE operation_items ADD COLUMN azure_request_id TEXT;

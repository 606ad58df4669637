-- 0013_idempotency_finished_only (PostgreSQL 15): as
-- migrations/0013_idempotency_finished_only.sql. SQLite rebuilds the table to tighten its
-- columns; PostgreSQL alters them in place, to the same result.
DELETE FROM idempotency_keys WHERE response_status IS NULL;
UPDATE idempotency_keys SET response_body = '' WHERE response_body IS NULL;
ALTER TABLE idempotency_keys
    ALTER COLUMN response_status SET NOT NULL,
    ALTER COLUMN response_body SET NOT NULL,
    ADD CHECK (response_status BETWEEN 100 AND 599);

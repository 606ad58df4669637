-- 0013_idempotency_finished_only: an Idempotency-Key record is written only by the write runner,
-- in the same transaction as the change it answers, so it exists only with its response. The
-- old "claimed, still running" row (response_status NULL) could outlive a crash and answer 409
-- to every retry; the table now refuses it, and unfinished rows left by older versions go.
CREATE TABLE idempotency_keys_new (
    caller          TEXT NOT NULL,                -- the authenticated identity
    key             TEXT NOT NULL,                -- Idempotency-Key header
    request_hash    TEXT NOT NULL,                -- sha256 of method, path and body
    response_status INTEGER NOT NULL CHECK (response_status BETWEEN 100 AND 599),
    response_body   TEXT NOT NULL,
    location        TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (caller, key)
) STRICT, WITHOUT ROWID;
INSERT INTO idempotency_keys_new
    SELECT caller, key, request_hash, response_status, coalesce(response_body, ''), location,
           created_at, expires_at
      FROM idempotency_keys WHERE response_status IS NOT NULL;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_new RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);

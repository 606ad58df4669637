-- 0019_rate_buckets (PostgreSQL 15): as migrations/0019_rate_buckets.sql. at_ms is the
-- database's clock (one clock for every replica), in milliseconds since the epoch.
CREATE TABLE rate_buckets (
    subject TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    at_ms BIGINT NOT NULL,
    taken DOUBLE PRECISION NOT NULL DEFAULT 0
);

-- 0019_rate_buckets: the per-caller rate limit's token buckets, shared by the replicas of a
-- PostgreSQL store (one bucket per caller whichever replica it reaches). SQLite has one replica,
-- which keeps its buckets in memory: the table is here so both backends have the same schema.
CREATE TABLE rate_buckets (
    subject TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    at_ms INTEGER NOT NULL,
    taken REAL NOT NULL DEFAULT 0 -- the tokens the last take took (a replica takes a batch)
) STRICT;

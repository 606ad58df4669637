-- 0002_sync: inventory sync bookkeeping. One row per sync run (progress while it runs, the
-- result once it ends) so GET /v1/sync answers across restarts and from any thread. The
-- observed tables themselves are unchanged; a run that finds nothing new writes only its own
-- row here, never an observed row.
CREATE TABLE sync_runs (
    id                  INTEGER PRIMARY KEY,
    state               TEXT NOT NULL DEFAULT 'running'
                        CHECK (state IN ('running', 'succeeded', 'partial', 'failed')),
    started_at          INTEGER NOT NULL,
    finished_at         INTEGER,
    subscriptions       INTEGER NOT NULL DEFAULT 0,
    vms_seen            INTEGER NOT NULL DEFAULT 0,
    vms_changed         INTEGER NOT NULL DEFAULT 0,
    vms_gone            INTEGER NOT NULL DEFAULT 0,
    extensions_seen     INTEGER NOT NULL DEFAULT 0,
    extensions_changed  INTEGER NOT NULL DEFAULT 0,
    extensions_gone     INTEGER NOT NULL DEFAULT 0,
    assignments_seen    INTEGER NOT NULL DEFAULT 0,
    assignments_changed INTEGER NOT NULL DEFAULT 0,
    assignments_gone    INTEGER NOT NULL DEFAULT 0,
    principals_seen     INTEGER NOT NULL DEFAULT 0,
    principals_changed  INTEGER NOT NULL DEFAULT 0,
    members_changed     INTEGER NOT NULL DEFAULT 0,
    rows_written        INTEGER NOT NULL DEFAULT 0, -- observed rows written by this run
    errors              INTEGER NOT NULL DEFAULT 0,
    last_error          TEXT
) STRICT;

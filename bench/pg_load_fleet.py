#!/usr/bin/env python3
"""pg_load_fleet: copies the fleet tables of a vmlogind SQLite database (bench_fleet_db's) into a
vmlogind PostgreSQL database that `vmlogind migrate` made, so the PostgreSQL benchmarks read the
very rows the SQLite ones read.

  pg_load_fleet.py --db PATH --psql 'psql -h DIR -U vmlogind -d DB'

Each table goes through one COPY (text format: NULL as \\N, tab, newline, carriage return and
backslash escaped) with triggers off for the session (session_replication_role = replica: the
access-generation triggers would fire a million times); the generation is bumped once at the
end, as the fill's last write would have. The column lists are the SQLite table's, which
contract.pg_schema_matches holds equal to PostgreSQL's."""
import argparse
import os
import shlex
import sqlite3
import subprocess
import sys

TABLES = ("subscriptions", "vms", "principals", "group_members", "role_assignments")
ESC = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def field(v):
    if v is None:
        return "\\N"
    return str(v).translate(ESC)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--psql", required=True)
    a = ap.parse_args()
    lite = sqlite3.connect("file:%s?mode=ro" % a.db, uri=True)
    psql = shlex.split(a.psql) + ["-X", "-q", "-v", "ON_ERROR_STOP=1"]
    env = dict(os.environ, PGOPTIONS="-c session_replication_role=replica")
    for t in TABLES:
        cols = [r[1] for r in lite.execute("SELECT * FROM pragma_table_info(?)", (t,))]
        copy = "COPY %s (%s) FROM STDIN" % (t, ", ".join(cols))
        p = subprocess.Popen(psql + ["-c", copy], stdin=subprocess.PIPE, env=env, text=True)
        n = 0
        for row in lite.execute("SELECT %s FROM %s" % (", ".join(cols), t)):
            p.stdin.write("\t".join(field(v) for v in row) + "\n")
            n += 1
        p.stdin.close()
        if p.wait() != 0:
            sys.exit("pg_load_fleet: COPY %s failed" % t)
        sys.stderr.write("pg_load_fleet: %s: %d rows\n" % (t, n))
    subprocess.run(psql + ["-c", "UPDATE access_generation SET gen = gen + 1; ANALYZE"],
                   check=True)


if __name__ == "__main__":
    main()

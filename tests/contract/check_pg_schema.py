#!/usr/bin/env python3
"""The PostgreSQL migrations give the schema the SQLite ones give.

check_pg_schema.py MIGRATIONS_DIR PGHOST

Applies MIGRATIONS_DIR/*.sql to a new SQLite file and MIGRATIONS_DIR/postgresql/*.sql (the
same numbers and names) to a new database on the PostgreSQL server whose socket directory is
PGHOST (user vmlogind, tests/pg/pg_server.sh), each file in its own transaction, then compares:
the tables, each table's columns (name, type by affinity, nullability, primary key), the
foreign keys, and the named indexes (name, table, unique). Then it drops a column on each side
in turn and checks that the comparison names it, so a check that compares nothing fails too.
"""
import os
import re
import sqlite3
import subprocess
import sys
import tempfile

AFFINITY = {"integer": "INTEGER", "bigint": "INTEGER", "smallint": "INTEGER", "text": "TEXT",
            "real": "REAL", "double precision": "REAL", "blob": "BLOB", "bytea": "BLOB"}


def migration_files(d):
    return sorted(f for f in os.listdir(d) if re.match(r"^[0-9]{4}_[a-z0-9_]+\.sql$", f))


# PostgreSQL 15's own psql (PG_BINDIR, as tests/pg/pg_server.sh), else Debian's wrapper.
PSQL = os.path.join(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"), "psql")
if not os.access(PSQL, os.X_OK):
    PSQL = "psql"


def psql(host, db, sql=None, path=None):
    cmd = [PSQL, "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-h", host,
           "-U", "vmlogind", "-d", db]
    cmd += ["-1", "-f", path] if path else ["-c", sql]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"psql {path or sql!r}: {r.stderr.strip()}")
    return [line.split("\t") for line in r.stdout.splitlines() if line]


def migrate_both(mdir, host, tmp, dbname, login_fix=lambda cause: None):
    """A new SQLite file in tmp and a new database dbname on host, each migrated one file per
    transaction; the SQLite connection. vl_login_fix stands for the C function the store
    registers on every SQLite connection (migration 0015's triggers call it)."""
    db = sqlite3.connect(os.path.join(tmp, "migrated.db"), isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    db.create_function("vl_login_fix", 1, login_fix)
    for f in migration_files(mdir):
        with open(os.path.join(mdir, f), encoding="utf-8") as fh:
            db.executescript("BEGIN;" + fh.read() + "\nCOMMIT;")
    psql(host, "postgres", f"CREATE DATABASE {dbname}")
    for f in migration_files(os.path.join(mdir, "postgresql")):
        psql(host, dbname, path=os.path.join(mdir, "postgresql", f))
    return db


def sqlite_schema(db):
    tables, fks, indexes = {}, set(), set()
    names = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    for t in names:
        cols = {}
        for _, name, typ, notnull, _, pk in db.execute(f"PRAGMA table_info({t})"):
            cols[name] = (typ.upper(), bool(notnull) or pk > 0, pk > 0)
        tables[t] = cols
        by_id = {}
        for fid, _, ref, frm, to, _, on_delete, _ in db.execute(f"PRAGMA foreign_key_list({t})"):
            by_id.setdefault(fid, [ref, [], [], on_delete.upper()])
            by_id[fid][1].append(frm)
            by_id[fid][2].append(to)
        for ref, frm, to, on_delete in by_id.values():
            fks.add((t, tuple(frm), ref, tuple(to), on_delete))
        for _, name, unique, origin, _ in db.execute(f"PRAGMA index_list({t})"):
            if origin == "c":  # made by CREATE INDEX; "pk"/"u" come from the table's constraints
                indexes.add((name, t, bool(unique)))
    return tables, fks, indexes


FK_RE = re.compile(r"FOREIGN KEY \(([^)]*)\) REFERENCES ([a-z_]+)\(([^)]*)\)(.*)")


def pg_schema(host, db):
    tables = {}
    for t, c, nullable, typ in psql(host, db, """
            SELECT c.table_name, c.column_name, c.is_nullable, c.data_type
              FROM information_schema.columns c
              JOIN information_schema.tables t USING (table_schema, table_name)
             WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"""):
        tables.setdefault(t, {})[c] = [AFFINITY.get(typ, typ), nullable == "NO", False]
    for t, c in psql(host, db, """
            SELECT tc.table_name, k.column_name
              FROM information_schema.table_constraints tc
              JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name)
             WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = 'public'"""):
        tables[t][c][1] = True
        tables[t][c][2] = True
    tables = {t: {c: tuple(v) for c, v in cols.items()} for t, cols in tables.items()}
    fks = set()
    for t, definition in psql(host, db, """
            SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint
             WHERE contype = 'f' AND connamespace = 'public'::regnamespace"""):
        m = FK_RE.match(definition)
        if not m:
            raise RuntimeError(f"unexpected foreign key {definition!r}")
        on_delete = re.search(r"ON DELETE (CASCADE|SET NULL|SET DEFAULT|RESTRICT)", m.group(4))
        fks.add((t, tuple(x.strip() for x in m.group(1).split(",")), m.group(2),
                 tuple(x.strip() for x in m.group(3).split(",")),
                 on_delete.group(1) if on_delete else "NO ACTION"))
    indexes = set()
    for name, t, unique in psql(host, db, """
            SELECT ic.relname, tc.relname, ix.indisunique
              FROM pg_index ix JOIN pg_class ic ON ic.oid = ix.indexrelid
              JOIN pg_class tc ON tc.oid = ix.indrelid
             WHERE tc.relnamespace = 'public'::regnamespace
               AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = ix.indexrelid)"""):
        indexes.add((name, t, unique == "t"))
    return tables, fks, indexes


def compare(lite, pg):
    problems = []
    lt, lf, li = lite
    pt, pf, pi = pg
    for t in sorted(set(lt) | set(pt)):
        if t not in pt:
            problems.append(f"table {t}: only in SQLite")
            continue
        if t not in lt:
            problems.append(f"table {t}: only in PostgreSQL")
            continue
        for c in sorted(set(lt[t]) | set(pt[t])):
            a, b = lt[t].get(c), pt[t].get(c)
            if a is None or b is None:
                problems.append(f"column {t}.{c}: only in {'PostgreSQL' if a is None else 'SQLite'}")
            elif a != b:
                problems.append(f"column {t}.{c}: SQLite (type, not null, key) {a}, "
                                f"PostgreSQL {b}")
    for fk in sorted(lf ^ pf):
        problems.append(f"foreign key {fk}: only in {'SQLite' if fk in lf else 'PostgreSQL'}")
    for ix in sorted(li ^ pi):
        problems.append(f"index {ix}: only in {'SQLite' if ix in li else 'PostgreSQL'}")
    return problems


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check_pg_schema.py MIGRATIONS_DIR PGHOST")
    mdir, host = sys.argv[1], sys.argv[2]
    lite_files = migration_files(mdir)
    pg_files = migration_files(os.path.join(mdir, "postgresql"))
    if lite_files != pg_files:
        sys.exit(f"FAIL: the migrations differ in numbers or names: SQLite only "
                 f"{sorted(set(lite_files) - set(pg_files))}, PostgreSQL only "
                 f"{sorted(set(pg_files) - set(lite_files))}")
    dbname = f"vl_schema_{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp:
        db = None
        try:
            db = migrate_both(mdir, host, tmp, dbname)
            problems = compare(sqlite_schema(db), pg_schema(host, dbname))
            if problems:
                print("FAIL: the PostgreSQL schema differs from the SQLite one:")
                print("\n".join("  " + p for p in problems))
                sys.exit(1)
            print(f"ok: {len(pg_files)} migrations, "
                  f"{len(sqlite_schema(db)[0])} tables alike on SQLite and PostgreSQL")
            # The check itself: a column dropped on either side must be reported.
            db.execute("ALTER TABLE tasks DROP COLUMN op_url")
            if "column tasks.op_url: only in PostgreSQL" not in compare(
                    sqlite_schema(db), pg_schema(host, dbname)):
                sys.exit("FAIL: a column missing in SQLite went unnoticed")
            psql(host, dbname, "ALTER TABLE vms DROP COLUMN os_name")
            if "column vms.os_name: only in SQLite" not in compare(
                    sqlite_schema(db), pg_schema(host, dbname)):
                sys.exit("FAIL: a column missing in PostgreSQL went unnoticed")
            print("ok: a column dropped on either side is reported")
        finally:
            if db is not None:
                db.close()
            psql(host, "postgres", f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The PostgreSQL migrations' triggers write what the SQLite ones write.

check_pg_triggers.py MIGRATIONS_DIR PGHOST

Migrates a new SQLite file and a new database on the test server (as check_pg_schema.py),
runs the same writes on both (operations and their items, grants, a VM's login states through
drift and repair, a failed sync, permission checks, just-in-time activations, two webhook
subscriptions), then compares the event log (type, scope, data as JSON), the webhook outbox
(subscription, message id, type, body as JSON) and the access generation. The event data of
every trigger is thereby checked key by key, value by value. Then the bytes: PostgreSQL's data
and bodies, compacted as the store reads them there (col_json: whitespace outside strings
dropped), must be SQLite's text exactly (key order, numbers, escapes), so SSE and webhook
bodies do not depend on the backend.
"""
import json
import os
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree for the import below
from check_pg_schema import migrate_both, psql  # noqa: E402

# Each write is one statement, the same text for both databases.
WRITES = [
    "INSERT INTO subscriptions (id, first_seen_at, changed_at) VALUES ('s1', 1, 1)",
    "INSERT INTO vms (id_key, id, subscription_id, resource_group, resource_group_key, name,"
    " first_seen_at, changed_at) VALUES ('/subscriptions/s1/resourcegroups/rg/providers/"
    "microsoft.compute/virtualmachines/vm1', '/subscriptions/s1/resourceGroups/RG/providers/"
    "Microsoft.Compute/virtualMachines/VM1', 's1', 'RG', 'rg', 'VM1', 1, 1)",
    "INSERT INTO webhooks (id, url, events, scopes, unlimited, secret, created_by, created_at,"
    " updated_at) VALUES ('w-all', 'https://a.example', '[\"*\"]', '[]', 1, 's', 'me', 1, 1)",
    "INSERT INTO webhooks (id, url, events, scopes, unlimited, secret, created_by, created_at,"
    " updated_at) VALUES ('w-rg', 'https://b.example',"
    " '[\"grant.active\", \"drift.detected\", \"activation.requested\"]',"
    " '[\"/subscriptions/s1/resourcegroups/rg\"]', 0, 's', 'me', 1, 1)",
    "INSERT INTO webhooks (id, url, events, unlimited, secret, enabled, created_by, created_at,"
    " updated_at) VALUES ('w-off', 'https://c.example', '[\"*\"]', 1, 's', 0, 'me', 1, 1)",
    "INSERT INTO operations (id, kind, target, target_key, created_at, updated_at)"
    " VALUES ('op1', 'loginGrant.sweep', '/subscriptions/S1', '/subscriptions/s1', 10, 10)",
    "INSERT INTO operation_items (operation_id, item_key, item, updated_at)"
    " VALUES ('op1', 'g1', 'G1', 11)",
    "UPDATE operation_items SET status = 'Running', step = 'role', updated_at = 12",
    "UPDATE operation_items SET error_code = 'x', updated_at = 13",
    "UPDATE operations SET status = 'Running', updated_at = 14",
    "UPDATE operations SET status = 'Succeeded', updated_at = 15,"
    " steps = '{\"dryRun\": true, \"counts\": {\"removed\": 2, \"kept\": 1}}'",
    "INSERT INTO login_grants (id, scope, scope_key, role, principal_id, principal_type, upn,"
    " assignment_name, created_by, created_at, updated_at) VALUES ('g1',"
    " '/subscriptions/s1/resourceGroups/RG', '/subscriptions/s1/resourcegroups/rg', 'user',"
    " 'p1', 'User', 'ann@example.com', 'a1', 'me', 20, 20)",
    "UPDATE login_grants SET state = 'active', updated_at = 21",
    "UPDATE login_grants SET expires_at = 99999, updated_at = 22",
    "UPDATE login_grants SET justification = 'no event', updated_at = 23",
    "UPDATE login_grants SET state = 'revoked', revoked_by = 'bob', updated_at = 24",
    "INSERT INTO login_grants (id, scope, scope_key, role, principal_id, principal_type,"
    " state, last_error_code, assignment_name, created_by, created_at, updated_at)"
    " VALUES ('g2', '/subscriptions/s1', '/subscriptions/s1', 'administrator', 'p2', 'Group',"
    " 'failed', 'PrincipalNotFound', 'a2', 'me', 25, 25)",
    "INSERT INTO vm_login (vm_key, state, updated_at) VALUES ('/subscriptions/s1/resourcegroups/"
    "rg/providers/microsoft.compute/virtualmachines/vm1', 'not_covered', 30)",
    "UPDATE vm_login SET state = 'pending', updated_at = 31",
    "UPDATE vm_login SET state = 'applying', step = 'identity', updated_at = 32",
    "UPDATE vm_login SET state = 'enabled', step = '', updated_at = 33",
    "UPDATE vm_login SET state = 'drifted', updated_at = 34",
    "UPDATE vm_login SET state = 'applying', updated_at = 35",
    "UPDATE vm_login SET state = 'enabled', updated_at = 36",
    "UPDATE vm_login SET state = 'drifted', updated_at = 37",
    "UPDATE vm_login SET state = 'enabled', updated_at = 38",
    "UPDATE vm_login SET state = 'failed', cause_code = '1007', cause_message = 'm',"
    " updated_at = 39",
    "UPDATE vm_login SET cause_code = '51', updated_at = 40",
    "INSERT INTO vms (id_key, id, subscription_id, resource_group, resource_group_key, name,"
    " first_seen_at, changed_at) VALUES ('/subscriptions/s1/resourcegroups/rg/providers/"
    "microsoft.compute/virtualmachines/vm2', '/subscriptions/s1/resourceGroups/rg/providers/"
    "Microsoft.Compute/virtualMachines/vm2', 's1', 'rg', 'rg', 'vm2', 1, 1)",
    "INSERT INTO vm_login (vm_key, state, cause_code, updated_at) VALUES ('/subscriptions/s1/"
    "resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm2', 'failed', '51', 41)",
    "INSERT INTO sync_runs (id, started_at) VALUES (1, 50)",
    "UPDATE sync_runs SET vms_seen = 3 WHERE id = 1",
    "UPDATE sync_runs SET finished_at = 51, state = 'failed', errors = 2, last_error = 'boom'"
    " WHERE id = 1",
    "INSERT INTO sync_runs (id, started_at) VALUES (2, 52)",
    "UPDATE sync_runs SET finished_at = 53, state = 'succeeded' WHERE id = 2",
    "INSERT INTO permission_checks VALUES ('self',"
    " '{\"missingCount\": 1, \"subscriptions\": [{\"missing\": [\"a\"]}]}', 60)",
    "UPDATE permission_checks SET result ="
    " '{\"missingCount\": 1, \"subscriptions\": [{\"missing\": [\"a\"]}]}', checked_at = 61",
    "UPDATE permission_checks SET result ="
    " '{\"missingCount\": 2, \"subscriptions\": [{\"missing\": [\"a\", \"b\"]}]}',"
    " checked_at = 62",
    "UPDATE permission_checks SET result = '{\"missingCount\": 0}', checked_at = 63",
    "INSERT INTO activations (id, eligibility_id, scope, scope_key, role, principal_id,"
    " requested_by, duration_s, state, grant_id, expires_at, created_at, updated_at)"
    " VALUES ('a1', 'e1', '/subscriptions/s1/resourceGroups/RG',"
    " '/subscriptions/s1/resourcegroups/rg', 'user', 'p3', 'user:p3', 3600, 'active', 'g3',"
    " 80000, 70, 70)",
    "INSERT INTO login_grants (id, scope, scope_key, role, principal_id, principal_type, state,"
    " assignment_name, activation_id, created_by, created_at, updated_at) VALUES ('g3',"
    " '/subscriptions/s1/resourceGroups/RG', '/subscriptions/s1/resourcegroups/rg', 'user',"
    " 'p3', 'User', 'active', 'a3', 'a1', 'me', 71, 71)",
    "UPDATE login_grants SET state = 'expired', updated_at = 72 WHERE id = 'g3'",
    "INSERT INTO activations (id, eligibility_id, scope, scope_key, role, principal_id,"
    " requested_by, duration_s, state, created_at, updated_at) VALUES ('a2', 'e1',"
    " '/subscriptions/s1', '/subscriptions/s1', 'administrator', 'p4', 'user:p4', 600,"
    " 'pendingApproval', 73, 73)",
    "UPDATE activations SET state = 'active', decided_by = 'boss', grant_id = 'g4',"
    " expires_at = 90000, updated_at = 74 WHERE id = 'a2'",
    "UPDATE activations SET state = 'deactivated', reason = 'done', updated_at = 75"
    " WHERE id = 'a2'",
    "INSERT INTO activations (id, eligibility_id, scope, scope_key, role, principal_id,"
    " requested_by, duration_s, state, created_at, updated_at) VALUES ('a3', 'e1',"
    " '/subscriptions/s1', '/subscriptions/s1', 'user', 'p5', 'user:p5', 600,"
    " 'pendingApproval', 76, 76)",
    "UPDATE activations SET state = 'denied', decided_by = 'boss', reason = 'no',"
    " updated_at = 77 WHERE id = 'a3'",
    "DELETE FROM login_grants WHERE id = 'g2'",
]

EVENTS = "SELECT seq, at, type, scope, data FROM events ORDER BY seq"
DELIVERIES = "SELECT webhook_id, msg_id, seq, type, body FROM webhook_deliveries ORDER BY id"
GEN = "SELECT gen FROM access_generation"


def norm_events(rows):
    return [(int(s), int(a), t, sc if sc not in ("", None) else None, json.loads(d))
            for s, a, t, sc, d in rows]


def norm_deliveries(rows):
    return [(w, m, int(s) if s not in ("", None) else None, t, json.loads(b))
            for w, m, s, t, b in rows]


def compact(text):
    """text without the whitespace outside JSON strings, as store.c's json_compact makes it."""
    out, in_str, esc = [], False, False
    for ch in text:
        if in_str:
            esc, in_str = (False, in_str) if esc else (ch == "\\", ch != '"')
        elif ch in " \t\n\r":
            continue
        else:
            in_str = ch == '"'
        out.append(ch)
    return "".join(out)


def byte_problems(what, lite_rows, pg_rows, col):
    """Rows whose JSON text at col differs from SQLite's once PostgreSQL's is compacted."""
    return [f"{what} {i + 1} bytes: SQLite {a[col]}\n      PostgreSQL {compact(b[col])}"
            for i, (a, b) in enumerate(zip(lite_rows, pg_rows)) if a[col] != compact(b[col])]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check_pg_triggers.py MIGRATIONS_DIR PGHOST")
    mdir, host = sys.argv[1], sys.argv[2]
    dbname = f"vl_triggers_{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp:
        db = None
        try:
            # The fix of a cause code comes from a C table on both backends (vmlogind migrate
            # makes the PostgreSQL one); here the same stub on both.
            db = migrate_both(mdir, host, tmp, dbname,
                              lambda cause: None if cause is None else "fix for " + cause)
            psql(host, dbname, "CREATE FUNCTION vl_login_fix(cause TEXT) RETURNS TEXT"
                 " LANGUAGE sql AS $$ SELECT 'fix for ' || cause $$")
            gen0 = (db.execute(GEN).fetchone()[0], int(psql(host, dbname, GEN)[0][0]))
            for w in WRITES:
                db.execute(w)
            # One psql for all the writes, in order (one transaction: the triggers run per
            # statement all the same).
            script = os.path.join(tmp, "writes.sql")
            with open(script, "w", encoding="utf-8") as fh:
                fh.write("".join(w + ";\n" for w in WRITES))
            psql(host, dbname, path=script)
            problems = []
            lite_rows, pg_rows = db.execute(EVENTS).fetchall(), psql(host, dbname, EVENTS)
            problems += byte_problems("event", lite_rows, pg_rows, 4)
            lite_ev, pg_ev = norm_events(lite_rows), norm_events(pg_rows)
            for i in range(max(len(lite_ev), len(pg_ev))):
                a = lite_ev[i] if i < len(lite_ev) else None
                b = pg_ev[i] if i < len(pg_ev) else None
                if a != b:
                    problems.append(f"event {i + 1}: SQLite {a}\n      PostgreSQL {b}")
            lite_rows, pg_rows = db.execute(DELIVERIES).fetchall(), psql(host, dbname, DELIVERIES)
            problems += byte_problems("webhook delivery", lite_rows, pg_rows, 4)
            lite_dl, pg_dl = norm_deliveries(lite_rows), norm_deliveries(pg_rows)
            if lite_dl != pg_dl:
                problems.append(f"webhook deliveries: SQLite {lite_dl}\n      PostgreSQL {pg_dl}")
            gens = (db.execute(GEN).fetchone()[0] - gen0[0],
                    int(psql(host, dbname, GEN)[0][0]) - gen0[1])
            if gens[0] != gens[1]:
                problems.append(f"access generation moved by {gens[0]} on SQLite, "
                                f"{gens[1]} on PostgreSQL")
            types = sorted({e[2] for e in lite_ev})
            if len(types) != 21:
                problems.append(f"the writes made {len(types)} event types, not all 21")
            if problems:
                print("FAIL: the PostgreSQL triggers differ from the SQLite ones:")
                print("\n".join("  " + p for p in problems))
                sys.exit(1)
            print(f"ok: {len(WRITES)} writes, {len(lite_ev)} events of {len(types)} types, "
                  f"{len(lite_dl)} webhook deliveries, access generation +{gens[0]}: alike")
        finally:
            if db is not None:
                db.close()
            psql(host, "postgres", f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""fill_fleet: writes a genfleet fleet straight into a vmlogind database, row for row as the
inventory sync would have stored it after syncing that fleet from azsim.

  fill_fleet.py --db PATH --fleet DIR

DIR holds genfleet's fleet.json and fleet-ra.tsv. PATH must already carry vmlogind's schema
(`vmlogind migrate --db PATH`); the observed tables must be empty.

Why not a sync through azsim: a 1M-assignment sync through the simulated ARM and Graph takes
minutes (paging, throttling, getByIds in batches of 1000) and measures the sync, which
bench_sync holds to its own budget. The access, memory and startup benchmarks measure reads of
a store that holds the fleet, so they fill it directly. The rows follow what
server/reconcile/reconcile_sync.c hands to server/store/store_{subscriptions,vms,
role_assignments,principals}.c for the same fleet:
  - subscriptions: lowercase id, display name, state Enabled, the tenant;
  - vms: id_key = lower(id), ARM id as azsim writes it, subscription lowercase,
    resource_group_key lowercase, computerName = the name cut to 15 characters (azsim's
    default), OS and image facts from the scenario, power state running|deallocated,
    provisioning Succeeded, the system identity when present, tags {}, generation 1;
  - role_assignments: only the two VM login roles; id = scope +
    /providers/Microsoft.Authorization/roleAssignments/NAME, id_key/scope_key lowercase,
    role GUID and principal id lowercase;
  - principals: every user and group an assignment names or a group holds (getByIds and
    transitiveMembers), users with userType Member unless the scenario says otherwise and
    accountEnabled, groups with neither;
  - group_members: each group's TRANSITIVE members (Graph transitiveMembers, including the
    nested groups themselves), as sync_group stores them.
No extensions (genfleet gives the VMs none), no grants, no login settings."""
import argparse
import json
import os
import sqlite3
import sys
import time
import uuid

LOGIN_ROLES = {"1c0163c0-47e6-4577-8991-ea5c82e286e4", "fb879df8-f326-4884-b1cf-06f3ad86be52"}
NS = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")


def vm_rows(fleet, now):
    for vm in fleet["vms"]:
        sub = vm["subscriptionId"].lower()
        rg, name = vm["resourceGroup"], vm["name"]
        arm = ("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/"
               "virtualMachines/%s" % (sub, rg, name))
        img = vm.get("imageReference", {})
        ident = vm.get("identity") or {}
        yield (arm.lower(), arm, sub, rg, rg.lower(), name, vm.get("location", ""),
               vm.get("vmId") or str(uuid.uuid5(NS, "vmid|" + arm.lower())),
               vm.get("computerName") or name[:15], vm.get("osType", "Windows"),
               img.get("publisher", ""), img.get("offer", ""), img.get("sku", ""),
               img.get("version", ""), "", vm.get("osName", ""), vm.get("osVersion", ""),
               vm.get("powerState", "running"), "Succeeded", ident.get("type", ""),
               ident.get("principalId", ""), "[]", json.dumps(vm.get("tags", {}),
                                                             separators=(",", ":")),
               now, now)


def ra_rows(path, now, named):
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                continue
            name, scope, role, pid, ptype = line.rstrip("\n").split("\t")
            if role.lower() not in LOGIN_ROLES:
                continue
            arm = "%s/providers/Microsoft.Authorization/roleAssignments/%s" % (scope, name)
            named.add(pid.lower())
            yield (arm.lower(), arm, name.lower(), scope, scope.lower(), role.lower(),
                   pid.lower(), ptype, now, "", now)


def transitive(groups):
    """group id -> {member id: kind}, nested groups expanded (and listed themselves)."""
    direct = {g["id"].lower(): [m.lower() for m in g.get("members", [])] for g in groups}
    out = {}
    for gid in direct:
        seen, stack = {}, list(direct[gid])
        while stack:
            m = stack.pop()
            if m in seen or m == gid:
                continue
            seen[m] = "group" if m in direct else "user"
            if m in direct:
                stack.extend(direct[m])
        out[gid] = seen
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--fleet", required=True)
    a = ap.parse_args()
    t0 = time.monotonic()
    now = int(time.time() * 1000)
    with open(os.path.join(a.fleet, "fleet.json")) as f:
        fleet = json.load(f)
    db = sqlite3.connect(a.db, isolation_level=None)
    db.execute("PRAGMA journal_mode = OFF")  # a scratch file: no rollback needed while filling
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -1048576")  # index builds in memory, not through pread
    db.execute("PRAGMA foreign_keys = ON")
    if db.execute("SELECT count(*) FROM vms").fetchone()[0] != 0:
        sys.exit("fill_fleet: %s already holds VMs" % a.db)
    db.execute("BEGIN")
    db.executemany("INSERT INTO subscriptions (id, display_name, state, tenant_id,"
                   " first_seen_at, changed_at) VALUES (?, ?, 'Enabled', ?, ?, ?)",
                   [(s["subscriptionId"].lower(), s.get("displayName", ""),
                     fleet["tenantId"].lower(), now, now) for s in fleet["subscriptions"]])
    db.executemany("INSERT INTO vms (id_key, id, subscription_id, resource_group,"
                   " resource_group_key, name, location, vm_id, computer_name, os_type,"
                   " image_publisher, image_offer, image_sku, image_version, image_id, os_name,"
                   " os_version, power_state, provisioning_state, identity_type,"
                   " identity_principal_id, user_assigned_ids, tags, first_seen_at, changed_at)"
                   " VALUES (" + ", ".join("?" * 25) + ")", vm_rows(fleet, now))
    named = set()
    db.executemany("INSERT INTO role_assignments (id_key, id, name, scope, scope_key,"
                   " role_definition_id, principal_id, principal_type, created_on, created_by,"
                   " changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   ra_rows(os.path.join(a.fleet, "fleet-ra.tsv"), now, named))
    members = transitive(fleet.get("groups", []))
    for m in members.values():
        named.update(m)
    principals = []
    for u in fleet.get("users", []):
        if u["id"].lower() in named:
            upn = u.get("userPrincipalName")
            principals.append((u["id"].lower(), "user", upn, upn.lower() if upn else None,
                               u.get("displayName", ""), u.get("userType", "Member"),
                               0 if u.get("accountEnabled") is False else 1, now, now))
    for g in fleet.get("groups", []):
        if g["id"].lower() in named or g["id"].lower() in members:
            principals.append((g["id"].lower(), "group", None, None, g.get("displayName", ""),
                               "", None, now, now))
    db.executemany("INSERT INTO principals (id, kind, upn, upn_key, display_name, user_type,"
                   " account_enabled, deleted, changed_at, checked_at)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, 'none', ?, ?)", principals)
    db.executemany("INSERT INTO group_members (group_id, member_id, member_kind, changed_at)"
                   " VALUES (?, ?, ?, ?)",
                   [(g, m, k, now) for g, ms in members.items() for m, k in ms.items()])
    db.execute("COMMIT")
    db.execute("PRAGMA journal_mode = WAL")  # as vmlogind leaves it
    counts = {t: db.execute("SELECT count(*) FROM " + t).fetchone()[0]
              for t in ("subscriptions", "vms", "role_assignments", "principals",
                        "group_members")}
    db.close()
    print("fill_fleet: %s in %.1f s" % (", ".join("%s=%d" % kv for kv in counts.items()),
                                          time.monotonic() - t0))


if __name__ == "__main__":
    main()

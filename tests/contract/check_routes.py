#!/usr/bin/env python3
"""The route table (vmlogind --list-routes) and api/openapi.yaml list the same operations."""
import re
import subprocess
import sys

binary, spec = sys.argv[1], sys.argv[2]
routes = set()
for line in subprocess.run([binary, "--list-routes"], check=True, capture_output=True,
                           text=True).stdout.splitlines():
    method, path = line.split(" ", 1)
    routes.add((method.upper(), path))

ops = set()
path = None
in_paths = False
for line in open(spec, encoding="utf-8"):
    if re.match(r"^paths:\s*$", line):
        in_paths = True
        continue
    if in_paths and re.match(r"^\S", line):
        in_paths = False
    if not in_paths:
        continue
    m = re.match(r"^  (/\S*):\s*$", line)
    if m:
        path = m.group(1)
        continue
    m = re.match(r"^    (get|put|post|delete|patch|head|options):\s*$", line)
    if m and path:
        ops.add((m.group(1).upper(), path))

ok = True
for r in sorted(routes - ops):
    print(f"served but not in openapi.yaml: {r[0]} {r[1]}")
    ok = False
for r in sorted(ops - routes):
    print(f"in openapi.yaml but not served: {r[0]} {r[1]}")
    ok = False
print(f"{len(routes)} routes, {len(ops)} operations")
sys.exit(0 if ok else 1)

#!/usr/bin/env python3
"""deploy/vmlogind.conf.example shows every setting of the table (vmlogind --list-settings)
once, and nothing else: set ("key = value") or commented out ("#key = value"), and a
commented-out line shows the default, as the file says."""
import re
import subprocess
import sys
from collections import Counter

binary, example = sys.argv[1], sys.argv[2]
table = {}
for line in subprocess.run([binary, "--list-settings"], check=True, capture_output=True,
                           text=True).stdout.splitlines():
    key, default = line.split("\t")[:2]
    table[key] = default

ok = bool(table)
shown = Counter()
for line in open(example, encoding="utf-8"):
    m = re.match(r"^(#?)([a-z][a-z0-9_]*)\s*=\s*(.*?)\s*$", line)
    if not m:
        continue
    shown[m.group(2)] += 1
    if m.group(1) and m.group(2) in table and m.group(3) != table[m.group(2)]:
        print(f"{example}: #{m.group(2)} = {m.group(3)}, but the default is '{table[m.group(2)]}'")
        ok = False
if not table:
    print("vmlogind --list-settings printed nothing")
for k in table:
    if k not in shown:
        print(f"in the settings table but not in {example}: {k}")
        ok = False
for k in sorted(set(shown) - set(table)):
    print(f"in {example} but not a setting: {k}")
    ok = False
for k, n in sorted(shown.items()):
    if n > 1:
        print(f"shown {n} times in {example}: {k}")
        ok = False
print(f"{len(table)} settings, {len(shown)} keys in the example")
sys.exit(0 if ok else 1)

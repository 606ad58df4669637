#!/usr/bin/env python3
"""Every metric the Grafana dashboard (deploy/grafana/vmlogind.json) or the alert rules
(deploy/prometheus/alerts.yaml) name is one the real daemon's /metrics exports: vmlogind is
started on a fresh database (with an HTTPS certificate, so the certificate expiry is there too)
and scraped; a name counts when /metrics declares it (# TYPE, histograms with their _bucket,
_sum and _count) or has a sample of it.
    check_metrics.py VMLOGIND_BIN DASHBOARD_JSON ALERTS_YAML"""
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

binary, dashboard, alerts = sys.argv[1:4]
NAME = re.compile(r"\bvmlogind_[a-z0-9_]+")


def exprs_of_dashboard(path):
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    for p in d.get("panels", []):
        for t in p.get("targets", []):
            yield f"{path}: panel '{p.get('title')}'", t.get("expr", "")


def exprs_of_alerts(path):
    import yaml  # python3-yaml; only this check needs it
    with open(path, encoding="utf-8") as f:
        d = yaml.safe_load(f)
    for g in d.get("groups", []):
        for r in g.get("rules", []):
            yield f"{path}: rule {r.get('alert') or r.get('record')}", str(r.get("expr", ""))


def scrape():
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                        "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        db = os.path.join(tmp, "v.db")
        env = dict(os.environ, VMLOGIND_TLS_CERT_FILE=cert, VMLOGIND_TLS_KEY_FILE=key)
        subprocess.run([binary, "migrate", "--db", db], check=True, capture_output=True, env=env)
        p = subprocess.Popen([binary, "--db", db, "--listen", "127.0.0.1:0"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = p.stdout.readline()
            m = re.match(r"listening on (\S+)", line)
            if not m:
                sys.exit(f"vmlogind did not start: {line!r}")
            ctx = ssl.create_default_context(cafile=cert)
            ctx.check_hostname = False
            deadline = time.monotonic() + 20
            while True:
                try:
                    with urllib.request.urlopen(m.group(1) + "/metrics", context=ctx,
                                                timeout=10) as r:
                        return r.read().decode()
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        finally:
            p.terminate()
            p.wait(timeout=10)


text = scrape()
exported = set()
for line in text.splitlines():
    m = re.match(r"# TYPE (\S+) (\S+)", line)
    if m:
        exported.add(m.group(1))
        if m.group(2) == "histogram":
            exported.update(m.group(1) + s for s in ("_bucket", "_sum", "_count"))
    elif line and not line.startswith("#"):
        exported.add(re.split(r"[{ ]", line, maxsplit=1)[0])

ok = True
named = 0
for where, expr in list(exprs_of_dashboard(dashboard)) + list(exprs_of_alerts(alerts)):
    if not expr.strip():
        print(f"{where}: no expression")
        ok = False
    for name in NAME.findall(expr):
        named += 1
        if name not in exported:
            print(f"{where}: {name} is not exported by /metrics")
            ok = False
if named == 0:
    print("no metric named at all: the files were not read")
    ok = False
print(f"{named} metric references checked against {len(exported)} exported names")
sys.exit(0 if ok else 1)

#!/usr/bin/env python3
"""bench_enable200: DESIGN section 8, enable Entra login plus one administrator-login grant on
200 VMs against azsim with real LRO delays and ARM's real write limits.

  bench_enable200.py --vmlogind BIN --azsim BIN --scenario demo.json --dir SCRATCH
                     [--vms 200] [--time-scale 1] [--timeout 900]

azsim runs the demo tenant with --time-scale 1 (identity PATCH 10 s, AADLoginForWindows install
90 s) and its default throttle (ARM writes: bucket 200, refill 10/s per subscription). 200
Windows Server 2022 VMs without identity are added to resource group rg-bench200 through
POST /_sim/vms; vmlogind (default settings apart from the custom-cloud ones that point it at
azsim) syncs once, then the clock starts:
  PUT /v1/subscriptions/{s}/resourceGroups/rg-bench200/entraLogin   (one request)
  POST /v1/loginGrants  administrator for alice@contoso.example at each VM's scope (200)
and stops when the entraLogin operation has Succeeded with every VM Succeeded and every grant
is active. azsim's /_sim/stats (reset when the clock starts) gives the writes actually made
(vm.patch, ext.put, ra.put: they share the write bucket) and the throttling violations.

The bound: with W writes, bucket B and refill R, the throttle alone needs (W - B) / R. With
real LRO delays, a lower bound on any schedule is the largest of
  (W - B) / R                       every write needs a token;
  identity LRO + extension LRO      one VM's chain;
  (W_chain - B) / R + extension LRO every identity PATCH and extension PUT precedes the last
                                    extension PUT, which still runs its LRO;
and the benchmark reports the time against that bound (budget <= 1.05x)."""
import argparse
import http.client
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from bench_startup import stop  # noqa: E402

SUB = "5d0f6e8a-0000-4000-8000-00000000bbbb"
TENANT = "8f3c1a2e-0000-4000-8000-00000000aaaa"
CLIENT = "0a1b2c3d-0000-4000-8000-00000000c001"
SECRET = "azsim-demo-secret-not-a-credential"
RG = "rg-bench200"
UPN = "alice@contoso.example"
WRITE_OPS = ("vm.patch", "ext.put", "ra.put")
BUCKET, REFILL = 200.0, 10.0
LRO_IDENTITY_S, LRO_EXTENSION_S = 10.0, 90.0  # azsim at --time-scale 1


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))


class Client:
    def __init__(self, url, key=None, cafile=None):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.https = u.hostname, u.port, u.scheme == "https"
        self.ctx = ssl.create_default_context(cafile=cafile) if self.https else None
        self.key = key
        self.conn = None

    def call(self, method, path, body=None, want=None):
        hdr = {"Content-Type": "application/json"} if body is not None else {}
        if self.key:
            hdr["Authorization"] = "Bearer " + self.key
        for attempt in range(60):
            if self.conn is None:
                self.conn = (http.client.HTTPSConnection(self.host, self.port, context=self.ctx,
                                                         timeout=30) if self.https else
                             http.client.HTTPConnection(self.host, self.port, timeout=30))
            try:
                self.conn.request(method, path, json.dumps(body) if body is not None else None,
                                  hdr)
                r = self.conn.getresponse()
                data = r.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            if r.status != 429:  # vmlogind's per-caller rate limit: wait as told, like a client
                break
            time.sleep(float(r.getheader("Retry-After") or 1))
        j = json.loads(data) if data else None
        if want is not None and r.status != want:
            sys.exit("bench_enable200: %s %s answered %d: %s" % (method, path, r.status,
                                                                  data[:500]))
        return r.status, j, r


def start(cmd, out, err):
    p = subprocess.Popen(cmd, stdout=open(out, "w"), stderr=open(err, "w"))
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        with open(out) as f:
            for line in f:
                if line.startswith("listening on "):
                    return p, line[len("listening on "):].strip()
        if p.poll() is not None:
            break
        time.sleep(0.02)
    sys.exit("bench_enable200: %s did not start (see %s)" % (cmd[0], err))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vmlogind", required=True)
    ap.add_argument("--azsim", required=True)
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--vms", type=int, default=200)
    ap.add_argument("--time-scale", default="1")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="an extra vmlogind setting (repeatable), e.g. reconcile_workers = 16")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    cert, key = os.path.join(a.dir, "tls.crt"), os.path.join(a.dir, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    sim_p = vl_p = None
    try:
        sim_p, sim_url = start([a.azsim, "--listen", "127.0.0.1:0", "--tls-cert", cert,
                                "--tls-key", key, "--scenario", a.scenario, "--time-scale",
                                a.time_scale], os.path.join(a.dir, "azsim.out"),
                               os.path.join(a.dir, "azsim.log"))
        sim = Client(sim_url, cafile=cert)
        for i in range(a.vms):
            sim.call("POST", "/_sim/vms", {
                "subscriptionId": SUB, "resourceGroup": RG, "name": "bench-%03d" % i,
                "location": "westeurope", "osType": "Windows",
                "osName": "Windows Server 2022 Datacenter Azure Edition",
                "osVersion": "10.0.20348.2762",
                "imageReference": {"publisher": "MicrosoftWindowsServer",
                                   "offer": "WindowsServer",
                                   "sku": "2022-datacenter-azure-edition",
                                   "version": "latest"}}, want=201)
        secret = os.path.join(a.dir, "client-secret")
        with open(secret, "w") as f:
            f.write(SECRET)
        db = os.path.join(a.dir, "vmlogind.db")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.unlink(db + suffix)
        cfg = os.path.join(a.dir, "vmlogind.conf")
        with open(cfg, "w") as f:
            f.write("db = %s\ncloud = custom\narm_url = %s\nlogin_url = %s\ngraph_url = %s\n"
                    "imds_url = %s\ntenant_id = %s\nclient_id = %s\ncredential = secret\n"
                    "client_secret_file = %s\nca_bundle = %s\nsync_interval_s = 0\n"
                    % (db, sim_url, sim_url, sim_url, sim_url, TENANT, CLIENT, secret, cert))
            for line in a.set:
                f.write(line + "\n")
        out = subprocess.run([a.vmlogind, "--config", cfg, "keys", "create", "--name", "bench",
                              "--role", "administrator"], check=True, capture_output=True,
                             text=True).stdout
        api_key = next(w for w in out.split() if w.startswith("vlk_"))
        vl_p, vl_url = start([a.vmlogind, "--config", cfg, "--listen", "127.0.0.1:0"],
                             os.path.join(a.dir, "vmlogind.out"),
                             os.path.join(a.dir, "vmlogind.log"))
        vl = Client(vl_url, key=api_key)
        # The inventory as it would be in steady state: one sync before the clock starts.
        vl.call("POST", "/v1/sync", {}, want=202)
        t0 = time.monotonic()
        while True:
            _, j, _ = vl.call("GET", "/v1/sync", want=200)
            if j["state"] == "idle" and j.get("nextRunAt") is None and j.get("last"):
                break
            if time.monotonic() - t0 > 120:
                sys.exit("bench_enable200: the first sync did not finish: %s" % j)
            time.sleep(0.2)
        log("first sync: %s" % json.dumps(j["last"]["counts"]["vms"]))
        sim.call("POST", "/_sim/stats/reset", want=200)

        log("clock starts: PUT entraLogin at %s and %d grants" % (RG, a.vms))
        t_start = time.monotonic()
        _, op, _ = vl.call("PUT", "/v1/subscriptions/%s/resourceGroups/%s/entraLogin"
                           % (SUB, RG), {}, want=202)
        grants = []
        for i in range(a.vms):
            scope = ("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/"
                     "virtualMachines/bench-%03d" % (SUB, RG, i))
            st, g, _ = vl.call("POST", "/v1/loginGrants", {"scope": scope, "role": "administrator",
                                                            "principal": {"upn": UPN}})
            if st not in (200, 201, 202):
                sys.exit("bench_enable200: POST /v1/loginGrants answered %d: %s" % (st, g))
            grants.append(g["id"])
        t_requests = time.monotonic() - t_start
        grant_ids = set(grants)
        op_done = grants_done = None
        last_write = {}  # op -> when its count was last seen growing (the timeline of writes)
        seen = {}
        next_stats = 0.0
        while True:
            now = time.monotonic() - t_start
            if now >= next_stats:
                _, st, _ = sim.call("GET", "/_sim/stats", want=200)
                for k in WRITE_OPS:
                    c = int(st.get("requests", {}).get(k, 0))
                    if c != seen.get(k):
                        seen[k], last_write[k] = c, now
                next_stats = now + 1.0
            if op_done is None:
                _, o, _ = vl.call("GET", "/v1/operations/%s" % op["id"], want=200)
                if o.get("status") not in ("NotStarted", "Running"):
                    op_done = now
                    items = o.get("virtualMachines") or []
                    ok = sum(1 for it in items if it.get("status") == "Succeeded")
                    log("operation %s after %.1f s: %d of %d VMs Succeeded"
                        % (o.get("status"), now, ok, len(items)))
                    if o.get("status") != "Succeeded" or ok != a.vms:
                        sys.exit("bench_enable200: the operation ended %s: %s"
                                 % (o.get("status"), json.dumps(o)[:2000]))
            if grants_done is None:
                active = 0
                path = "/v1/loginGrants?state=active&limit=1000"
                while path:
                    _, page, _ = vl.call("GET", path, want=200)
                    active += sum(1 for g in page.get("value", []) if g.get("id") in grant_ids)
                    nl = page.get("nextLink")
                    path = urllib.parse.urlsplit(nl).path + "?" + urllib.parse.urlsplit(
                        nl).query if nl else None
                if active == a.vms:
                    grants_done = now
                    log("all %d grants active after %.1f s" % (a.vms, now))
            if op_done is not None and grants_done is not None:
                break
            if now > a.timeout:
                sys.exit("bench_enable200: not done after %.0f s (operation %s, grants %s)"
                         % (now, op_done, grants_done))
            time.sleep(0.1)
        elapsed = max(op_done, grants_done)
        _, stats, _ = sim.call("GET", "/_sim/stats", want=200)
        req = stats.get("requests", {})
        writes = {k: int(req.get(k, 0)) for k in WRITE_OPS}
        w = sum(writes.values())
        chain = writes["vm.patch"] + writes["ext.put"]
        throttle_only = max(0.0, (w - BUCKET) / REFILL)
        lro_chain = (LRO_IDENTITY_S if writes["vm.patch"] else 0.0) + LRO_EXTENSION_S
        chain_bound = max(0.0, (chain - BUCKET) / REFILL) + LRO_EXTENSION_S
        bound = max(throttle_only, lro_chain, chain_bound)
        print("enable200: %d VMs enabled and granted in %.1f s (requests sent in %.1f s);"
              " writes %d (%s); 429s %d; violations %d; bound %.1f s (throttle alone %.1f s,"
              " one VM's LRO chain %.1f s, chain writes then the last install %.1f s)"
              % (a.vms, elapsed, t_requests, w,
                 ", ".join("%s %d" % kv for kv in writes.items()), stats.get("throttled429", 0),
                 stats.get("violations", 0), bound, throttle_only, lro_chain, chain_bound))
        print("enable200: last write seen at (1 s resolution): %s"
              % ", ".join("%s %.0f s" % (k, last_write.get(k, 0)) for k in WRITE_OPS))
        print("enable200: requests azsim answered, by operation: %s"
              % ", ".join("%s %d" % (k, int(v)) for k, v in sorted(req.items()) if int(v)))
        ratio = elapsed / bound if bound > 0 else float("nan")
        viol = int(stats.get("violations", 0))
        print("RESULT\tenable200 time\t-\t%.1f s\t-" % elapsed)
        print("RESULT\tenable200 bound (%d writes)\t-\t%.1f s\t-" % (w, bound))
        print("RESULT\tenable200 / bound\t<= 1.05x\t%.3fx\t%s"
              % (ratio, "PASS" if ratio <= 1.05 else "FAIL"))
        print("RESULT\tenable200 throttle violations\t0\t%d\t%s"
              % (viol, "PASS" if viol == 0 else "FAIL"))
    finally:
        stop(vl_p)
        stop(sim_p)


if __name__ == "__main__":
    main()

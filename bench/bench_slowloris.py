#!/usr/bin/env python3
"""bench_slowloris: the attack of issue 10 item 3 against vmlogind's default limits. Opens N
half-open connections (default 1100) spread over several loopback source addresses (127.0.0.2,
127.0.0.3, ...: the per-address limit alone would hold one address), each sending one header
line every --trickle seconds and never finishing its headers, while a prober asks GET /healthz
and an authenticated GET /v1/virtualMachines once a second. Prints what the server cut and how
the probes fared. Starts and stops its own vmlogind (SQLite file in a temporary directory).

  bench_slowloris.py --vmlogind BUILD/server/vmlogind [--conns 1100] [--addrs 10]
                     [--seconds 30] [--trickle 5]

Prints: slowloris conns=N open_peak=P cut=C probes=K probe_ok=O probe_p50_ms=.. probe_max_ms=..
and a RESULT line for scripts/bench.sh (PASS when every probe was answered 200).
"""
import argparse
import http.client
import os
import resource
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, key=None, timeout=5.0):
    """(status or None, milliseconds)."""
    t0 = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("GET", path, headers={"Authorization": "Bearer " + key} if key else {})
        st = c.getresponse().status
        c.close()
    except OSError:
        st = None
    return st, (time.monotonic() - t0) * 1000


def start(binary, tmp, port):
    db = os.path.join(tmp, "vmlogind.db")
    base = [binary, "--db", db]
    subprocess.run(base[:1] + ["migrate", "--db", db], check=True, stdout=subprocess.DEVNULL)
    key = subprocess.run(base[:1] + ["keys", "create", "--name", "probe", "--role", "reader",
                                     "--db", db],
                         check=True, capture_output=True, text=True).stdout.split()[-1]
    p = subprocess.Popen(base + ["--listen", "127.0.0.1:%d" % port],
                         stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "log"), "w"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if get(port, "/readyz", timeout=1)[0] == 200:
            return p, key
        if p.poll() is not None:
            sys.exit("bench_slowloris: vmlogind exited: see %s/log" % tmp)
        time.sleep(0.05)
    sys.exit("bench_slowloris: vmlogind not ready in 20 s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vmlogind", required=True)
    ap.add_argument("--conns", type=int, default=1100)
    ap.add_argument("--addrs", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--trickle", type=float, default=5)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, a.conns + 256)), hard))
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="bench-slowloris-")
    srv, key = start(a.vmlogind, tmp, port)
    sel = selectors.DefaultSelector()
    socks, cut, peak, probes = [], 0, 0, []
    try:
        for i in range(a.conns):
            s = socket.socket()
            s.bind(("127.0.0.%d" % (2 + i % a.addrs), 0))
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            socks.append(s)
            sel.register(s, selectors.EVENT_READ)
        t_end = time.monotonic() + a.seconds
        next_trickle = next_probe = time.monotonic()
        n = 0
        while time.monotonic() < t_end:
            now = time.monotonic()
            if now >= next_trickle:
                for s in list(socks):
                    try:
                        s.send(b"GET /healthz HTTP/1.1\r\n" if n == 0 else b"X-a: b\r\n")
                    except OSError:
                        pass
                n += 1
                next_trickle = now + a.trickle
            if now >= next_probe:
                probes.append(get(port, "/healthz"))
                probes.append(get(port, "/v1/virtualMachines?limit=1", key))
                next_probe = now + 1.0
            for k, _ in sel.select(timeout=0.05):
                s = k.fileobj
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:  # the server closed it (or answered and closed)
                    sel.unregister(s)
                    s.close()
                    socks.remove(s)
                    cut += 1
            peak = max(peak, len(socks))
    finally:
        for s in socks:
            s.close()
        srv.send_signal(signal.SIGTERM)
        try:
            srv.wait(timeout=10)
        except subprocess.TimeoutExpired:
            srv.kill()
    ok = [ms for st, ms in probes if st == 200]
    print("slowloris conns=%d addrs=%d seconds=%.0f open_peak=%d cut=%d probes=%d probe_ok=%d "
          "probe_p50_ms=%.1f probe_max_ms=%.1f"
          % (a.conns, a.addrs, a.seconds, peak, cut, len(probes), len(ok),
             statistics.median(ok) if ok else -1, max(ok) if ok else -1))
    print("RESULT\tslowloris probes answered\tall\t%d/%d (max %.0f ms)\t%s"
          % (len(ok), len(probes), max(ok) if ok else -1,
             "PASS" if probes and len(ok) == len(probes) else "FAIL"))


if __name__ == "__main__":
    main()

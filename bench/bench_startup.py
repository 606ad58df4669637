#!/usr/bin/env python3
"""bench_startup: start-to-ready time of a server. Runs CMD with --listen 127.0.0.1:PORT added
(a port the kernel just handed out), polls GET /readyz every millisecond from the moment of
exec, and stops the server (SIGTERM) once /readyz answers 200. Repeats --runs times.

  bench_startup.py [--runs 5] -- CMD ARGS...

Prints: startup runs=N median_ms=M min_ms=A max_ms=B"""
import argparse
import http.client
import signal
import socket
import statistics
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        c.request("GET", "/readyz")
        ok = c.getresponse().status == 200
        c.close()
        return ok
    except OSError:
        return False


def stop(p):
    """SIGTERM to a child this script started, SIGKILL after 10 s."""
    if p is not None and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def one(cmd, deadline_s=10.0):
    port = free_port()
    t0 = time.monotonic()
    p = subprocess.Popen(cmd + ["--listen", "127.0.0.1:%d" % port], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - t0 < deadline_s:
            if ready(port):
                return (time.monotonic() - t0) * 1000
            if p.poll() is not None:
                sys.exit("bench_startup: the server exited with %d" % p.returncode)
            time.sleep(0.001)
        sys.exit("bench_startup: not ready within %.0f s" % deadline_s)
    finally:
        stop(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd or a.runs < 1:
        ap.error("give a command after --")
    ms = [one(cmd) for _ in range(a.runs)]
    print("startup runs=%d median_ms=%.1f min_ms=%.1f max_ms=%.1f"
          % (len(ms), statistics.median(ms), min(ms), max(ms)))


if __name__ == "__main__":
    main()

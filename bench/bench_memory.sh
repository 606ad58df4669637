#!/usr/bin/env bash
# bench_memory.sh: DESIGN section 8, memory and startup at 100k VMs, on the same fleet
# database as bench_access.sh (100k VMs, 1M login-role assignments).
#  - start to ready: exec of vmlogind to the first 200 from GET /readyz (polled every 1 ms by
#    bench_startup.py), median of BENCH_STARTS runs (default 5); budget <= 200 ms.
#  - private memory: RssAnon of /proc/PID/status after a burst of list requests
#    (GET /v1/virtualMachines pages, filtered and not) and access requests, 64 connections;
#    budget <= 64 MiB. File-backed pages (the mmap'd database, libraries) are not private.
#
#   BUILD=build-bench DATA=/tmp/vmlogind-bench bench/bench_memory.sh
set -euo pipefail
: "${BUILD:?set BUILD to the Release build directory}" "${DATA:?set DATA to a scratch directory}"
source "$(dirname "$0")/bench_lib.sh"
mkdir -p "$DATA"
threads=$(nproc)
burst=${BENCH_BURST_SECONDS:-5}

db=$(bench_fleet_db "${BENCH_VMS:-100000}" "${BENCH_RAS:-1000000}")
key=$(bench_key "$db" reader)
[[ -n $key ]] || { bench_log "keys create failed"; exit 1; }

start=$(python3 "$BENCH_SRC/bench/bench_startup.py" --runs "${BENCH_STARTS:-5}" -- \
    "$VMLOGIND" --db "$db" --sync-interval-s 0)
bench_log "startup: $start"
start_ms=$(sed -n 's/.*median_ms=\([^ ]*\).*/\1/p' <<<"$start")

BENCH_STDERR=/dev/null bench_start vmlogind "$VMLOGIND" --db "$db" --listen 127.0.0.1:0 \
    --rate-limit-rps 1000000 --rate-limit-burst 1000000 --sync-interval-s 0
url=$BENCH_URL pid=$BENCH_PID
rss_idle=$(awk '/^RssAnon/ { print $2 }' "/proc/$pid/status")

# List pages: the whole fleet, each subscription, each resource group of the first one.
python3 - "$db" "$DATA/list-paths.txt" <<'EOF'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
subs = [r[0] for r in db.execute("SELECT id FROM subscriptions")]
rgs = [r[0] for r in db.execute("SELECT DISTINCT resource_group FROM vms WHERE subscription_id = ?",
                                (subs[0],))]
with open(sys.argv[2], "w") as f:
    for lim in (10, 100, 1000):
        f.write("/v1/virtualMachines?limit=%d\n" % lim)
    for s in subs:
        f.write("/v1/virtualMachines?subscription=%s&limit=1000\n" % s)
    for rg in rgs:
        f.write("/v1/virtualMachines?subscription=%s&resourceGroup=%s&limit=1000\n" % (subs[0], rg))
EOF
bench_vm_paths "$db" /access "$DATA/access-paths.txt"
for paths in list-paths access-paths; do
    out=$(BENCH_API_KEY=$key wrk -t"$threads" -c64 -d"$burst"s --timeout 10s -s "$BENCH_SRC/bench/access.lua" \
        "$url" -- "$DATA/$paths.txt" | grep '^WRK ')
    bench_log "burst $paths: $out"
    sed -n 's/.* non2xx=\([0-9]*\) .*/\1/p' <<<"$out" | grep -qx 0 ||
        bench_log "burst $paths had non-2xx answers"
done
rss=$(awk '/^RssAnon/ { print $2 }' "/proc/$pid/status")
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
rss_mib=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
echo "memory: RssAnon ${rss_idle} kB idle, ${rss} kB after the bursts (${rss_mib} MiB; VmHWM" \
    "${hwm} kB incl. file-backed); start to ready median ${start_ms} ms"
bench_result "private RSS at 100k VMs" "<= 64 MiB" "${rss_mib} MiB" "$(bench_le "$rss_mib" 64)"
bench_result "start to ready" "<= 200 ms" "${start_ms} ms" "$(bench_le "$start_ms" 200)"

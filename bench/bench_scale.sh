#!/usr/bin/env bash
# bench_scale.sh: the cost curve to a million VMs. For each size N (10 login-role assignments
# per VM): the first sync and the no-change re-sync from azsim (bench_sync: VMs/s, start to
# ready over the synced database, private memory), and GET /access under wrk over the same
# number of VMs (bench_access.sh, one round: req/s, p99, private memory). Prints one table and
# the cost per VM, which should stay flat; a row that does not is the finding.
#
#   BUILD=build-bench DATA=/tmp/vmlogind-bench bench/bench_scale.sh [N ...]
# Default sizes: 10000 100000 1000000 (the 1M fleet needs ~10 GB of disk and several minutes
# to generate the first time; later runs reuse it).
set -euo pipefail
: "${BUILD:?set BUILD to the Release build directory}" "${DATA:?set DATA to a scratch directory}"
source "$(dirname "$0")/bench_lib.sh"
mkdir -p "$DATA"
sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(10000 100000 1000000)
[[ -x $BUILD/bench/bench_sync ]] || { bench_log "bench_sync is not built in $BUILD"; exit 1; }
table=$DATA/scale.tsv
printf 'VMs\tsync VMs/s\tre-sync VMs/s\tready ms\tsync RssAnon MiB\taccess req/s\tp99 ms\taccess RssAnon MiB\n' >"$table"

for n in "${sizes[@]}"; do
    ras=$((n * 10))
    bench_log "== $n VMs, $ras assignments: sync"
    "$BUILD/bench/bench_sync" --vms "$n" --role-assignments "$ras" >"$DATA/scale-sync-$n.out"
    sync_rate=$(awk '/^ingest / { print $2 }' "$DATA/scale-sync-$n.out")
    resync_rate=$(awk '/^re-sync +[0-9]/ { print $2 }' "$DATA/scale-sync-$n.out")
    ready=$(awk '/^start to ready .*VMs in the database/ { print $4 }' "$DATA/scale-sync-$n.out")
    sync_rss=$(awk '/^vmlogind memory/ { for (i = 1; i < NF; i++) if ($i == "RssAnon" && $(i + 1) > r) r = $(i + 1) }
                    END { printf "%.1f", r / 1024 }' "$DATA/scale-sync-$n.out")
    bench_log "== $n VMs: access"
    BENCH_VMS=$n BENCH_RAS=$ras BENCH_ROUNDS=1 BENCH_SECONDS=${BENCH_SECONDS:-10} \
        "$BENCH_SRC/bench/bench_access.sh" >"$DATA/scale-access-$n.out"
    line=$(grep '^access:' "$DATA/scale-access-$n.out")
    rps=$(sed -n 's/.*vmlogind \([0-9.]*\) req\/s.*/\1/p' <<<"$line")
    p99=$(sed -n 's/.*, p99 \([0-9.]*\) ms (ratio.*/\1/p' <<<"$line")
    arss=$(sed -n 's/.*RssAnon \([0-9]*\) kB.*/\1/p' <<<"$line" | awk '{ printf "%.1f", $1 / 1024 }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$sync_rate" "$resync_rate" "$ready" \
        "$sync_rss" "$rps" "$p99" "$arss" >>"$table"
done

echo "Scale curve ($(nproc) cores, $(date -u +%FT%TZ)); 10 assignments per VM"
column -t -s $'\t' "$table"
# cost per VM: the sync's microseconds per VM and memory bytes per VM, size against size
awk -F'\t' 'NR > 1 && $2 > 0 { printf "%s VMs: sync %.1f us/VM, re-sync %.1f us/VM, memory under /access %.0f B/VM\n",
            $1, 1e6 / $2, ($3 > 0 ? 1e6 / $3 : 0), $8 * 1048576 / $1 }' "$table"

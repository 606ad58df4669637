#!/usr/bin/env bash
# bench.sh: builds Release into build-bench and runs every benchmark of DESIGN section 8, then
# prints one summary table (figure, budget, measured, verdict). Benchmarks are never part of
# the test run; each starts what it needs on 127.0.0.1 and stops it.
#
#   scripts/bench.sh [access] [memory] [enable200] [azloop] [sync] [slowloris] [pg]   (default: all)
#
# Env: BENCH_DATA (scratch and cached fleet database, default build-bench/bench-data; the 100k-
# VM / 1M-assignment database takes a few minutes to build the first time), JOBS (default 2).
# Needs wrk (apt-get install -y wrk), python3, openssl, curl.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-bench
export BUILD=$build
export DATA=${BENCH_DATA:-$build/bench-data}
jobs=${JOBS:-2}
wanted=("$@")
[[ ${#wanted[@]} -gt 0 ]] || wanted=(access memory enable200 azloop sync slowloris pg)

command -v wrk >/dev/null || { echo "bench.sh: wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
mkdir -p "$DATA"
# Release is -Werror like every build (scripts/test.sh builds it too, so a warning that only
# optimisation finds, such as -Wformat-truncation, fails CI rather than the benchmarks).
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
targets=(vmlogind azsim bench_hello)
cmake --build "$build" --target help | grep ' bench_sync$' >/dev/null && targets+=(bench_sync)
cmake --build "$build" -j"$jobs" --target "${targets[@]}" >"$DATA/build.log" 2>&1 ||
    { tail -n 30 "$DATA/build.log" >&2; exit 1; }

results=$DATA/results.tsv
: >"$results"
# run NAME CMD...: runs one benchmark, shows its output, keeps its RESULT lines.
run() {
    local name=$1 out=$DATA/$1.out rc
    shift
    echo "== $name" >&2
    "$@" >"$out" 2> >(tee "$DATA/$name.err" >&2)
    rc=$?
    grep -v '^RESULT' "$out"
    grep '^RESULT' "$out" >>"$results"
    [[ $rc -eq 0 ]] || printf 'RESULT\t%s\t-\texit %d\tFAIL\n' "$name" "$rc" >>"$results"
}

# bench_sync prints human lines; turn the two budgeted ones into RESULT lines.
sync_results() {
    "$build/bench/bench_sync" "$@" | tee /dev/stderr | awk '
        /^ingest / { v = $2; printf "RESULT\tsync ingest\t>= 50000 VMs/s\t%s VMs/s\t%s\n", v, (v >= 50000 ? "PASS" : "FAIL") }
        /^re-sync +[0-9]/ { v = $2; printf "RESULT\tre-sync, no change\t>= 100000 VMs/s\t%s VMs/s\t%s\n", v, (v >= 100000 ? "PASS" : "FAIL") }
        /^re-sync rows written/ { v = $4; printf "RESULT\tre-sync rows written\t0\t%s\t%s\n", v, (v == 0 ? "PASS" : "FAIL") }
        /^vmlogind memory/ { for (i = 1; i < NF; i++) if ($i == "RssAnon" && $(i + 1) > rss) rss = $(i + 1) }
        /^start to ready .*VMs in the database/ { v = $4; printf "RESULT\tstart to ready after sync\t<= 200 ms\t%s ms\t%s\n", v, (v <= 200 ? "PASS" : "FAIL") }
        END { if (rss) printf "RESULT\tprivate RSS during/after sync\t<= 64 MiB\t%.1f MiB\t%s\n", rss / 1024, (rss <= 65536 ? "PASS" : "FAIL") }'
}

for b in "${wanted[@]}"; do
    case $b in
    access) run access "$root/bench/bench_access.sh" ;;
    memory) run memory "$root/bench/bench_memory.sh" ;;
    enable200)
        run enable200 python3 "$root/bench/bench_enable200.py" --vmlogind "$build/server/vmlogind" \
            --azsim "$build/sim/azsim" --scenario "$root/sim/scenarios/demo.json" \
            --dir "$DATA/enable200"
        ;;
    azloop)
        # the seed's az loop, one VM after another, at the enable benchmark's time scale: the
        # anchor for vmlogind's time per VM (BENCH_AZLOOP_VMS, default 2: ~100 s each)
        run azloop "$root/bench/bench_azloop.sh" "${BENCH_AZLOOP_VMS:-2}"
        ;;
    sync)
        if [[ -x $build/bench/bench_sync ]]; then
            run sync sync_results
        else
            printf 'RESULT\tsync\t-\tnot built\t-\n' >>"$results"
        fi
        ;;
    slowloris)
        # issue 10's attack at the default limits: 1,100 trickling connections from 10
        # addresses; every probe (healthz and an authenticated read) must be answered
        run slowloris python3 "$root/bench/bench_slowloris.py" --vmlogind "$build/server/vmlogind"
        ;;
    pg)
        # PostgreSQL beside SQLite, same run: /access over the same fleet, the 200-VM enablement
        # (a throwaway PostgreSQL server, tests/pg/pg_server.sh)
        run pg "$root/bench/bench_pg.sh"
        ;;
    *) echo "bench.sh: unknown benchmark '$b'" >&2 ;;
    esac
done

# vmlogind's time per VM in the enable benchmark against the az loop's, both from this run
awk -F'\t' '$2 == "enable200 time" { e = $4 + 0 } $2 ~ /^az loop per VM/ { a = $4 + 0 }
    END { if (e > 0 && a > 0) { r = a / (e / 200)
          printf "RESULT\tvmlogind per VM vs the az loop\t>= 150x faster\t%.0fx\t%s\n", r, (r >= 150 ? "PASS" : "FAIL") } }' \
    "$results" >>"$results.tmp" && cat "$results.tmp" >>"$results" && rm -f "$results.tmp"

echo
echo "Summary ($(nproc) cores, $(date -u +%FT%TZ), $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "no git"))"
awk -F'\t' 'BEGIN { printf "%-34s %-16s %-16s %s\n", "figure", "budget", "measured", "verdict" }
            { printf "%-34s %-16s %-16s %s\n", $2, $3, $4, $5 }' "$results"
! grep -q $'\tFAIL$' "$results"

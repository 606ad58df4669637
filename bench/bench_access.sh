#!/usr/bin/env bash
# bench_access.sh: DESIGN section 8, effective access. GET /v1{vm}/access over a store holding
# 100k VMs and 1M login-role assignments (genfleet, seed 1, filled by fill_fleet.py), 64
# keep-alive connections from wrk spreading requests uniformly over every VM, against
# vmlogind and against bench_hello (the bare libmicrohttpd baseline) in the same run. The
# anchor serves, from memory, as many bytes as vmlogind's mean answer (measured in the run
# over 200 random VMs); the 6-byte "hello" is reported beside it.
# Budget: vmlogind req/s >= 0.5 x same-bytes hello req/s; p99 <= 1.5 x same-bytes hello p99
# in the same round, and <= 10 ms.
#
#   BUILD=build-bench DATA=/tmp/vmlogind-bench bench/bench_access.sh
# Env: BENCH_SECONDS (per measured round, default 10), BENCH_ROUNDS (default 2; rounds
# alternate hello and vmlogind, the best round of each counts), BENCH_VMS, BENCH_RAS.
set -euo pipefail
: "${BUILD:?set BUILD to the Release build directory}" "${DATA:?set DATA to a scratch directory}"
source "$(dirname "$0")/bench_lib.sh"
mkdir -p "$DATA"
secs=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-2}
threads=$(nproc)

db=$(bench_fleet_db "${BENCH_VMS:-100000}" "${BENCH_RAS:-1000000}")
key=$(bench_key "$db" reader)
[[ -n $key ]] || { bench_log "keys create failed"; exit 1; }
bench_vm_paths "$db" /access "$DATA/access-paths.txt"
: >"$DATA/hello-paths.txt"
for ((i = 0; i < 100; i++)); do echo /; done >"$DATA/hello-paths.txt"

# The rate limit is per caller; one key drives all the load here, so lift it.
BENCH_STDERR=/dev/null bench_start vmlogind "$VMLOGIND" --db "$db" --listen 127.0.0.1:0 \
    --rate-limit-rps 1000000 --rate-limit-burst 1000000 --sync-interval-s 0
vl_url=$BENCH_URL vl_pid=$BENCH_PID
# run_wrk URL PATHS SECONDS: prints the WRK line of access.lua.
run_wrk() {
    BENCH_API_KEY=$key wrk -t"$threads" -c64 -d"$3"s --latency -s "$BENCH_SRC/bench/access.lua" \
        "$1" -- "$2" | grep '^WRK '
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" \
    "$vl_url$(head -n1 "$DATA/access-paths.txt")")
[[ $code == 200 ]] || { bench_log "GET access answered $code, not 200"; exit 1; }

# The mean answer size, over 200 random VMs of this fleet: the anchor sends that many bytes.
body_bytes=$(shuf -n 200 --random-source=<(yes) "$DATA/access-paths.txt" | while read -r p; do
    curl -s -o /dev/null -w '%{size_download}\n' -H "Authorization: Bearer $key" "$vl_url$p"
done | awk '{ s += $1; n++ } END { if (n) printf "%d", s / n }')
[[ ${body_bytes:-0} -gt 0 ]] || { bench_log "could not measure the answer size"; exit 1; }
bench_start hello "$BUILD/bench/bench_hello" --listen 127.0.0.1:0 --threads "$threads"
hello_url=$BENCH_URL
bench_start hello_same "$BUILD/bench/bench_hello" --listen 127.0.0.1:0 --threads "$threads" \
    --body-bytes "$body_bytes"
same_url=$BENCH_URL

bench_log "warming up (page cache and connections); mean answer ${body_bytes} B"
run_wrk "$vl_url" "$DATA/access-paths.txt" 3 >/dev/null
run_wrk "$hello_url" "$DATA/hello-paths.txt" 2 >/dev/null
run_wrk "$same_url" "$DATA/hello-paths.txt" 2 >/dev/null
best_h=0 best_s=0 best_v=0 p99=999999 p99_s=999999 non2xx=0
for ((r = 1; r <= rounds; r++)); do
    h=$(run_wrk "$hello_url" "$DATA/hello-paths.txt" "$secs")
    sb=$(run_wrk "$same_url" "$DATA/hello-paths.txt" "$secs")
    v=$(run_wrk "$vl_url" "$DATA/access-paths.txt" "$secs")
    bench_log "round $r hello:      $h"
    bench_log "round $r hello ${body_bytes} B: $sb"
    bench_log "round $r vmlogind:   $v"
    hr=$(field rps <<<"$h") sr=$(field rps <<<"$sb") vr=$(field rps <<<"$v")
    awk -v a="$hr" -v b="$best_h" 'BEGIN { exit !(a > b) }' && best_h=$hr
    # the best round of each; the p99s compared are those of one round, the anchor's and
    # vmlogind's, so a noisy round does not pair a good figure with a bad one
    if awk -v a="$vr" -v b="$best_v" 'BEGIN { exit !(a > b) }'; then
        best_v=$vr
        p99=$(field p99_ms <<<"$v")
        p99_s=$(field p99_ms <<<"$sb")
    fi
    awk -v a="$sr" -v b="$best_s" 'BEGIN { exit !(a > b) }' && best_s=$sr
    non2xx=$((non2xx + $(field non2xx <<<"$v") + $(field sockerr <<<"$v")))
done
rss=$(awk '/^RssAnon/ { print $2 }' "/proc/$vl_pid/status")
ratio=$(bench_ratio "$best_v" "$best_s")
p99_ratio=$(bench_ratio "$p99" "$p99_s")
echo "access: hello ${best_h} req/s, hello ${body_bytes} B ${best_s} req/s (p99 ${p99_s} ms)," \
    "vmlogind ${best_v} req/s (ratio ${ratio}), p99 ${p99} ms (ratio ${p99_ratio})," \
    "errors ${non2xx}, vmlogind RssAnon ${rss} kB; ${threads} server threads, wrk -t${threads}" \
    "-c64, ${secs} s rounds, $(wc -l <"$DATA/access-paths.txt") VMs"
[[ $non2xx -eq 0 ]] || bench_log "vmlogind answered $non2xx requests with non-2xx or socket errors"
bench_result "hello req/s (bare MHD, 6 B)" "-" "$best_h" "-"
bench_result "hello req/s (bare MHD, ${body_bytes} B)" "anchor" "$best_s" "-"
bench_result "access req/s (mean ${body_bytes} B)" "-" "$best_v" "-"
v=$(bench_ge "$ratio" 0.5)
[[ $non2xx -eq 0 ]] || v=FAIL
bench_result "access / same-bytes hello" ">= 0.5x" "${ratio}x" "$v"
bench_result "access p99 / same-bytes hello p99" "<= 1.5x" "${p99_ratio}x" "$(bench_le "$p99_ratio" 1.5)"
bench_result "access p99" "<= 10 ms" "${p99} ms" "$(bench_le "$p99" 10)"

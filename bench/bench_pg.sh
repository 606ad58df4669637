#!/usr/bin/env bash
# bench_pg.sh: issue 17's figures, PostgreSQL beside SQLite in one run on the same work.
#   access     GET /v1{vm}/access over the same fleet (bench_fleet_db's SQLite database, its
#              tables copied into PostgreSQL by pg_load_fleet.py), 64 keep-alive connections,
#              rounds alternating the two backends; the best round of each, its p99, and the
#              private memory after the rounds. Twenty answers are compared byte for byte first.
#   enable200  bench_enable200.py on each backend (same azsim settings, one after the other).
# The PostgreSQL server is a throwaway one (tests/pg/pg_server.sh: Unix socket only, fsync off
# as in the tests), on the same 2 cores as vmlogind and the load generator.
#
#   BUILD=build-bench DATA=/tmp/vmlogind-bench bench/bench_pg.sh [access] [enable200]
# Env: BENCH_SECONDS (default 10), BENCH_ROUNDS (default 2), BENCH_VMS, BENCH_RAS.
set -euo pipefail
: "${BUILD:?set BUILD to the Release build directory}" "${DATA:?set DATA to a scratch directory}"
source "$(dirname "$0")/bench_lib.sh"
mkdir -p "$DATA"
wanted=("$@")
[[ ${#wanted[@]} -gt 0 ]] || wanted=(access enable200)
secs=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-2}
threads=$(nproc)

# The server's own user must reach its directory: not under DATA (perhaps below /root).
pgdir=$(mktemp -u /tmp/vmlogind-bench-pg-XXXXXX)
bash "$BENCH_SRC/tests/pg/pg_server.sh" start "$pgdir" >/dev/null
trap 'bench_stop_all; bash "$BENCH_SRC/tests/pg/pg_server.sh" stop "$pgdir"' EXIT
psql_db() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$pgdir" -U vmlogind -d "$1" -c "$2"; }
(umask 077 && openssl rand -hex 32 >"$DATA/pg-audit-key")
# pg_settings DB: the settings that put vmlogind on database DB of the server.
pg_settings() {
    printf '%s\n' "store_backend=postgresql" "postgres_url=host=$pgdir dbname=$1 user=vmlogind" \
        "audit_key_file=$DATA/pg-audit-key"
}

bench_pg_access() {
    local db key pkey n body_bytes best_l=0 best_p=0 p99_l=0 p99_p=0 errs=0
    local -a pflags
    db=$(bench_fleet_db "${BENCH_VMS:-100000}" "${BENCH_RAS:-1000000}")
    psql_db postgres "CREATE DATABASE fleet"
    pflags=(--store-backend postgresql --postgres-url "host=$pgdir dbname=fleet user=vmlogind"
        --audit-key-file "$DATA/pg-audit-key")
    "$VMLOGIND" migrate "${pflags[@]}" >/dev/null 2>&1
    bench_log "copying the fleet into PostgreSQL"
    python3 "$BENCH_SRC/bench/pg_load_fleet.py" --db "$db" \
        --psql "psql -h $pgdir -U vmlogind -d fleet" 2> >(cat >&2)
    key=$(bench_key "$db" reader)
    pkey=$("$VMLOGIND" keys create "${pflags[@]}" --db "$DATA/pg-replica.db" --name bench \
        --role reader 2>/dev/null |
        grep -E '^vlk_' | head -n1)
    [[ -n $key && -n $pkey ]] || { bench_log "keys create failed"; return 1; }
    bench_vm_paths "$db" /access "$DATA/access-paths.txt"
    local -a common=(--listen 127.0.0.1:0 --rate-limit-rps 1000000 --rate-limit-burst 1000000
        --sync-interval-s 0)
    BENCH_STDERR=/dev/null bench_start lite "$VMLOGIND" --db "$db" "${common[@]}"
    local lite_url=$BENCH_URL lite_pid=$BENCH_PID
    BENCH_STDERR=/dev/null bench_start pg "$VMLOGIND" --db "$DATA/pg-replica.db" "${pflags[@]}" \
        "${common[@]}"
    local pg_url=$BENCH_URL pg_pid=$BENCH_PID
    # the same answer from either backend, byte for byte
    n=0
    while read -r p; do
        a=$(curl -s -H "Authorization: Bearer $key" "$lite_url$p" | sha256sum)
        b=$(curl -s -H "Authorization: Bearer $pkey" "$pg_url$p" | sha256sum)
        [[ $a == "$b" ]] || { bench_log "the backends answered $p differently"; return 1; }
        n=$((n + 1))
    done < <(shuf -n 20 --random-source=<(yes) "$DATA/access-paths.txt")
    body_bytes=$(shuf -n 200 --random-source=<(yes) "$DATA/access-paths.txt" | while read -r p; do
        curl -s -o /dev/null -w '%{size_download}\n' -H "Authorization: Bearer $key" "$lite_url$p"
    done | awk '{ s += $1; n++ } END { if (n) printf "%d", s / n }')
    run_wrk() { # URL KEY SECONDS
        BENCH_API_KEY=$2 wrk -t"$threads" -c64 -d"$3"s --latency -s "$BENCH_SRC/bench/access.lua" \
            "$1" -- "$DATA/access-paths.txt" | grep '^WRK '
    }
    field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
    bench_log "warming up both (indexes built, connections); $n answers equal, mean ${body_bytes} B"
    run_wrk "$lite_url" "$key" 3 >/dev/null
    run_wrk "$pg_url" "$pkey" 3 >/dev/null
    for ((r = 1; r <= rounds; r++)); do
        l=$(run_wrk "$lite_url" "$key" "$secs")
        p=$(run_wrk "$pg_url" "$pkey" "$secs")
        bench_log "round $r SQLite:     $l"
        bench_log "round $r PostgreSQL: $p"
        if awk -v a="$(field rps <<<"$l")" -v b="$best_l" 'BEGIN { exit !(a > b) }'; then
            best_l=$(field rps <<<"$l") p99_l=$(field p99_ms <<<"$l")
        fi
        if awk -v a="$(field rps <<<"$p")" -v b="$best_p" 'BEGIN { exit !(a > b) }'; then
            best_p=$(field rps <<<"$p") p99_p=$(field p99_ms <<<"$p")
        fi
        errs=$((errs + $(field non2xx <<<"$p") + $(field sockerr <<<"$p")))
    done
    rss_l=$(awk '/^RssAnon/ { print $2 }' "/proc/$lite_pid/status")
    rss_p=$(awk '/^RssAnon/ { print $2 }' "/proc/$pg_pid/status")
    echo "access: SQLite ${best_l} req/s (p99 ${p99_l} ms, RssAnon ${rss_l} kB)," \
        "PostgreSQL ${best_p} req/s (p99 ${p99_p} ms, RssAnon ${rss_p} kB), errors ${errs};" \
        "$(wc -l <"$DATA/access-paths.txt") VMs, mean ${body_bytes} B, wrk -t${threads} -c64"
    bench_result "access req/s, SQLite" "-" "$best_l" "-"
    bench_result "access req/s, PostgreSQL" "-" "$best_p" "-"
    bench_result "access PostgreSQL / SQLite" "-" "$(bench_ratio "$best_p" "$best_l")x" "-"
    bench_result "access p99, SQLite / PostgreSQL" "-" "${p99_l} / ${p99_p} ms" "-"
    bench_result "private memory, SQLite / PostgreSQL" "-" \
        "$((rss_l / 1024)) / $((rss_p / 1024)) MiB" "-"
    [[ $errs -eq 0 ]] || { bench_log "PostgreSQL answered $errs requests with errors"; return 1; }
    bench_stop_all
}

# enable200 on each backend: the figures of bench_enable200.py, renamed by backend.
bench_pg_enable200() {
    local -a sets
    psql_db postgres "CREATE DATABASE enable200"
    mapfile -t sets < <(pg_settings enable200 | sed 's/^/--set\n/')
    for backend in SQLite PostgreSQL; do
        local -a extra=()
        [[ $backend == SQLite ]] || extra=("${sets[@]}")
        python3 "$BENCH_SRC/bench/bench_enable200.py" --vmlogind "$VMLOGIND" --azsim "$AZSIM" \
            --scenario "$BENCH_SRC/sim/scenarios/demo.json" --dir "$DATA/enable200-$backend" \
            "${extra[@]}" | sed "s/^RESULT\tenable200 \([^\t]*\)/RESULT\tenable200 \1, $backend/"
    done
}

for b in "${wanted[@]}"; do
    case $b in
    access) bench_pg_access ;;
    enable200) bench_pg_enable200 ;;
    *) echo "bench_pg.sh: unknown benchmark '$b'" >&2; exit 2 ;;
    esac
done

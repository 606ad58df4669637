# shellcheck shell=bash
# bench_lib.sh: sourced by the bench_*.sh scripts. Starting and stopping the processes a
# benchmark needs (on 127.0.0.1, ports picked by the kernel), the cached 100k-VM fleet
# database, and the RESULT lines scripts/bench.sh gathers into its summary table:
#   RESULT<TAB>figure<TAB>budget<TAB>measured<TAB>verdict
# Needs: BUILD (the Release build dir), DATA (a scratch dir that may be reused between runs).

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VMLOGIND=${VMLOGIND:-$BUILD/server/vmlogind}
AZSIM=${AZSIM:-$BUILD/sim/azsim}
BENCH_PIDS=()

bench_log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

bench_result() { # figure budget measured verdict
    printf 'RESULT\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4"
}

# bench_start NAME CMD...: runs CMD in the background (stdout to $DATA/NAME.out, stderr to
# $DATA/NAME.err unless the caller redirects), waits up to 60 s for its "listening on URL"
# line; sets BENCH_URL and BENCH_PID.
bench_start() {
    local name=$1 i
    shift
    : >"$DATA/$name.out"
    "$@" >"$DATA/$name.out" 2>"${BENCH_STDERR:-$DATA/$name.err}" &
    BENCH_PID=$!
    BENCH_PIDS+=("$BENCH_PID")
    for ((i = 0; i < 6000; i++)); do
        BENCH_URL=$(sed -n 's/^listening on //p' "$DATA/$name.out" | head -n1)
        [[ -n $BENCH_URL ]] && return 0
        kill -0 "$BENCH_PID" 2>/dev/null || break
        sleep 0.01
    done
    bench_log "$name did not start; see $DATA/$name.out and .err"
    return 1
}

# Stops one process this script started (SIGTERM, then SIGKILL after 5 s).
bench_stop() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 500; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.01
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 0
}

bench_stop_all() {
    local p
    for p in "${BENCH_PIDS[@]}"; do bench_stop "$p"; done
    BENCH_PIDS=()
}
trap bench_stop_all EXIT

# bench_fleet_db VMS ASSIGNMENTS: prints the path of a database holding a genfleet fleet of
# that size (seed 1), filled by fill_fleet.py; built once and reused from $DATA.
bench_fleet_db() {
    # Keyed on the schema and the filler too: a changed migration means a new database.
    local sum
    sum=$(cat "$BENCH_SRC"/migrations/*.sql "$BENCH_SRC/bench/fill_fleet.py" \
        "$BENCH_SRC/sim/tools/genfleet" | sha256sum | cut -c1-12)
    local vms=$1 ras=$2 dir="$DATA/fleet-$1-$2-$sum"
    local db="$dir/vmlogind.db"
    if [[ ! -f $dir/ok ]]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        bench_log "generating a fleet of $vms VMs and $ras role assignments (once; cached in $dir)"
        python3 "$BENCH_SRC/sim/tools/genfleet" --out "$dir" --vms "$vms" \
            --role-assignments "$ras" >/dev/null || return 1
        "$VMLOGIND" migrate --db "$db" >/dev/null 2>&1 || return 1
        python3 "$BENCH_SRC/bench/fill_fleet.py" --db "$db" --fleet "$dir" >&2 || return 1
        rm -f "$dir/fleet-ra.tsv" # the database holds it now
        touch "$dir/ok"
    fi
    printf '%s\n' "$db"
}

# bench_key DB ROLE: creates an API key in DB and prints it.
bench_key() {
    "$VMLOGIND" keys create --db "$1" --name "bench-$$-$RANDOM" --role "$2" 2>/dev/null |
        grep -E '^vlk_' | head -n1
}

# bench_vm_paths DB SUFFIX OUT: every VM's API path + SUFFIX, one per line, into OUT.
bench_vm_paths() {
    python3 - "$1" "$2" "$3" <<'EOF'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
with open(sys.argv[3], "w") as f:
    for s, rg, n in db.execute("SELECT subscription_id, resource_group, name FROM vms"
                               " WHERE gone_at IS NULL"):
        f.write("/v1/subscriptions/%s/resourceGroups/%s/virtualMachines/%s%s\n"
                % (s, rg, n, sys.argv[2]))
EOF
}

# bench_ratio A B: A / B with two decimals.
bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }
# bench_le X LIMIT / bench_ge X LIMIT: PASS or FAIL.
bench_le() { awk -v x="$1" -v l="$2" 'BEGIN { print (x != "nan" && x + 0 <= l + 0) ? "PASS" : "FAIL" }'; }
bench_ge() { awk -v x="$1" -v l="$2" 'BEGIN { print (x != "nan" && x + 0 >= l + 0) ? "PASS" : "FAIL" }'; }

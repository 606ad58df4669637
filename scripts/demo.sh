#!/usr/bin/env bash
# Sets up everything and runs the demo: azsim (a simulated Azure with the demo tenant:
# two subscriptions, a dozen Windows/Linux VMs with the awkward cases) plus vmlogind pointed
# at it. It syncs the fleet, enables Entra login on a resource group, grants login, shows who
# can sign in, and then prints what to try. Ctrl-C stops both (without a terminal it stops
# by itself after the demo). Each step it waits for has a deadline: when one does not finish in
# time the demo says which and exits non-zero.
#   --postgresql  the store on PostgreSQL 15 (a throwaway server made for the run, listening on a
#                 Unix socket only) with two vmlogind replicas on it: the demo talks to the first
#                 and ends by showing that the second answers the same.
set -euo pipefail
cd "$(dirname "$0")/.."
pg=0
case "${1:-}" in
--postgresql) pg=1 ;;
"") ;;
*) echo "usage: $0 [--postgresql]" >&2; exit 2 ;;
esac

VMLOGIND_WITH_AZCLI=0 ./scripts/install-deps.sh
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-demo -j"$(nproc)" --target vmlogind azsim vmloginctl >/dev/null

work=$(mktemp -d /tmp/vmlogind-demo-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ "$pg" = 0 ] || bash tests/pg/pg_server.sh stop "$work-pg" || true
}
trap cleanup EXIT
trap 'exit 0' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
json() { python3 -m json.tool 2>/dev/null || cat; }

# A throwaway certificate for azsim's HTTPS, made now.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
    -keyout "$work/tls.key" -out "$work/tls.crt" >/dev/null 2>&1

wait_url() { # file -> prints the URL from "listening on URL"
    for _ in $(seq 1 200); do
        url=$(sed -n 's/^listening on //p' "$1" 2>/dev/null | head -n1)
        [ -n "$url" ] && { echo "$url"; return 0; }
        sleep 0.05
    done
    echo "did not start; see ${1%.out}.log" >&2
    return 1
}

say "azsim: the simulated Azure (demo tenant contoso.example)"
build-demo/sim/azsim --listen 127.0.0.1:0 --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" \
    --scenario sim/scenarios/demo.json --time-scale 0.05 >"$work/azsim.out" 2>"$work/azsim.log" &
pids+=($!)
sim=$(wait_url "$work/azsim.out")
echo "azsim at $sim"

printf '%s' "azsim-demo-secret-not-a-credential" >"$work/client-secret"
cat >"$work/vmlogind.conf" <<CONF
# vmlogind pointed at azsim: a custom cloud whose ARM, login and Graph endpoints are azsim
cloud = custom
arm_url = $sim
login_url = $sim
graph_url = $sim
imds_url = $sim
tenant_id = 8f3c1a2e-0000-4000-8000-00000000aaaa
client_id = 0a1b2c3d-0000-4000-8000-00000000c001
credential = secret
client_secret_file = $work/client-secret
ca_bundle = $work/tls.crt
api_audience = api://vmlogind-demo
api_login_url = $sim
dashboard_client_id = 0a1b2c3d-0000-4000-8000-00000000c001
sync_interval_s = 60
lro_poll_min_ms = 200
lro_poll_max_ms = 1000
CONF
if [ "$pg" = 1 ]; then
    # beside $work, which the server's own user (postgres) may not enter
    say "PostgreSQL 15: a throwaway server for the demo (Unix socket in $work-pg only)"
    bash tests/pg/pg_server.sh start "$work-pg"
    # one audit key for both replicas (each would otherwise need its own: a broken chain)
    (umask 077 && openssl rand -hex 32 >"$work/audit-key")
    cat >>"$work/vmlogind.conf" <<CONF
store_backend = postgresql
postgres_url = host=$work-pg dbname=postgres user=vmlogind
audit_key_file = $work/audit-key
CONF
fi
build-demo/server/vmlogind migrate --config "$work/vmlogind.conf" --db "$work/vmlogind.db" >/dev/null 2>&1
key=$(build-demo/server/vmlogind keys create --name demo --role administrator \
    --config "$work/vmlogind.conf" --db "$work/vmlogind.db" 2>/dev/null | grep -o 'vlk_[A-Za-z0-9_-]*' | head -n1)
# the same key in a file of its own, for `vmloginctl login --api-key --key-file`
(umask 077 && printf '%s\n' "$key" >"$work/api-key")

say "vmlogind"
build-demo/server/vmlogind --config "$work/vmlogind.conf" --db "$work/vmlogind.db" \
    --listen 127.0.0.1:0 >"$work/vmlogind.out" 2>"$work/vmlogind.log" &
pids+=($!)
api=$(wait_url "$work/vmlogind.out")
echo "vmlogind at $api (log: $work/vmlogind.log)"
if [ "$pg" = 1 ]; then
    # the second replica: the same settings and database, its own port and audit checkpoints
    build-demo/server/vmlogind --config "$work/vmlogind.conf" --db "$work/vmlogind-2.db" \
        --listen 127.0.0.1:0 >"$work/vmlogind-2.out" 2>"$work/vmlogind-2.log" &
    pids+=($!)
    api2=$(wait_url "$work/vmlogind-2.out")
    echo "vmlogind replica 2 at $api2 (log: $work/vmlogind-2.log)"
fi

H=(-s -H "Authorization: Bearer $key")
sub=5d0f6e8a-0000-4000-8000-00000000bbbb
rg=/subscriptions/$sub/resourceGroups/rg-entra
served() { build-demo/server/vmlogind --list-routes | grep -q "$1"; }

fail() { # message: the step the demo shows did not work; stop loudly
    printf '\n\033[1;31mdemo FAILED: %s\033[0m\nlogs: %s, %s\n' "$1" "$work/vmlogind.log" \
        "$work/azsim.log" >&2
    exit 1
}
# poll WHAT SECONDS URL EXPR: waits until the python expression EXPR holds for the JSON at URL
# (as d); when it does not within SECONDS, says that WHAT did not happen and stops the demo.
poll() {
    local deadline=$((SECONDS + $2))
    while [ $SECONDS -lt "$deadline" ]; do
        if curl "${H[@]}" "$3" | python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($4) else 1)" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    echo "last answer of GET $3:" >&2
    curl "${H[@]}" "$3" >&2 || true
    fail "$1 did not happen within $2 s"
}

if served "/v1/sync"; then
    say "Sync the fleet from azsim"
    curl "${H[@]}" -X POST "$api/v1/sync" >/dev/null
    poll "the first sync" 60 "$api/v1/sync" "d.get('state') == 'idle' and d.get('last') is not None"
    curl "${H[@]}" "$api/v1/sync" | python3 -c '
import json, sys
l = json.load(sys.stdin).get("last") or {}
c = l.get("counts", {})
print("sync %s: %s subscriptions, %s VMs, %s login-role assignments, %s principals, %s rows written" % (
    l.get("state"), c.get("subscriptions"), c.get("vms", {}).get("seen"),
    c.get("assignments", {}).get("seen"), c.get("principals", {}).get("seen"), c.get("rowsWritten")))' 
    say "The fleet (GET /v1/virtualMachines)"
    curl "${H[@]}" "$api/v1/virtualMachines?limit=50" | python3 -c '
import json, sys
for v in json.load(sys.stdin).get("value", []):
    os = v.get("osSupport") or {}
    print("%-28s %-12s %-14s %s" % (v.get("name"), v.get("powerState"), v.get("loginState"),
          os.get("reason", "")))'
fi

if served "/entraLogin"; then
    say "Enable Entra login on every VM in $rg (PUT .../entraLogin)"
    curl "${H[@]}" -X PUT -H 'Content-Type: application/json' -d '{}' -D "$work/h" \
        "$api/v1$rg/entraLogin" | json
    op=$(sed -n 's/^Location: *\([^\r]*\).*/\1/Ip' "$work/h" | head -n1)
    [ -n "$op" ] || fail "PUT .../entraLogin answered without a Location"
    if [ -n "$op" ]; then
        showop() {
            curl "${H[@]}" "$api$op" | python3 -c '
import json, sys
o = json.load(sys.stdin)
print("operation %s: %s %s" % (o["id"], o["status"], o.get("summary", {})))
for v in o.get("virtualMachines", []):
    e = v.get("error") or {}
    print("  %-28s %-10s %-13s %s" % (v["id"].rsplit("/", 1)[1], v["status"], v.get("step") or "",
          e.get("code") or v.get("note") or ""))
    if e.get("fix"):
        print("  %-28s fix: %s" % ("", e["fix"]))'
        }
        poll "enabling Entra login on $rg" 90 "$api$op" "all(v.get('status') != 'Running' or v.get('step') == 'waitForStart' for v in d.get('virtualMachines', [])) and d.get('virtualMachines')"
        say "The operation: per-VM results, failures explained with the fix"
        showop
        say "ws2019-stopped is deallocated: vmlogind waits. Start it in azsim, sync, and watch it finish"
        # vmlogind looks at a waiting VM again every login_recheck_s (120 s), or as soon as a
        # sync sees its power state change: the demo asks for that sync (POST /v1/sync) rather
        # than waiting for the next periodic one.
        stopped=$rg/providers/Microsoft.Compute/virtualMachines/ws2019-stopped
        curl -skf -X PATCH -H 'Content-Type: application/json' -d '{"powerState":"running"}' \
            "$sim/_sim/vms?id=$stopped" >/dev/null
        curl "${H[@]}" -f -X POST "$api/v1/sync" >/dev/null
        started=$SECONDS
        poll "ws2019-stopped's Entra login after its start" 90 "$api$op" \
            "d.get('status') in ('Succeeded','Failed','PartiallySucceeded') and any(v['id'].lower() == '$stopped'.lower() and v['status'] == 'Succeeded' for v in d.get('virtualMachines', []))"
        echo "ws2019-stopped: Entra login enabled $((SECONDS - started)) s after its start"
        showop
    fi
    say "Compliance (GET /v1/compliance)"
    curl "${H[@]}" "$api/v1/compliance" | python3 -c '
import json, sys
c = json.load(sys.stdin)
for s in c.get("subscriptions", []):
    n = {k: v for k, v in s["counts"].items() if v}
    print("  %s: %s  failed by cause: %s" % (s["subscriptionId"], n, s.get("failedByCause") or {}))'

fi

if served "/v1/loginGrants"; then
    vm=$rg/virtualMachines/win-vm-01
    say "Grant alice@contoso.example administrator login on win-vm-01"
    curl "${H[@]}" -X POST -H 'Content-Type: application/json' \
        -d "{\"scope\":\"$vm\",\"role\":\"administrator\",\"principal\":{\"upn\":\"alice@contoso.example\"},\"justification\":\"demo\"}" \
        "$api/v1/loginGrants" | json
    say "Grant the group VM Users (nested: Tier1 Operators) user login on the whole resource group"
    curl "${H[@]}" -X POST -H 'Content-Type: application/json' \
        -d "{\"scope\":\"$rg\",\"role\":\"user\",\"principal\":{\"objectId\":\"9a8b7c6d-0000-4000-8000-00000000f003\",\"type\":\"group\"}}" \
        "$api/v1/loginGrants" | json
    say "Time-bound: bob@contoso.example gets user login on win-vm-01 for 2 hours, then an hour more (PATCH)"
    at() { python3 -c 'import datetime,sys; print((datetime.datetime.now(datetime.timezone.utc)+datetime.timedelta(hours=float(sys.argv[1]))).strftime("%Y-%m-%dT%H:%M:%SZ"))' "$1"; }
    bid=$(curl "${H[@]}" -X POST -H 'Content-Type: application/json' \
        -d "{\"scope\":\"$vm\",\"role\":\"user\",\"principal\":{\"upn\":\"bob@contoso.example\"},\"expiresAt\":\"$(at 2)\",\"justification\":\"on call\"}" \
        "$api/v1/loginGrants" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("id",""))')
    [ -n "$bid" ] || fail "POST /v1/loginGrants for bob answered no grant id"
    curl "${H[@]}" -X PATCH -H 'Content-Type: application/json' \
        -d "{\"expiresAt\":\"$(at 3)\"}" "$api/v1/loginGrants/$bid" |
        python3 -c 'import json,sys; g=json.load(sys.stdin); print("  %s %s until %s" % (g.get("principal",{}).get("upn"), g.get("state"), g.get("expiresAt")))'
    say "Refused: a guest, and a management-group scope"
    problem() { python3 -c '
import json, sys
d = json.load(sys.stdin)
print("  %s %s: %s" % (d.get("status", d.get("state")), d.get("code", (d.get("error") or {}).get("code", "")),
      d.get("detail", (d.get("error") or {}).get("message", ""))))'; }
    gid=$(curl "${H[@]}" -X POST -H 'Content-Type: application/json' \
        -d "{\"scope\":\"$vm\",\"role\":\"user\",\"principal\":{\"upn\":\"dave_fabrikam.example#EXT#@contoso.example\"}}" \
        "$api/v1/loginGrants" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("id",""))')
    # the store does not know dave yet: the reconciler asks Graph, then the grant fails with its cause
    [ -n "$gid" ] || fail "POST /v1/loginGrants for the guest answered no grant id"
    poll "the guest's grant failing with its cause" 60 "$api/v1/loginGrants/$gid" "d.get('state') != 'pending'"
    curl "${H[@]}" "$api/v1/loginGrants/$gid" | problem
    curl "${H[@]}" -X POST -H 'Content-Type: application/json' \
        -d '{"scope":"/providers/Microsoft.Management/managementGroups/mg1","role":"user","principal":{"upn":"alice@contoso.example"}}' \
        "$api/v1/loginGrants" | problem
    poll "the grants being applied" 60 "$api/v1/loginGrants" "all(g.get('state') != 'pending' for g in d.get('value', []))"
    say "Who can sign in to win-vm-01, and as what? (GET .../access)"
    curl "${H[@]}" "$api/v1$vm/access" | python3 -c '
import json, sys
for a in json.load(sys.stdin).get("value", []):
    p = a["principal"]
    via = a["via"] + ((" " + a["group"]["displayName"]) if a.get("group") else "")
    print("  %-26s %-6s %-14s via %-24s %-9s at %-10s %s" % (p.get("upn") or p.get("displayName"),
          p["type"], a["role"], via, a["source"], a["scope"].split("/")[-1],
          ("until " + a["expiresAt"]) if a.get("expiresAt") else ""))'
    say "An RDP file for Entra sign-in (GET .../rdp)"
    curl "${H[@]}" "$api/v1$vm/rdp?upn=alice@contoso.example"
fi

if served "/signIn"; then
    say "Why can't she sign in? (GET .../signIn?principal=): one who can, two who can't"
    for who in alice@contoso.example erin@contoso.example \
        'dave_fabrikam.example#EXT#@contoso.example'; do
        u="$api/v1$vm/signIn?principal=$(python3 -c \
            'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$who")"
        # the first question schedules a read of her directory facts; the answer follows it
        poll "the directory facts of $who" 60 "$u" "d['directory']['state'] == 'checked'"
        curl "${H[@]}" "$u" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("  %-44s %s" % (sys.argv[1], d["verdict"]))
for c in d["checks"]:
    if c["status"] == "fail":
        print("      %s: %s" % (c["id"], c.get("reason", "")))
        if c.get("fix"):
            print("      fix: %s" % c["fix"])' "$who"
    done
fi

if [ "$pg" = 1 ]; then
    say "Replica 2 answers the same (GET .../access and the audit chain, from each replica)"
    vm=$rg/virtualMachines/win-vm-01
    for u in "$api" "$api2"; do
        printf '  %s: %s\n' "$u" "$(curl "${H[@]}" "$u/v1$vm/access" | sha256sum | cut -c1-16)"
    done
    [ "$(curl "${H[@]}" "$api/v1$vm/access" | sha256sum)" = \
        "$(curl "${H[@]}" "$api2/v1$vm/access" | sha256sum)" ] ||
        fail "the two replicas answered GET .../access differently"
    curl "${H[@]}" "$api2/v1/audit/verification" | json
fi

cat <<EOF2

== Try it yourself
export VL=$api KEY=$key
curl -s -H "Authorization: Bearer \$KEY" \$VL/v1/virtualMachines | python3 -m json.tool
curl -s -H "Authorization: Bearer \$KEY" -X POST \$VL/v1$rg/virtualMachines/ws2022-app-01/entraLogin/preflight | python3 -m json.tool
curl -s -H "Authorization: Bearer \$KEY" \$VL/v1/principals/alice@contoso.example/access | python3 -m json.tool
curl -s -H "Authorization: Bearer \$KEY" "\$VL/v1/audit?limit=20" | python3 -m json.tool
curl -s \$VL/metrics | grep vmlogind_
curl -s \$VL/v1/virtualMachines          # no key: 401 problem+json
azsim's own view of the tenant: curl -sk $sim/_sim/state

The same with vmloginctl, the command-line client (its settings in $work/xdg):
export XDG_CONFIG_HOME=$work/xdg
alias vmloginctl=$PWD/build-demo/cli/vmloginctl
vmloginctl config set url $api
vmloginctl login --api-key --key-file $work/api-key
vmloginctl vm list --subscription $sub -o wide
vmloginctl login status rg-entra
vmloginctl login enable rg-entra/ws2022-app-01 --wait     # live progress; Ctrl-C stops watching only
vmloginctl grant create --scope rg-entra/win-vm-01 --role user --principal bob@contoso.example --for 8h
vmloginctl access rg-entra/win-vm-01
vmloginctl signin rg-entra/win-vm-01 --principal carol@contoso.example --wait   # why can't she?
vmloginctl rdp rg-entra/win-vm-01 --upn alice@contoso.example -f win-vm-01.rdp
vmloginctl audit --follow                                  # Ctrl-C stops
vmloginctl --help; source <(vmloginctl completion bash)

Sign in as Carol with Entra ID (device code; azsim plays the browser):
vmloginctl --profile carol config set url $api
vmloginctl --profile carol config set tenant 8f3c1a2e-0000-4000-8000-00000000aaaa
vmloginctl --profile carol config set client-id 04b07795-8ddb-461a-bbee-02f9e1bf7b46
vmloginctl --profile carol config set login-url $sim
vmloginctl --profile carol config set scope 'api://vmlogind-demo/.default offline_access'
vmloginctl --profile carol config set ca-bundle $work/tls.crt
vmloginctl --profile carol login --entra &                  # shows a code
curl -sk -X POST $sim/_sim/deviceCodes/approve -d '{"userCode":"<the code>","upn":"carol@contoso.example","roles":["VmLogin.Operator"]}'
vmloginctl --profile carol vm list
EOF2

say "The ops dashboard"
echo "Open $api/ in a browser and sign in with the API key above (the page keeps it in the"
echo "tab's sessionStorage only); its Operations view follows /v1/events live."
echo "Or press \"Sign in with Entra\": azsim's sign-in page ($sim, a certificate made for this run:"
echo "accept the browser's warning once) lets you pick a user, e.g. Carol, and the app role she"
echo "holds (VmLogin.Operator); the page comes back signed in with her token (PKCE, no key)."

if [ -t 0 ]; then
    echo; echo "Both are running; Ctrl-C stops them."
    wait
fi

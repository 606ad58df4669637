# shellcheck shell=bash
# az_env.sh: sourced by az_interop.sh (the test) and bench/bench_azloop.sh (the benchmark). The
# real Azure CLI (Debian azure-cli) against azsim over HTTPS, inside a network namespace that
# has only loopback, logged in as the demo tenant's application.
#
#   az_env_netns "$0" "$@"        re-executes the script in a fresh namespace (once); returns
#                                 77 when az or namespaces are unavailable
#   az_env_start AZSIM SRC SCALE  starts azsim (demo scenario, --time-scale SCALE) on a new
#                                 self-signed certificate, registers it as cloud AzSim and logs
#                                 az in; sets WORK, BASE, PORT, SIM_PID and the ids below
#   sim PATH / sim_post PATH JSON azsim's /_sim/ control API
# The EXIT trap stops azsim and removes WORK.

TENANT=8f3c1a2e-0000-4000-8000-00000000aaaa
export SUB=5d0f6e8a-0000-4000-8000-00000000bbbb
APP=0a1b2c3d-0000-4000-8000-00000000c001
SECRET="azsim-demo-secret-not-a-credential"

az_env_netns() {
    local script=$1 how
    shift
    if ! command -v az >/dev/null 2>&1; then
        echo "SKIP: az not installed (scripts/install-deps.sh installs azure-cli)"
        return 77
    fi
    [[ -z ${AZSIM_NETNS:-} ]] || return 0
    # A fresh network namespace with only lo: nothing az does can leave the machine.
    for how in "unshare --net" "unshare --net --map-root-user"; do
        if $how true 2>/dev/null; then
            exec $how env AZSIM_NETNS=1 bash "$script" "$@"
        fi
    done
    echo "SKIP: cannot create a network namespace"
    return 77
}

az_env_cleanup() {
    if [[ -n ${SIM_PID:-} ]]; then
        kill "$SIM_PID" 2>/dev/null || true
        wait "$SIM_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}

sim() { curl -sf --cacert "$WORK/tls.crt" "$BASE/_sim/$1"; }
sim_post() {
    curl -sf --cacert "$WORK/tls.crt" -H 'Content-Type: application/json' -d "$2" "$BASE/_sim/$1"
}

az_env_start() {
    local azsim=$1 src=$2 scale=$3 deadline
    # Works around Debian 12's azure-cli packaging bugs for az only (see its header).
    local shim=$src/tests/sim/azcli-shim
    if [[ ! -f $shim/sitecustomize.py ]]; then
        echo "FAIL: $shim/sitecustomize.py missing from the source tree"
        return 1
    fi
    ip link set lo up
    # az reaches azsim's Graph as https://localhost:PORT (a name other than ARM's 127.0.0.1),
    # so the name must resolve without DNS: /etc/hosts (every Debian install has the line).
    case "$(python3 -c 'import socket; print(socket.gethostbyname("localhost"))' 2>/dev/null)" in
    127.*) ;;
    *)
        echo "FAIL: 'localhost' does not resolve to 127.0.0.1 here: add '127.0.0.1 localhost' to /etc/hosts"
        return 1
        ;;
    esac
    WORK=$(mktemp -d)
    SIM_PID=""
    trap az_env_cleanup EXIT
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
        -keyout "$WORK/tls.key" -out "$WORK/tls.crt" >/dev/null 2>&1
    "$azsim" --listen 127.0.0.1:0 --tls-cert "$WORK/tls.crt" --tls-key "$WORK/tls.key" \
        --scenario "$src/sim/scenarios/demo.json" --time-scale "$scale" \
        >"$WORK/azsim.out" 2>"$WORK/azsim.log" &
    SIM_PID=$!
    # 30 s, stretched on sanitizer runs like the C harness's process deadlines
    deadline=$((SECONDS + 30 * ${VMLOGIND_TEST_TIMEOUT_SCALE:-1}))
    until grep -q '^listening on https://127.0.0.1:' "$WORK/azsim.out"; do
        if [[ $SECONDS -ge $deadline ]] || ! kill -0 "$SIM_PID" 2>/dev/null; then
            echo "FAIL: azsim did not start"
            cat "$WORK/azsim.log"
            return 1
        fi
        sleep 0.05
    done
    PORT=$(sed -n 's|^listening on https://127.0.0.1:\([0-9]*\)$|\1|p' "$WORK/azsim.out")
    BASE=https://127.0.0.1:$PORT
    export AZURE_CONFIG_DIR=$WORK/azcfg AZURE_CORE_COLLECT_TELEMETRY=false \
        AZURE_CORE_SURVEY_MESSAGE=false AZURE_CORE_NO_COLOR=true AZURE_CORE_OUTPUT=json \
        REQUESTS_CA_BUNDLE=$WORK/tls.crt PYTHONPATH=$shim
    cat >"$WORK/cloud.json" <<JSON
{"endpoints": {
  "resourceManager": "$BASE/",
  "activeDirectory": "$BASE/adfs",
  "activeDirectoryResourceId": "https://management.core.windows.net/",
  "management": "https://management.core.windows.net/",
  "activeDirectoryGraphResourceId": "https://graph.windows.net/",
  "microsoftGraphResourceId": "https://localhost:$PORT/"
}}
JSON
    az cloud register -n AzSim --cloud-config @"$WORK/cloud.json" >/dev/null &&
        az cloud set -n AzSim &&
        az login --service-principal -u "$APP" -p "$SECRET" --tenant "$TENANT" >"$WORK/login.json"
}

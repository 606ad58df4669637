#!/usr/bin/env bash
# The real Azure CLI (Debian azure-cli 2.45) runs the seed's enable-login procedure against
# azsim over HTTPS, inside a network namespace that has only loopback. Every step must succeed
# and azsim's /_sim/ state must show its effect. Exit 77 (skipped) when az or namespaces are
# unavailable. Usage: az_interop.sh AZSIM_BIN SOURCE_DIR
set -euo pipefail

AZSIM=${1:?azsim binary}
SOURCE_DIR=${2:?source dir}
# Works around Debian 12's azure-cli packaging bugs for az only (see its header); carried here.
SHIM="$SOURCE_DIR/tests/sim/azcli-shim"

if ! command -v az >/dev/null 2>&1; then
    echo "SKIP: az not installed (scripts/install-deps.sh installs azure-cli)"
    exit 77
fi
if [ ! -f "$SHIM/sitecustomize.py" ]; then
    echo "FAIL: $SHIM/sitecustomize.py missing from the source tree"
    exit 1
fi
if [ -z "${AZSIM_NETNS:-}" ]; then
    # A fresh network namespace with only lo: nothing az does can leave the machine.
    for how in "unshare --net" "unshare --net --map-root-user"; do
        if $how true 2>/dev/null; then
            exec $how env AZSIM_NETNS=1 bash "$0" "$@"
        fi
    done
    echo "SKIP: cannot create a network namespace"
    exit 77
fi
ip link set lo up
# az reaches azsim's Graph as https://localhost:PORT (a name other than ARM's 127.0.0.1), so
# the name must resolve without DNS: /etc/hosts (every Debian install has the line).
case "$(python3 -c 'import socket; print(socket.gethostbyname("localhost"))' 2>/dev/null)" in
127.*) ;;
*) echo "FAIL: 'localhost' does not resolve to 127.0.0.1 here: add '127.0.0.1 localhost' to /etc/hosts"
   exit 1 ;;
esac

WORK=$(mktemp -d)
SIM_PID=""
cleanup() {
    if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
    -keyout "$WORK/tls.key" -out "$WORK/tls.crt" >/dev/null 2>&1

"$AZSIM" --listen 127.0.0.1:0 --tls-cert "$WORK/tls.crt" --tls-key "$WORK/tls.key" \
    --scenario "$SOURCE_DIR/sim/scenarios/demo.json" --time-scale 0.02 \
    >"$WORK/azsim.out" 2>"$WORK/azsim.log" &
SIM_PID=$!
# 30 s, stretched on sanitizer runs like the C harness's process deadlines
deadline=$((SECONDS + 30 * ${VMLOGIND_TEST_TIMEOUT_SCALE:-1}))
until grep -q '^listening on https://127.0.0.1:' "$WORK/azsim.out"; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$SIM_PID" 2>/dev/null; then
        echo "FAIL: azsim did not start"; cat "$WORK/azsim.log"; exit 1
    fi
    sleep 0.05
done
PORT=$(sed -n 's|^listening on https://127.0.0.1:\([0-9]*\)$|\1|p' "$WORK/azsim.out")
BASE=https://127.0.0.1:$PORT

export AZURE_CONFIG_DIR=$WORK/azcfg AZURE_CORE_COLLECT_TELEMETRY=false \
    AZURE_CORE_SURVEY_MESSAGE=false AZURE_CORE_NO_COLOR=true AZURE_CORE_OUTPUT=json \
    REQUESTS_CA_BUNDLE=$WORK/tls.crt PYTHONPATH=$SHIM
TENANT=8f3c1a2e-0000-4000-8000-00000000aaaa
SUB=5d0f6e8a-0000-4000-8000-00000000bbbb
APP=0a1b2c3d-0000-4000-8000-00000000c001
SECRET=azsim-demo-secret-not-a-credential
BOB=6b7c8d9e-0000-4000-8000-00000000d002
VMID=/subscriptions/$SUB/resourceGroups/rg-entra/providers/Microsoft.Compute/virtualMachines/win-vm-01

step() { echo "== $*"; }
sim() { curl -sf --cacert "$WORK/tls.crt" "$BASE/_sim/$1"; }
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }

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

step "cloud register"
az cloud register -n AzSim --cloud-config @"$WORK/cloud.json" >/dev/null
az cloud set -n AzSim

step "login --service-principal"
az login --service-principal -u $APP -p $SECRET --tenant $TENANT >"$WORK/login.json"
jq_py "assert any(s['id']=='$SUB' for s in d), d" <"$WORK/login.json"

step "vm identity assign"
az vm identity assign -g rg-entra -n win-vm-01 >"$WORK/identity.json"
PID=$(jq_py "print(d['systemAssignedIdentity'])" <"$WORK/identity.json")
sim "lookup?id=$PID" | jq_py "assert d['kind']=='servicePrincipal' and d['object']['servicePrincipalType']=='ManagedIdentity', d"

step "vm extension set AADLoginForWindows"
az vm extension set -g rg-entra --vm-name win-vm-01 --publisher Microsoft.Azure.ActiveDirectory \
    --name AADLoginForWindows >"$WORK/ext.json"
jq_py "assert d['provisioningState']=='Succeeded', d" <"$WORK/ext.json"
sim "lookup?id=$VMID" | jq_py "o=d['object']; assert o['identity']['principalId']=='$PID'; assert [e['properties']['provisioningState'] for e in o['resources']]==['Succeeded'], o['resources']"

step "role assignment create by UPN"
az role assignment create --role "Virtual Machine Administrator Login" \
    --assignee alice@contoso.example --scope "$VMID" >"$WORK/ra1.json"
RA1=$(jq_py "print(d['id'])" <"$WORK/ra1.json")
sim "lookup?id=$RA1" | jq_py "p=d['object']['properties']; assert p['principalId']=='6b7c8d9e-0000-4000-8000-00000000d001' and p['roleDefinitionId'].endswith('1c0163c0-47e6-4577-8991-ea5c82e286e4'), p"

step "role assignment create by object id"
az role assignment create --role "Virtual Machine User Login" --assignee-object-id $BOB \
    --assignee-principal-type User --scope "$VMID" >"$WORK/ra2.json"
RA2=$(jq_py "print(d['name'])" <"$WORK/ra2.json")

step "role assignment create again (idempotent)"
az role assignment create --role "Virtual Machine User Login" --assignee-object-id $BOB \
    --assignee-principal-type User --scope "$VMID" >"$WORK/ra2b.json"
jq_py "assert d['name']=='$RA2', d" <"$WORK/ra2b.json"
az role assignment create --role "Virtual Machine Administrator Login" \
    --assignee alice@contoso.example --scope "$VMID" >/dev/null
sim "roleAssignments?scope=$VMID" | jq_py "assert len(d['value'])==2, d"

step "vm show"
az vm show -g rg-entra -n win-vm-01 >"$WORK/show.json"
jq_py "assert d['identity']['type']=='SystemAssigned' and d['identity']['principalId']=='$PID', d['identity']" <"$WORK/show.json"

step "role assignment list"
az role assignment list --scope "$VMID" >"$WORK/list.json"
jq_py "names=sorted(a['roleDefinitionName'] for a in d); assert names==['Virtual Machine Administrator Login','Virtual Machine User Login'], names; assert 'alice@contoso.example' in [a['principalName'] for a in d]" <"$WORK/list.json"

step "role assignment delete"
az role assignment delete --assignee alice@contoso.example \
    --role "Virtual Machine Administrator Login" --scope "$VMID"
az role assignment delete --ids "$VMID/providers/Microsoft.Authorization/roleAssignments/$RA2"
sim "roleAssignments?scope=$VMID" | jq_py "assert d['value']==[], d"

step "azsim saw the mutations"
sim stats | jq_py "ops=[m['op'] for m in d['mutations']]; assert ops.count('vm.patch')==1 and ops.count('ext.put')==1 and ops.count('ra.delete')==2, ops; assert d['violations']==0"
echo "PASS"

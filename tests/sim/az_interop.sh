#!/usr/bin/env bash
# The real Azure CLI (Debian azure-cli 2.45) runs the seed's enable-login procedure against
# azsim over HTTPS, inside a network namespace that has only loopback. Every step must succeed
# and azsim's /_sim/ state must show its effect. Exit 77 (skipped) when az or namespaces are
# unavailable. Usage: az_interop.sh AZSIM_BIN SOURCE_DIR
set -euo pipefail

AZSIM=${1:?azsim binary}
SOURCE_DIR=${2:?source dir}
. "$SOURCE_DIR/tests/sim/az_env.sh"
az_env_netns "$0" "$@" || exit $?

step() { echo "== $*"; }
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }

step "cloud register, login --service-principal"
az_env_start "$AZSIM" "$SOURCE_DIR" 0.02 || exit 1
jq_py "assert any(s['id']=='$SUB' for s in d), d" <"$WORK/login.json"
BOB=6b7c8d9e-0000-4000-8000-00000000d002
VMID=/subscriptions/$SUB/resourceGroups/rg-entra/providers/Microsoft.Compute/virtualMachines/win-vm-01

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

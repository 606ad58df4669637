#!/usr/bin/env bash
# bench_azloop.sh: the seed's manual procedure, as a script would run it, per VM and one VM
# after another: az vm identity assign, az vm extension set AADLoginForWindows, az role
# assignment create (Virtual Machine Administrator Login for alice). The real Azure CLI
# (Debian azure-cli) against azsim at the enable benchmark's time scale (1: identity PATCH
# 10 s, extension install 90 s) and its default ARM limits, in a network namespace with only
# loopback. It is the anchor for bench_enable200's per-VM time.
#
#   bench/bench_azloop.sh [N]        N VMs (default 2); needs root (or user namespaces), az
# Env: BUILD (the Release build dir, for azsim), BENCH_AZLOOP_SCALE (default 1).
# Prints RESULT lines: the loop's seconds per VM.
set -euo pipefail
: "${BUILD:?set BUILD to the Release build directory}"
SRC=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-2}
scale=${BENCH_AZLOOP_SCALE:-1}
. "$SRC/tests/sim/az_env.sh"
rc=0
az_env_netns "$0" "$@" || rc=$?
if [[ $rc -ne 0 ]]; then
    printf 'RESULT\taz loop per VM\t-\tskipped (no az or namespace)\t-\n'
    exit 0
fi
az_env_start "$BUILD/sim/azsim" "$SRC" "$scale" >&2

RG=rg-azloop
for ((i = 0; i < N; i++)); do
    sim_post vms "{\"subscriptionId\": \"$SUB\", \"resourceGroup\": \"$RG\",
        \"name\": \"azloop-$i\", \"location\": \"westeurope\", \"osType\": \"Windows\",
        \"osName\": \"Windows Server 2022 Datacenter Azure Edition\",
        \"osVersion\": \"10.0.20348.2762\",
        \"imageReference\": {\"publisher\": \"MicrosoftWindowsServer\",
        \"offer\": \"WindowsServer\", \"sku\": \"2022-datacenter-azure-edition\",
        \"version\": \"latest\"}}" >/dev/null
done

now() { date +%s.%N; }
t0=$(now)
for ((i = 0; i < N; i++)); do
    vm=azloop-$i
    id=/subscriptions/$SUB/resourceGroups/$RG/providers/Microsoft.Compute/virtualMachines/$vm
    a=$(now)
    az vm identity assign -g "$RG" -n "$vm" >/dev/null
    b=$(now)
    az vm extension set -g "$RG" --vm-name "$vm" --publisher Microsoft.Azure.ActiveDirectory \
        --name AADLoginForWindows >/dev/null
    c=$(now)
    az role assignment create --role "Virtual Machine Administrator Login" \
        --assignee alice@contoso.example --scope "$id" >/dev/null
    e=$(now)
    awk -v vm="$vm" -v a="$a" -v b="$b" -v c="$c" -v e="$e" 'BEGIN {
        printf "%s: identity %.1f s, extension %.1f s, role assignment %.1f s, total %.1f s\n",
               vm, b - a, c - b, e - c, e - a }' >&2
done
t1=$(now)
per=$(awk -v a="$t0" -v b="$t1" -v n="$N" 'BEGIN { printf "%.1f", (b - a) / n }')
echo "az loop: $N VMs in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s," \
    "${per} s per VM (time scale $scale)"
printf 'RESULT\taz loop per VM (%d VMs)\t-\t%s s\t-\n' "$N" "$per"

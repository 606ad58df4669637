#!/usr/bin/env bash
# Cheap source checks: banned functions and the layer rule of DESIGN §3. (The route table
# against api/openapi.yaml is the ctest contract.routes_match_openapi.) Works without git (a
# release tarball) and fails when it finds no sources, rather than checking nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
fail=0
mapfile -t sources < <(list_files 'server/*.c' 'sim/*.c' 'cli/*.c')
need_files "C sources (server/, sim/)" "${sources[@]}"
if grep -nE '\b(strcpy|strcat|sprintf|vsprintf|atoi|atol|strtok|gets)\s*\(' "${sources[@]}" </dev/null; then
    echo "banned function used (see above)"; fail=1
fi
# A size multiplied inside an allocation can wrap around: xmallocarray/xreallocarray/xmul
# (core/xalloc.c) check the product.
if grep -nE '\bx?(malloc|realloc)\([^;]*[])A-Za-z0-9_] \* ' "${sources[@]}"; then
    echo "multiplied allocation size: use xmallocarray, xreallocarray or xmul"; fail=1
fi
# Layers call downward only: nothing includes api/; http and azure depend on core only;
# store never includes azure, azure never includes store.
check_layer() { # dir pattern message
    local files
    mapfile -t files < <(list_files "server/$1/*.c" "server/$1/*.h")
    need_files "sources in server/$1/" "${files[@]}"
    if [ ${#files[@]} -gt 0 ] && grep -nE "$2" "${files[@]}" </dev/null; then
        echo "layering: $3"; fail=1
    fi
}
check_layer http '#include "vmlogind/(store|azure|auth|api|reconcile)' "http depends on core only"
check_layer azure '#include "vmlogind/(store|http|auth|api|reconcile)' "azure depends on core only"
check_layer store '#include "vmlogind/(azure|http|auth|api|reconcile)' "store never calls azure/http"
check_layer core '#include "vmlogind/(store|azure|http|auth|api|reconcile)' "core is the bottom"
check_layer reconcile '#include "vmlogind/(api|http)' "reconcile never calls api/http"
# access (the access read model) sits between api and store/model: api may include it; it
# includes store, model and core only; nothing below it includes it.
check_layer access '#include "(vmlogind/(api|http|auth|azure|reconcile)|(api|http|auth|azure|reconcile)/)' "access depends on store, model and core only"
for below in store model core http azure auth reconcile; do
    check_layer "$below" '#include "(vmlogind/access|access/)' "nothing below access includes it"
done
exit $fail

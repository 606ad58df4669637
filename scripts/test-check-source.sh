#!/usr/bin/env bash
# Proves that check-source.sh catches what it is there to catch: on a scratch copy of the tree
# (which must pass as it is), each case below plants one violation, and the check must fail
# naming the planted file. Run by scripts/test.sh after check-source.sh itself.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mapfile -t files < <(list_files 'server/*' 'include/*' 'cli/*' 'sim/*' 'scripts/*')
need_files "sources to copy" "${files[@]}"
tar -cf - "${files[@]}" | tar -xf - -C "$scratch"
(cd "$scratch" && ./scripts/check-source.sh >/dev/null) || { echo "the clean copy fails"; exit 1; }

failed=0
# plant FILE LINE EXPECT: appends LINE to FILE in a fresh copy; the check must fail and print
# EXPECT (a fixed string).
plant() {
    local file=$1 line=$2 expect=$3 out existed=0
    mkdir -p "$(dirname "$scratch/$file")"
    [ -e "$scratch/$file" ] && existed=1 && cp "$scratch/$file" "$scratch/$file.orig"
    printf '%s\n' "$line" >>"$scratch/$file"
    if out=$(cd "$scratch" && ./scripts/check-source.sh 2>&1); then
        echo "NOT CAUGHT: $file: $line"; failed=1
    elif ! grep -qF -- "$expect" <<<"$out"; then
        echo "caught, but without '$expect': $file: $line"; echo "$out"; failed=1
    fi
    if [ $existed -eq 1 ]; then mv "$scratch/$file.orig" "$scratch/$file"
    else rm -f "$scratch/$file"; fi
}
# the include that issue 12 removed: api used reconcile's header for the kind strings
plant server/api/api_sync.c '#include "vmlogind/reconcile_login.h"' "api may not include reconcile"
plant server/model/model_vm.c '#include "vmlogind/store.h"' "model may not include store"
plant server/auth/auth.c '#include "vmlogind/api.h"' "auth may not include api"
plant server/http/http_router.c '#include "vmlogind/auth.h"' "http may not include auth"
plant server/store/store.c '#include "vmlogind/azure_arm.h"' "store may not include azure"
plant server/azure/azure_client.c '#include "vmlogind/store.h"' "azure may not include store"
plant server/reconcile/reconcile_loop.c '#include "vmlogind/api.h"' "reconcile may not include api"
plant server/core/buf.c '#include "vmlogind/model.h"' "core may not include model"
plant server/access/access_index.c '#include "vmlogind/api.h"' "access may not include api"
plant cli/cmds.c '#include "vmlogind/store.h"' "cli may not include store"
plant include/vmlogind/store_grants.h '#include "vmlogind/reconcile.h"' "store may not include reconcile"
plant server/api/api_vms.c '#include "../store/store_int.h"' "relative include"
plant server/api/api_vms.c '#include "store/store_int.h"' "private header of another layer"
plant server/widgets/widgets.c '#include "vmlogind/log.h"' 'layer "widgets" is not in layer_rules'
# state words compared as strings outside model/
plant server/api/api_vms.c 'static int f(const char *s) { return strcmp(s, "enabled") == 0; }' \
    "state or kind word compared"
plant server/reconcile/reconcile_loop.c 'static int f(const char *s) { return ieq(s, "Succeeded"); }' \
    "state or kind word compared"
plant server/api/api_grants.c 'static int f(const char *s) { return !strcmp(s, MODEL_GRANT_ACTIVE); }' \
    "state or kind word compared"
# ownership verbs in the exported headers
plant include/vmlogind/store.h 'char *store_vm_name(struct store *st);' \
    "without an ownership verb"
plant include/vmlogind/store.h 'char *store_vm_name_get(struct store *st);' \
    "returns a borrowed pointer"
plant include/vmlogind/store.h 'const char *store_vm_name_dup(struct store *st);' \
    "hands over ownership"
[ $failed -eq 0 ] && echo "check-source.sh catches every planted violation"
exit $failed

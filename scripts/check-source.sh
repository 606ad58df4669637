#!/usr/bin/env bash
# Cheap source checks: banned functions, state words compared as strings outside model/, and
# the layer rule of DESIGN §3; scripts/test-check-source.sh proves each one catches a plant.
# (The route table against api/openapi.yaml is the ctest contract.routes_match_openapi.) Works
# without git (a release tarball) and fails when it finds no sources, rather than checking
# nothing.
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
# Task kinds and stored states are compared through model_states.h (login_state_is, ...), never
# as strings: a comparison call naming one of the words of model_states.c's tables fails outside
# server/model/. azure/ is left out: it reads ARM's own words (an LRO's "Succeeded"), which
# share spellings with operation statuses but are Azure's, not ours.
mapfile -t state_words < <(grep -oE '\] = "[A-Za-z_]+"' server/model/model_states.c |
    sed -E 's/.*"(.*)"/\1/' | sort -u)
[ ${#state_words[@]} -ge 20 ] || { echo "no state words found in model_states.c"; fail=1; }
words=$(IFS='|'; echo "${state_words[*]}")
cmp='\b(strn?(case)?cmp|ieq|streq)\s*\('
# a literal word anywhere in the call's statement, or a macro spelling one (MODEL_GRANT_ACTIVE)
# as an argument of the call
state_re="${cmp}[^;]*\"($words)\"|${cmp}[^;()]*\b[A-Z][A-Z0-9_]*_(${words^^})\b\s*[,)]"
mapfile -t state_files < <(printf '%s\n' "${sources[@]}" | grep -E '^server/' |
    grep -vE '^server/(model|azure)/')
if grep -nE "$state_re" "${state_files[@]}" </dev/null; then
    echo "state or kind word compared as a string: use the model_states.h enums"; fail=1
fi
# Layers call downward only (DESIGN section 3). Every #include "..." of a file in a layer (its
# server/<layer>/ sources and its include/vmlogind/<layer>*.h headers) must name core, the layer
# itself or one it may call: a vmlogind/<name>.h header belongs to the layer its name starts
# with; "<dir>/x.h" is another layer's private header (only its own layer may include it); a
# relative "../x.h" is refused outright, since it can reach any layer past this check. A header
# whose layer is unknown fails too, so a new layer has to be added here.
# layer: the layers it may include besides core and itself ("main" is server/main.c, the
# composition root that wires them all together).
layer_rules='core: | model: | http: | azure: | store:model | auth:store model
    | access:store model | reconcile:store azure model | api:http auth access store model | cli:
    | main:http auth access store model azure reconcile api'
core_headers='buf cert clock config err jose log uuid violations xalloc'
mapfile -t layer_files < <(list_files 'server/*.c' 'server/*.h' 'include/vmlogind/*.h' 'cli/*.c' \
    'cli/*.h')
need_files "layered sources" "${layer_files[@]}"
if ! grep -HE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "${layer_files[@]}" </dev/null |
    awk -v rules="$layer_rules" -v core="$core_headers" '
    function layer_of(name,    l) { # a vmlogind/<name>.h header -> its layer, "" if unknown
        if (name in is_core) return "core"
        for (l in may) if (name == l || index(name, l "_") == 1) return l
        return ""
    }
    BEGIN {
        n = split(rules, r, "|")
        for (i = 1; i <= n; i++) {
            split(r[i], kv, ":"); gsub(/[[:space:]]/, "", kv[1]); may[kv[1]] = " " kv[2] " "
        }
        n = split(core, c, " "); for (i = 1; i <= n; i++) is_core[c[i]] = 1
    }
    {
        file = $0; sub(/:.*/, "", file)
        inc = $0; sub(/^[^"]*"/, "", inc); sub(/".*/, "", inc)
        if (file == "server/main.c") layer = "main"
        else if (file ~ /^server\/[a-z]+\//) { split(file, p, "/"); layer = p[2] }
        else if (file ~ /^cli\//) layer = "cli"
        else { h = file; sub(/.*\//, "", h); sub(/\.h$/, "", h); layer = layer_of(h) }
        if (!(layer in may)) { print file ": layer \"" layer "\" is not in layer_rules"; bad = 1; next }
        if (inc ~ /(^|\/)\.\.\//) { print file ": \"" inc "\": relative include"; bad = 1; next }
        if (inc !~ /\//) next                       # a header beside the including file
        split(inc, p, "/")
        if (p[1] == "vmlogind") { h = p[2]; sub(/\.h$/, "", h); target = layer_of(h) }
        else if (p[1] == layer) next                # its own private header
        else { print file ": \"" inc "\": private header of another layer"; bad = 1; next }
        if (target == "") { print file ": \"" inc "\": header of no known layer"; bad = 1; next }
        if (target == "core" || target == layer || index(may[layer], " " target " ")) next
        print file ": \"" inc "\": " layer " may not include " target; bad = 1
    }
    END { exit bad }'; then
    echo "layering: see DESIGN section 3 (layer_rules above)"; fail=1
fi
# Ownership verbs (STYLE 3.2): in the exported headers, a function that hands back a pointer the
# caller then owns (a non-const return) says so with its verb (_new, _dup, _steal, _to_json,
# _parse, ...); a borrowed answer (_get, _find, _str, _for) is const; a _new or _dup never
# returns const. own_exempt lists the few that own without the verb, each with its reason.
own_verbs='_(new|dup|strdup|strndup|steal|json|text|parse|sign|encode|decode)$|_from_[a-z]+$'
own_verbs+='|^x[a-z]+$' # core/xalloc.c: malloc's family, aborting on OOM
own_exempt=' http_alloc http_printf ' # request arena: freed with the request, like http_strdup
own_exempt+=' x5t_sha1 x5t_sha256 ' # thumbprint strings, named as JOSE names them
own_exempt+=' http_problem_body ' # the reply body for http_reply_take (hands it on)
own_exempt+=' model_onvm_script model_signin_evaluate ' # new jansson references, as documented
own_exempt+=' store_pg_pool ' # the store's own pool, borrowed: jobs and listeners open on it
mapfile -t headers < <(list_files 'include/vmlogind/*.h')
need_files "exported headers" "${headers[@]}"
if ! grep -HnE '^(const )?[a-z_]+( [a-z_]+)? \*+[a-z_0-9]+\(' "${headers[@]}" </dev/null |
    awk -v verbs="$own_verbs" -v exempt="$own_exempt" '
    {
        decl = $0; sub(/^[^:]*:[0-9]+:/, "", decl)
        name = decl; sub(/\(.*/, "", name); sub(/.*[ *]/, "", name)
        is_const = decl ~ /^const /
        where = $0; sub(/:[^:]*$/, "", where); sub(/:[0-9]+$/, "", where)
        if (!is_const && name ~ /_(get|find|str|for)$/) {
            print where ": " name " returns a borrowed pointer: make it const"; bad = 1
        } else if (is_const && name ~ /_(new|dup)$/) {
            print where ": " name " hands over ownership: its pointer is not const"; bad = 1
        } else if (!is_const && name !~ verbs && index(exempt, " " name " ") == 0) {
            print where ": " name " returns an owned pointer without an ownership verb"; bad = 1
        }
    }
    END { exit bad }'; then
    echo "ownership verbs: see STYLE 3.2 (own_verbs above)"; fail=1
fi
exit $fail

/* fuzz_model_scope.c: model_scope_parse on any text (scopes arrive in request bodies, paths and
 * query strings). An accepted scope is canonical: its arm form parses to the same scope, and
 * the same scope comes out of model_scope_from_parts. Also the role and principal-type
 * spellings, which arrive in the same bodies and in ARM role-definition ids. */
#include <stdio.h>

#include "fuzz.h"
#include "vmlogind/model_grant.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strdup(data, size);
    struct model_scope sc, again, parts;
    struct violations vs;
    const char *t;

    violations_init(&vs);
    if (model_scope_parse(s, &sc, &vs, "scope")) {
        if (!model_scope_parse(sc.arm, &again, NULL, "scope") || strcmp(again.arm, sc.arm) != 0 ||
            strcmp(again.key, sc.key) != 0) {
            fprintf(stderr, "scope '%s' -> '%s' is not canonical\n", s, sc.arm);
            abort();
        }
        if (!model_scope_from_parts(
                sc.subscription, sc.kind >= MODEL_SCOPE_RESOURCE_GROUP ? sc.resource_group : NULL,
                sc.kind == MODEL_SCOPE_VM ? sc.vm : NULL, &parts, NULL) ||
            strcmp(parts.key, sc.key) != 0) {
            fprintf(stderr, "scope '%s' from its parts differs\n", sc.arm);
            abort();
        }
    } else if (vs.n == 0) {
        abort();
    }
    (void)model_grant_role_parse(s);
    (void)model_grant_role_from_definition(s);
    t = model_grant_principal_type_arm(s);
    if (t != NULL && model_grant_principal_type_api(t) == NULL)
        abort();
    free(s);
    return 0;
}

/* fuzz_model_login.c: the PUT .../entraLogin body (model_login_spec_from_json) as the API reads
 * it, with duplicate keys refused. An accepted spec must survive its canonical text form
 * (to_text, from_text, to_text gives the same text), and be usable against any VM tags. Also
 * model_login_scope_from_id on the same input as text. */
#include <jansson.h>
#include <stdio.h>

#include "fuzz.h"
#include "vmlogind/model_login.h"

static void check_spec(const struct model_login_spec *s)
{
    struct model_login_spec again;
    char *text = model_login_spec_to_text(s);
    char *text2;

    if (text == NULL || !model_login_spec_from_text(text, &again)) {
        fprintf(stderr, "spec text does not read back: %s\n", text ? text : "(null)");
        abort();
    }
    text2 = model_login_spec_to_text(&again);
    if (text2 == NULL || strcmp(text, text2) != 0) {
        fprintf(stderr, "spec text not canonical: %s -> %s\n", text, text2 ? text2 : "(null)");
        abort();
    }
    (void)model_login_excluded(s, "{\"env\":\"prod\",\"Owner\":\"ops\"}");
    (void)model_login_excluded(s, NULL);
    (void)model_version_cmp(s->extension_version, "1.0.0.1");
    model_login_spec_cleanup(&again);
    free(text2);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    char *s = fuzz_strdup(data, size);
    struct model_login_spec spec;
    struct model_scope sc;
    struct violations vs;

    violations_init(&vs);
    memset(&spec, 0, sizeof(spec));
    if (root != NULL) {
        if (model_login_spec_from_json(root, "enforce", "1.0", &spec, &vs))
            check_spec(&spec);
        else if (vs.n == 0)
            abort(); /* a refusal names at least one violation */
        model_login_spec_cleanup(&spec);
    }
    if (model_login_scope_from_id(s, &sc))
        (void)model_login_scope_kind_str(sc.kind);
    (void)model_version_cmp(s, "1.0");
    json_decref(root);
    free(s);
    return 0;
}

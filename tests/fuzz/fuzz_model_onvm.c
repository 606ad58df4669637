/* fuzz_model_onvm.c: the on-VM check script's output (model_onvm_parse), which comes from the
 * VM: any bytes give an object of the documented shape, and the sign-in verdict takes it. */
#include <jansson.h>
#include <stdio.h>

#include "fuzz.h"
#include "vmlogind/model_onvm.h"
#include "vmlogind/model_signin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *o = model_onvm_parse((const char *)data, size);
    json_t *r;

    if (!json_is_object(json_object_get(o, "dsregcmd")) ||
        !json_is_array(json_object_get(o, "endpoints")) ||
        !json_is_array(json_object_get(o, "administrators"))) {
        fprintf(stderr, "model_onvm_parse: shape broken\n");
        abort();
    }
    r = model_signin_evaluate(&(struct model_signin_input){.principal = "a@b.c", .on_vm = o});
    if (json_string_value(json_object_get(r, "verdict")) == NULL)
        abort();
    json_decref(r);
    json_decref(o);
    return 0;
}

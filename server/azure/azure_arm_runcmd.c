/* azure_arm_runcmd.c: the result of an ARM Run Command. VirtualMachines_RunCommand
 * (specification/compute/resource-manager/Microsoft.Compute/ComputeRP/stable/2024-07-01/
 * virtualMachine.json) ends through Azure-AsyncOperation, whose final body carries the
 * RunCommandResult as properties.output: {value: [{code: "ComponentStatus/StdOut/succeeded",
 * message: <stdout>}, {code: "ComponentStatus/StdErr/succeeded", message: <stderr>}]}. */
#include <stdlib.h>
#include <string.h>

#include "azure/azure_internal.h"
#include "vmlogind/azure_arm.h"
#include "vmlogind/xalloc.h"

enum err azure_vm_run_command_output(struct azure_client *c, const struct azure_lro *l, char **out,
                                     struct azure_error *ae)
{
    struct azure_request rq = {.method = "GET",
                               .url = l->poll_url,
                               .api = AZURE_API_ARM,
                               .subscription = l->subscription,
                               .op = "vm_run_command_result"};
    json_t *root = NULL, *st;
    enum err rc;
    size_t i;

    *out = NULL;
    if (l->poll_url == NULL)
        return ERR_INVALID;
    rc = azure_send_json(c, &rq, &root, ae);
    json_array_foreach(
        json_object_get(json_object_get(json_object_get(root, "properties"), "output"), "value"), i,
        st)
    {
        const char *code = json_string_value(json_object_get(st, "code"));
        const char *msg = json_string_value(json_object_get(st, "message"));
        if (rc == ERR_OK && *out == NULL && code != NULL && strstr(code, "StdOut") != NULL &&
            msg != NULL)
            *out = xstrdup(msg);
    }
    json_decref(root);
    if (rc == ERR_OK && *out == NULL)
        rc = ERR_CLOUD;
    return rc;
}

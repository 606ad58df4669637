/* fuzz_azure_arm.c: the ARM response parsers (VM, extension, role assignment) on any JSON an
 * ARM endpoint may send, a list page {"value":[...]} or one resource. Each item goes through
 * all three parsers (ARM reuses shapes, and a parser must cope with the wrong one), then the
 * VM's derived values: the identity PATCH body must be valid JSON. */
#include <jansson.h>
#include <stdio.h>

#include "fuzz.h"
#include "fuzz_json.h"
#include "azure/azure_internal.h"
#include "vmlogind/azure_arm.h"

static void vm_cleanup(void *p)
{
    azure_vm_cleanup(p);
}

static void ext_cleanup(void *p)
{
    azure_extension_cleanup(p);
}

static void ra_cleanup(void *p)
{
    azure_role_assignment_cleanup(p);
}

static const struct azure_typed_page vm_page = {
    .size = sizeof(struct azure_vm), .parse = azure_vm_parse, .cleanup = vm_cleanup};
static const struct azure_typed_page ext_page = {
    .size = sizeof(struct azure_extension), .parse = azure_extension_parse, .cleanup = ext_cleanup};
static const struct azure_typed_page ra_page = {.size = sizeof(struct azure_role_assignment),
                                                .parse = azure_role_assignment_parse,
                                                .cleanup = ra_cleanup};

static void check_vm(const struct azure_vm *vm)
{
    char part[256];
    struct buf body;
    bool needed = false;

    if (vm->id != NULL) {
        (void)azure_id_segment(vm->id, "subscriptions", part, sizeof(part));
        (void)azure_id_segment(vm->id, "resourceGroups", part, sizeof(part));
        (void)azure_id_segment(vm->id, "virtualMachines", part, sizeof(part));
    }
    (void)azure_extension_find(vm->extensions, vm->n_extensions, AZURE_AADLOGIN_PUBLISHER,
                               AZURE_AADLOGIN_TYPE);
    buf_init(&body, 1 << 20);
    if (azure_vm_identity_patch_body(vm, &body, &needed) == ERR_OK && needed) {
        json_t *j = json_loads(body.data, JSON_REJECT_DUPLICATES, NULL);
        /* Duplicate user-assigned ids may be refused; anything else must parse. */
        if (j == NULL && json_loads(body.data, 0, NULL) == NULL) {
            fprintf(stderr, "identity PATCH body is not JSON: %s\n", body.data);
            abort();
        }
        json_decref(j);
    }
    buf_cleanup(&body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *root = json_loadb((const char *)data, size, 0, NULL);
    json_t *arr;
    size_t n;
    struct azure_vm *vms;
    void *items;

    if (root == NULL)
        return 0;
    arr = fuzz_json_items(root);
    vms = azure_typed_parse_array(&vm_page, arr, &n);
    for (size_t i = 0; i < n; i++)
        check_vm(&vms[i]);
    azure_typed_free_array(&vm_page, vms, n);
    items = azure_typed_parse_array(&ext_page, arr, &n);
    azure_typed_free_array(&ext_page, items, n);
    items = azure_typed_parse_array(&ra_page, arr, &n);
    azure_typed_free_array(&ra_page, items, n);
    json_decref(arr);
    json_decref(root);
    return 0;
}

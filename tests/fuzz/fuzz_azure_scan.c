/* fuzz_azure_scan.c: the list-page scanner (azure_page_scan with the VM and role assignment
 * item scanners) against the json_t path it replaces, on any bytes. Both must refuse the
 * same texts with the same code; on a page both read, the next link and every item must be
 * equal field by field. Texts with a repeated member are only held to the verdict: the
 * scanner merges a repeated object member where jansson keeps the last one. */
#include <jansson.h>

#include "fuzz.h"
#include "azure/azure_internal.h"
#include "vmlogind/azure_arm.h"

static void vm_cleanup(void *p)
{
    azure_vm_cleanup(p);
}

static void ra_cleanup(void *p)
{
    azure_role_assignment_cleanup(p);
}

static const struct azure_typed_page vm_page = {.size = sizeof(struct azure_vm),
                                                .parse = azure_vm_parse,
                                                .scan = azure_vm_scan,
                                                .cleanup = vm_cleanup};
static const struct azure_typed_page ra_page = {.size = sizeof(struct azure_role_assignment),
                                                .parse = azure_role_assignment_parse,
                                                .scan = azure_role_assignment_scan,
                                                .cleanup = ra_cleanup};

static void same_str(const char *what, const char *a, const char *b)
{
    if ((a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0)) {
        fprintf(stderr, "%s differs: json_t '%s', scanner '%s'\n", what, a ? a : "(null)",
                b ? b : "(null)");
        abort();
    }
}

static void same_n(const char *what, size_t a, size_t b)
{
    if (a != b) {
        fprintf(stderr, "%s differs: json_t %zu, scanner %zu\n", what, a, b);
        abort();
    }
}

static void same_statuses(const struct azure_status *a, size_t na, const struct azure_status *b,
                          size_t nb)
{
    same_n("statuses", na, nb);
    for (size_t i = 0; i < na; i++) {
        same_str("status code", a[i].code, b[i].code);
        same_str("status level", a[i].level, b[i].level);
        same_str("status displayStatus", a[i].display_status, b[i].display_status);
        same_str("status message", a[i].message, b[i].message);
        same_str("status time", a[i].time, b[i].time);
    }
}

static void same_ext(const struct azure_extension *a, const struct azure_extension *b)
{
    same_str("ext id", a->id, b->id);
    same_str("ext name", a->name, b->name);
    same_str("ext location", a->location, b->location);
    same_str("ext publisher", a->publisher, b->publisher);
    same_str("ext type", a->type, b->type);
    same_str("ext typeHandlerVersion", a->type_handler_version, b->type_handler_version);
    same_n("ext autoUpgrade", a->auto_upgrade_minor_version, b->auto_upgrade_minor_version);
    same_str("ext provisioningState", a->provisioning_state, b->provisioning_state);
    same_str("ext iv typeHandlerVersion", a->iv_type_handler_version, b->iv_type_handler_version);
    same_statuses(a->statuses, a->n_statuses, b->statuses, b->n_statuses);
    same_statuses(a->substatuses, a->n_substatuses, b->substatuses, b->n_substatuses);
}

static void same_vm(const struct azure_vm *a, const struct azure_vm *b)
{
    same_str("id", a->id, b->id);
    same_str("name", a->name, b->name);
    same_str("subscription", a->subscription_id, b->subscription_id);
    same_str("resource group", a->resource_group, b->resource_group);
    same_str("location", a->location, b->location);
    same_str("etag", a->etag, b->etag);
    same_str("vmId", a->vm_id, b->vm_id);
    same_str("computerName", a->computer_name, b->computer_name);
    same_str("osType", a->os_type, b->os_type);
    same_str("image publisher", a->image_publisher, b->image_publisher);
    same_str("image offer", a->image_offer, b->image_offer);
    same_str("image sku", a->image_sku, b->image_sku);
    same_str("image version", a->image_version, b->image_version);
    same_str("image id", a->image_id, b->image_id);
    same_str("osName", a->os_name, b->os_name);
    same_str("osVersion", a->os_version, b->os_version);
    same_str("power state", a->power_state, b->power_state);
    same_str("provisioningState", a->provisioning_state, b->provisioning_state);
    same_str("identity type", a->identity_type, b->identity_type);
    same_str("identity principalId", a->identity_principal_id, b->identity_principal_id);
    same_str("identity tenantId", a->identity_tenant_id, b->identity_tenant_id);
    same_n("user-assigned ids", a->n_user_assigned, b->n_user_assigned);
    for (size_t i = 0; i < a->n_user_assigned; i++)
        same_str("user-assigned id", a->user_assigned_ids[i], b->user_assigned_ids[i]);
    same_n("tags", a->n_tags, b->n_tags);
    for (size_t i = 0; i < a->n_tags; i++) {
        same_str("tag key", a->tags[i].key, b->tags[i].key);
        same_str("tag value", a->tags[i].value, b->tags[i].value);
    }
    same_statuses(a->statuses, a->n_statuses, b->statuses, b->n_statuses);
    same_n("has resources", a->has_resources, b->has_resources);
    same_n("extensions", a->n_extensions, b->n_extensions);
    for (size_t i = 0; i < a->n_extensions; i++)
        same_ext(&a->extensions[i], &b->extensions[i]);
}

static void same_ra(const struct azure_role_assignment *a, const struct azure_role_assignment *b)
{
    same_str("ra id", a->id, b->id);
    same_str("ra name", a->name, b->name);
    same_str("ra scope", a->scope, b->scope);
    same_str("ra roleDefinitionId", a->role_definition_id, b->role_definition_id);
    same_str("ra role guid", a->role_definition_guid, b->role_definition_guid);
    same_str("ra principalId", a->principal_id, b->principal_id);
    same_str("ra principalType", a->principal_type, b->principal_type);
    same_str("ra description", a->description, b->description);
    same_str("ra condition", a->condition, b->condition);
    same_str("ra createdOn", a->created_on, b->created_on);
    same_str("ra updatedOn", a->updated_on, b->updated_on);
}

/* The json_t path's verdict and next link, as azure_send_json + azure_page do it. */
static const char *expected(json_t *root, const json_t **value, const char **next)
{
    const char *n;

    *value = json_object_get(root, "value");
    *next = NULL;
    if (root == NULL)
        return "InvalidResponseBody";
    if (!json_is_array(*value))
        return "InvalidCollection";
    n = json_string_value(json_object_get(root, "nextLink"));
    if (n == NULL)
        n = json_string_value(json_object_get(root, "@odata.nextLink"));
    *next = n != NULL && n[0] != '\0' ? n : NULL;
    return "";
}

static void check(const struct azure_typed_page *tp, const uint8_t *data, size_t size, json_t *root,
                  bool compare_items)
{
    struct azure_error ae;
    const json_t *value;
    const char *want_next;
    const char *want = expected(root, &value, &want_next);
    void *items = NULL;
    size_t n = 0;
    char *next = NULL;
    enum err rc;

    azure_error_clear(&ae);
    rc = azure_page_scan(tp, (const char *)data, size, 200, &items, &n, &next, &ae);
    same_str("verdict", want, rc == ERR_OK ? "" : ae.code);
    if (rc == ERR_OK && compare_items) {
        size_t jn = 0;
        void *jitems = azure_typed_parse_array(tp, value, &jn);

        same_str("next link", want_next, next);
        same_n("items", jn, n);
        for (size_t i = 0; i < n; i++) {
            if (tp == &vm_page)
                same_vm((struct azure_vm *)jitems + i, (struct azure_vm *)items + i);
            else
                same_ra((struct azure_role_assignment *)jitems + i,
                        (struct azure_role_assignment *)items + i);
        }
        azure_typed_free_array(tp, jitems, jn);
    }
    azure_typed_free_array(tp, items, n);
    free(next);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *root = json_loadb((const char *)data, size, 0, NULL);
    json_t *strict =
        root != NULL ? json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL) : NULL;

    check(&vm_page, data, size, root, strict != NULL);
    check(&ra_page, data, size, root, strict != NULL);
    json_decref(strict);
    json_decref(root);
    return 0;
}

/* fuzz_azure_graph.c: the Graph list parser (directory objects of transitiveMemberOf,
 * transitiveMembers, getByIds, deletedItems) on any JSON page {"value":[...]} or one object,
 * and the principal look-up's reading of a users/groups page. */
#include <jansson.h>

#include "fuzz.h"
#include "fuzz_json.h"
#include "azure/azure_internal.h"
#include "vmlogind/azure_graph.h"

static void obj_cleanup(void *p)
{
    azure_directory_object_cleanup(p);
}

static const struct azure_typed_page obj_page = {.size = sizeof(struct azure_directory_object),
                                                 .parse = azure_directory_object_parse,
                                                 .cleanup = obj_cleanup};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *root = json_loadb((const char *)data, size, 0, NULL);
    json_t *arr;
    struct azure_directory_object *objs;
    size_t n;

    if (root == NULL)
        return 0;
    arr = fuzz_json_items(root);
    objs = azure_typed_parse_array(&obj_page, arr, &n);
    azure_typed_free_array(&obj_page, objs, n);
    json_decref(arr);
    arr = json_array();
    azure_graph_principal_matches(root, "user", arr);
    json_decref(arr);
    json_decref(root);
    return 0;
}

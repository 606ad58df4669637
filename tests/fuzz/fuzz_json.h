/* fuzz_json.h: helpers for targets whose input is a JSON response body. */
#ifndef VMLOGIND_FUZZ_JSON_H
#define VMLOGIND_FUZZ_JSON_H

#include <jansson.h>

/* The items of a list page {"value":[...]}, or root itself as the one item of an array, the
 * way ARM and Graph answer lists and single reads. A new reference. */
static inline json_t *fuzz_json_items(json_t *root)
{
    json_t *value = json_object_get(root, "value");
    json_t *arr;

    if (json_is_array(value))
        return json_incref(value);
    arr = json_array();
    json_array_append(arr, root);
    return arr;
}

#endif

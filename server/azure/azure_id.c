/* azure_id.c: reading the parts of an ARM resource id ("/subscriptions/{s}/resourceGroups/{rg}
 * /providers/Microsoft.Compute/virtualMachines/{vm}"). Keys match case-insensitively. */
#include <string.h>
#include <strings.h>

#include "vmlogind/azure_arm.h"

bool azure_id_segment(const char *id, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    const char *p = id;

    if (cap == 0)
        return false;
    out[0] = '\0';
    while (p != NULL && *p != '\0') {
        const char *seg = *p == '/' ? p + 1 : p;
        const char *end = strchr(seg, '/');
        const char *val;
        const char *vend;
        size_t vlen;

        if (end == NULL)
            return false;
        if ((size_t)(end - seg) == klen && strncasecmp(seg, key, klen) == 0) {
            val = end + 1;
            vend = strchr(val, '/');
            vlen = vend != NULL ? (size_t)(vend - val) : strlen(val);
            if (vlen == 0 || vlen >= cap)
                return false;
            memcpy(out, val, vlen);
            out[vlen] = '\0';
            return true;
        }
        p = end;
    }
    return false;
}

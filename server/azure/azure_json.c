/* azure_json.c: the few jansson helpers the typed calls share: loading a response body, reading
 * strings by key or dotted path, copying, and writing a JSON string literal. */
#include <stdio.h>
#include <string.h>

#include "azure/azure_internal.h"
#include "vmlogind/xalloc.h"

json_t *azure_json_load(const struct buf *b)
{
    json_error_t jerr;

    if (b->data == NULL || b->len == 0)
        return NULL;
    return json_loadb(b->data, b->len, 0, &jerr);
}

const char *azure_json_str(const json_t *o, const char *key)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

    return json_is_string(v) ? json_string_value(v) : NULL;
}

char *azure_json_dup(const json_t *o, const char *key)
{
    const char *s = azure_json_str(o, key);

    return s != NULL ? xstrdup(s) : NULL;
}

const json_t *azure_json_path(const json_t *o, const char *path)
{
    char key[128];
    const char *p = path;

    while (o != NULL && *p != '\0') {
        const char *dot = strchr(p, '.');
        size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);

        if (n >= sizeof(key) || !json_is_object(o))
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        o = json_object_get(o, key);
        p += n + (dot != NULL ? 1 : 0);
    }
    return o;
}

const char *azure_json_path_str(const json_t *o, const char *path)
{
    const json_t *v = azure_json_path(o, path);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

char *azure_json_path_dup(const json_t *o, const char *path)
{
    const char *s = azure_json_path_str(o, path);

    return s != NULL ? xstrdup(s) : NULL;
}

void azure_strlcpy(char *dst, const char *s, size_t cap)
{
    size_t n;

    if (cap == 0)
        return;
    n = s != NULL ? strnlen(s, cap - 1) : 0;
    if (n > 0)
        memcpy(dst, s, n);
    dst[n] = '\0';
}

enum err azure_json_append_str(struct buf *out, const char *s)
{
    json_t *j = json_string(s != NULL ? s : "");
    char *text;
    enum err rc;

    if (j == NULL)
        return ERR_INVALID; /* not UTF-8 */
    text = json_dumps(j, JSON_ENCODE_ANY);
    json_decref(j);
    if (text == NULL)
        return ERR_INVALID;
    rc = buf_appends(out, text);
    free(text);
    return rc;
}

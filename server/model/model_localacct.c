/* model_localacct.c: the allow list of local accounts (a setting of PUT .../entraLogin) and the
 * check of the local Administrators and Remote Desktop Users groups the on-VM diagnostics saw
 * against it (the seed: "flag the use of unapproved local accounts on the VMs"). Pure: the API
 * and the reconciler hand in the stored diagnostics; nothing here reads the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/model_login.h"
#include "vmlogind/xalloc.h"

/* Characters Windows refuses in a user name ("User names ... cannot contain \" / \\ [ ] : ; | =
 * , + * ? < >", net user), and '@', which would be a UPN rather than a local account. */
#define BAD_NAME_CHARS "\"/\\[]:;|=,+*?<>@"

static int name_cmp(const void *a, const void *b)
{
    return strcasecmp(*(char *const *)a, *(char *const *)b);
}

static bool name_ok(const char *n)
{
    size_t len = strlen(n);

    if (len == 0 || len > MODEL_LOCAL_ACCOUNT_NAME_MAX || strcspn(n, BAD_NAME_CHARS) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)n[i] < 0x20 || n[i] == 0x7f)
            return false;
    return n[len - 1] != '.' && n[len - 1] != ' ';
}

static void read_one(const json_t *e, size_t i, struct model_login_spec *s, struct violations *vs)
{
    const char *n = json_string_value(e);
    char field[48];

    snprintf(field, sizeof(field), "allowedLocalAccounts[%zu]", i);
    if (n == NULL) {
        violations_add(vs, field, "wrong_type", "a local user name");
        return;
    }
    if (!name_ok(n)) {
        violations_add(vs, field, "invalid_value",
                       "a local user name: 1-20 characters, none of \" / \\ [ ] : ; | = , + * ? "
                       "< > @, not ending in a dot or space");
        return;
    }
    for (size_t k = 0; k < s->n_allowed_local; k++) {
        if (strcasecmp(s->allowed_local[k], n) == 0) {
            violations_add(vs, field, "duplicate",
                           "names compare case-insensitively; '%s' is given twice", n);
            return;
        }
    }
    s->allowed_local[s->n_allowed_local++] = xstrdup(n);
}

void model_localacct_read(const json_t *v, struct model_login_spec *s, struct violations *vs)
{
    size_t i;
    json_t *e;

    if (!json_is_array(v)) {
        violations_add(vs, "allowedLocalAccounts", "wrong_type",
                       "an array of local user names (may be empty)");
        return;
    }
    if (json_array_size(v) > MODEL_LOCAL_ACCOUNTS_MAX) {
        violations_add(vs, "allowedLocalAccounts", "too_many", "at most %d names",
                       MODEL_LOCAL_ACCOUNTS_MAX);
        return;
    }
    s->has_local_policy = true;
    s->allowed_local = xcalloc(json_array_size(v) + 1, sizeof(*s->allowed_local));
    json_array_foreach(v, i, e)
    {
        read_one(e, i, s, vs);
    }
    qsort(s->allowed_local, s->n_allowed_local, sizeof(*s->allowed_local), name_cmp);
}

json_t *model_localacct_allowed_json(const struct model_login_spec *s)
{
    json_t *a = json_array();

    for (size_t i = 0; i < s->n_allowed_local; i++)
        json_array_append_new(a, json_string(s->allowed_local[i]));
    return a;
}

/* The user part of a member when it is a local account ("WIN10\\azureuser" on WIN10, or a bare
 * "azureuser"); NULL for domain, Entra (AzureAD\\...) and built-in (NT AUTHORITY\\...) ones. */
static const char *local_name(const char *member, const char *computer_name)
{
    const char *bs = strchr(member, '\\');
    size_t cn = computer_name ? strlen(computer_name) : 0;

    if (bs == NULL)
        return member[0] != '\0' ? member : NULL;
    if (cn == 0 || (size_t)(bs - member) != cn || strncasecmp(member, computer_name, cn) != 0)
        return NULL;
    return bs[1] != '\0' ? bs + 1 : NULL;
}

static bool allowed(const struct model_login_spec *s, const char *name)
{
    for (size_t i = 0; i < s->n_allowed_local; i++)
        if (strcasecmp(s->allowed_local[i], name) == 0)
            return true;
    return false;
}

/* Adds member of group to out's unapproved list (one entry per account, its groups listed). */
static void add_unapproved(json_t *list, const char *member, const char *name, const char *group)
{
    size_t i;
    json_t *e;

    json_array_foreach(list, i, e)
    {
        if (strcasecmp(json_string_value(json_object_get(e, "account")), member) == 0) {
            json_array_append_new(json_object_get(e, "groups"), json_string(group));
            return;
        }
    }
    json_array_append_new(
        list, json_pack("{s:s, s:s, s:[s]}", "account", member, "name", name, "groups", group));
}

json_t *model_localacct_check_json(const json_t *on_vm, const char *computer_name,
                                   const struct model_login_spec *s)
{
    static const struct {
        const char *key;
        const char *group;
    } groups[] = {{"administrators", "Administrators"},
                  {"remoteDesktopUsers", "Remote Desktop Users"}};
    json_t *list;

    if (on_vm == NULL || s == NULL || !s->has_local_policy)
        return NULL;
    list = json_array();
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(on_vm, groups[g].key), i, m)
        {
            const char *member = json_string_value(m);
            const char *name = member ? local_name(member, computer_name) : NULL;
            if (name != NULL && !allowed(s, name))
                add_unapproved(list, member, name, groups[g].group);
        }
    }
    return json_pack("{s:o, s:o}", "allowed", model_localacct_allowed_json(s), "unapproved", list);
}

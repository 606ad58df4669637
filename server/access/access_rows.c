/* access_rows.c: the store's access rows seen as model assignments, the one conversion both
 * answers (a VM's from the store, a principal's) read through. */
#include <stdlib.h>
#include <strings.h>

#include "vmlogind/access.h"
#include "vmlogind/xalloc.h"

void access_rows_init(struct access_rows *r)
{
    r->a = xcalloc(r->nrows ? r->nrows : 1, sizeof(*r->a));
    for (size_t i = 0; i < r->nrows; i++) {
        const struct store_access_row *x = &r->rows[i];
        r->a[i] = (struct model_access_assignment){
            .scope = x->scope,
            .scope_key = x->scope_key,
            .role = model_grant_role_from_definition(x->role_guid),
            .principal_id = x->principal_id,
            .principal_type = x->principal_type,
            .grant_id = x->grant_id,
            .assignment_id = x->assignment_id,
            .expires_at = x->expires_at,
            .activation_id = x->activation_id,
        };
    }
    r->na = model_access_dedupe(r->a, r->nrows);
}

void access_rows_cleanup(struct access_rows *r)
{
    store_access_rows_free(r->rows, r->nrows);
    free(r->a);
    *r = (struct access_rows){0};
}

const char **access_rows_groups(const struct access_rows *r, size_t *n)
{
    const char **groups = xcalloc(r->na + 1, sizeof(*groups));

    *n = 0;
    for (size_t i = 0; i < r->na; i++) {
        if (r->a[i].principal_type && strcasecmp(r->a[i].principal_type, "Group") == 0)
            groups[(*n)++] = r->a[i].principal_id;
    }
    return groups;
}

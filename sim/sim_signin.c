/* sim_signin.c: the two Microsoft Graph v1.0 reads behind "why can't she sign in?": the
 * tenant's Conditional Access policies and the sign-in log, both served from scenario facts
 * ("conditionalAccessPolicies" and "signIns": arrays of Graph-shaped objects, kept as given).
 * Read-only: nothing here changes the directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim.h"
#include "vmlogind/xalloc.h"

#define SIGNIN_MAX_PAGE 1000

static json_t *ca_policies; /* array, under S.mu */
static json_t *signins;     /* array, under S.mu */

bool sim_signin_load(const json_t *policies, const json_t *log, char *err, size_t cap)
{
    if ((policies != NULL && !json_is_array(policies)) || (log != NULL && !json_is_array(log))) {
        snprintf(err, cap, "$.conditionalAccessPolicies and $.signIns are arrays");
        return false;
    }
    json_decref(ca_policies);
    json_decref(signins);
    ca_policies = policies ? json_deep_copy(policies) : json_array();
    signins = log ? json_deep_copy(log) : json_array();
    return true;
}

void sim_signin_clear(void)
{
    json_decref(ca_policies);
    json_decref(signins);
    ca_policies = signins = NULL;
}

static void reply_value(struct sim_req *r, json_t *value, const char *ctx)
{
    char *url = sim_url(r, "/v1.0/$metadata#%s", ctx);

    sim_reply_json(r, 200, json_pack("{s:s, s:o}", "@odata.context", url, "value", value));
    free(url);
}

/* GET /identity/conditionalAccess/policies: "a collection of conditionalAccessPolicy objects"
 * (https://learn.microsoft.com/graph/api/conditionalaccessroot-list-policies, v1.0; application
 * permission Policy.Read.All, checked by sim_graph_roles_check). */
void sim_signin_policies(struct sim_req *r)
{
    reply_value(r, ca_policies ? json_deep_copy(ca_policies) : json_array(),
                "identity/conditionalAccess/policies");
}

/* One "prop eq 'value'" term of a sign-in $filter; the rest after it in *rest. */
static bool term(const char *f, const char **prop, char *val, size_t cap, const char **rest)
{
    static const char *const props[] = {"userId", "appId", "userPrincipalName"};

    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        char pre[40];
        snprintf(pre, sizeof(pre), "%s eq '", props[i]);
        if (sim_parse_quoted(f, pre, val, cap, rest)) {
            *prop = props[i];
            return true;
        }
    }
    return false;
}

static int newest_first(const void *pa, const void *pb)
{
    const char *a = json_string_value(json_object_get(*(json_t *const *)pa, "createdDateTime"));
    const char *b = json_string_value(json_object_get(*(json_t *const *)pb, "createdDateTime"));

    return strcmp(b ? b : "", a ? a : "");
}

/* GET /auditLogs/signIns?$filter=userId eq '..' and appId eq '..'&$top=N
 * (https://learn.microsoft.com/graph/api/signin-list, v1.0: application permission
 * AuditLog.Read.All; "by default, the most recent sign-ins are returned first"; the maximum and
 * default page size is 1,000). Only eq terms joined by "and" are understood here; anything
 * else is 400 Request_UnsupportedQuery, as for the other collections. */
void sim_signin_list(struct sim_req *r)
{
    const char *f = sim_query(r, "$filter");
    const char *top = sim_query(r, "$top");
    const char *props[4] = {0};
    char vals[4][256];
    size_t nt = 0, n = 0, lim = SIGNIN_MAX_PAGE;
    json_t **v, *out = json_array(), *e;
    size_t i;

    while (f != NULL && *f != '\0') {
        const char *rest;
        if (nt == 4 || !term(f, &props[nt], vals[nt], sizeof(vals[nt]), &rest)) {
            json_decref(out);
            sim_graph_error(r, 400, "Request_UnsupportedQuery", "Unsupported Query.");
            return;
        }
        nt++;
        f = rest;
        if (sim_iprefix(f, " and "))
            f += 5;
        else if (*f != '\0') {
            json_decref(out);
            sim_graph_error(r, 400, "Request_UnsupportedQuery", "Unsupported Query.");
            return;
        }
    }
    if (top != NULL && strtol(top, NULL, 10) > 0 && strtol(top, NULL, 10) < SIGNIN_MAX_PAGE)
        lim = (size_t)strtol(top, NULL, 10);
    v = xcalloc(json_array_size(signins) + 1, sizeof(*v));
    json_array_foreach(signins, i, e)
    {
        bool ok = true;
        for (size_t t = 0; t < nt && ok; t++) {
            const char *x = json_string_value(json_object_get(e, props[t]));
            ok = x != NULL && strcasecmp(x, vals[t]) == 0;
        }
        if (ok)
            v[n++] = e;
    }
    qsort(v, n, sizeof(*v), newest_first);
    for (i = 0; i < n && i < lim; i++)
        json_array_append(out, v[i]);
    free(v);
    reply_value(r, out, "auditLogs/signIns");
}

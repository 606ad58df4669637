/* api_vms.c: reads over the VM inventory: GET /v1/virtualMachines (filters, opaque cursor) and
 * GET /v1/subscriptions/{s}/resourceGroups/{rg}/virtualMachines/{name}. Answers come from the
 * store as the last sync saw Azure; OS support and login state are judged by model_vm. The
 * store filters by subscription and resource group (a key range); tag, supported and
 * loginState are judged per VM while scanning, within a per-request budget, so a sparse
 * filter may answer a short page with a nextLink rather than scan the whole fleet. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/api.h"
#include "vmlogind/auth.h"
#include "vmlogind/clock.h"
#include "vmlogind/jose.h"
#include "vmlogind/model.h"
#include "vmlogind/store.h"
#include "vmlogind/xalloc.h"

#define VMS_PAGE_DEFAULT 100
#define VMS_PAGE_MAX 1000
#define VMS_SCAN_BUDGET 10000 /* rows one request may look at */
#define VMS_CURSOR_PREFIX "v1:"
#define VMS_PARAM_MAX 256

/* ---- JSON ---------------------------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

static json_t *time_or_null(int64_t ms)
{
    char buf[32];

    return ms > 0 ? json_string(clock_fmt_rfc3339(ms, buf, sizeof(buf))) : json_null();
}

static json_t *json_text_or(const char *text, json_t *fallback)
{
    json_t *j = text != NULL ? json_loads(text, 0, NULL) : NULL;

    if (j == NULL)
        return fallback;
    json_decref(fallback);
    return j;
}

static json_t *extension_json(const struct store_extension *e)
{
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:b, s:o}", "name", e->name ? e->name : "", "publisher",
        e->publisher ? e->publisher : "", "type", e->type ? e->type : "", "typeHandlerVersion",
        e->type_handler_version ? e->type_handler_version : "", "autoUpgradeMinorVersion",
        e->auto_upgrade_minor, "provisioningState", str_or_null(e->provisioning_state));

    if (e->status_code != NULL && e->status_code[0] != '\0')
        json_object_set_new(o, "status",
                            json_pack("{s:s, s:o, s:o}", "code", e->status_code, "level",
                                      str_or_null(e->status_level), "message",
                                      str_or_null(e->status_message)));
    json_object_set_new(o, "changedAt", time_or_null(e->changed_at));
    return o;
}

void api_vms_os_verdict(const struct store_vm *v, struct model_os_verdict *out)
{
    struct model_os_facts f = {.os_type = v->os_type,
                               .image_publisher = v->image_publisher,
                               .image_offer = v->image_offer,
                               .image_sku = v->image_sku,
                               .image_id = v->image_id,
                               .os_name = v->os_name,
                               .os_version = v->os_version};

    model_os_support(&f, out);
}

/* The one place the API computes a VM's login state (extended as desired state lands). */
static enum model_login_state login_state(const struct model_os_verdict *os,
                                          const struct store_extension *ext)
{
    struct model_login_facts f = {.os = os->support,
                                  .has_extension = ext != NULL,
                                  .ext_provisioning = ext ? ext->provisioning_state : NULL};

    return model_login_state(&f);
}

static json_t *vm_json(const struct store_vm *v, const struct model_os_verdict *os,
                       const struct store_extension *ext)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", json_string(v->id));
    json_object_set_new(o, "name", json_string(v->name ? v->name : ""));
    json_object_set_new(o, "subscriptionId", json_string(v->subscription_id));
    json_object_set_new(o, "resourceGroup", json_string(v->resource_group));
    json_object_set_new(o, "location", json_string(v->location ? v->location : ""));
    json_object_set_new(o, "vmId", str_or_null(v->vm_id));
    json_object_set_new(o, "computerName", str_or_null(v->computer_name));
    json_object_set_new(o, "osType", str_or_null(v->os_type));
    json_object_set_new(o, "osName", str_or_null(v->os_name));
    json_object_set_new(o, "osVersion", str_or_null(v->os_version));
    json_object_set_new(
        o, "image",
        json_pack("{s:o, s:o, s:o, s:o, s:o}", "publisher", str_or_null(v->image_publisher),
                  "offer", str_or_null(v->image_offer), "sku", str_or_null(v->image_sku), "version",
                  str_or_null(v->image_version), "id", str_or_null(v->image_id)));
    json_object_set_new(
        o, "osSupport",
        json_pack("{s:s, s:s}", "state", model_os_support_str(os->support), "reason", os->reason));
    json_object_set_new(o, "supported", json_boolean(os->support == MODEL_OS_SUPPORTED));
    json_object_set_new(o, "powerState", str_or_null(v->power_state));
    json_object_set_new(o, "running", json_boolean(model_power_running(v->power_state)));
    json_object_set_new(o, "provisioningState", str_or_null(v->provisioning_state));
    json_object_set_new(o, "identity",
                        json_pack("{s:o, s:o, s:o}", "type", str_or_null(v->identity_type),
                                  "principalId", str_or_null(v->identity_principal_id),
                                  "userAssignedIdentities",
                                  json_text_or(v->user_assigned_ids, json_array())));
    json_object_set_new(o, "tags", json_text_or(v->tags, json_object()));
    json_object_set_new(o, "loginState", json_string(model_login_state_str(login_state(os, ext))));
    json_object_set_new(o, "loginExtension", ext != NULL ? extension_json(ext) : json_null());
    json_object_set_new(o, "generation", json_integer(v->generation));
    json_object_set_new(o, "firstSeenAt", time_or_null(v->first_seen_at));
    json_object_set_new(o, "changedAt", time_or_null(v->changed_at));
    if (v->gone_at > 0)
        json_object_set_new(o, "goneAt", time_or_null(v->gone_at));
    return o;
}

/* ---- GET one VM ---------------------------------------------------------------------------- */

static const struct store_extension *find_login_ext(const struct store_extension *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (model_is_aadlogin_extension(e[i].publisher, e[i].type))
            return &e[i];
    }
    return NULL;
}

void api_vms_get(struct http_request *req)
{
    struct app *app = req->app;
    struct store_vm v = {0};
    struct store_extension *exts = NULL;
    size_t n = 0;
    struct model_os_verdict os;
    struct err_detail d = {{0}, {0}};
    json_t *o;
    json_t *all;
    const char *id = http_printf(
        req, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s",
        http_param(req, "s"), http_param(req, "rg"), http_param(req, "name"));
    enum err rc = auth_check_scope(api_caller(req), id, &d);

    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return;
    }
    rc = store_vm_get(app->store, id, &v, &d);
    if (rc == ERR_OK && v.gone_at > 0)
        rc = ERR_NOT_FOUND;
    if (rc == ERR_NOT_FOUND) {
        http_problem_reply(req, "vm_not_found",
                           http_printf(req, "no virtual machine %s in the inventory", id), NULL);
        goto out;
    }
    if (rc == ERR_OK)
        rc = store_extensions_of_vm(app->store, v.id, &exts, &n, &d);
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        goto out;
    }
    api_vms_os_verdict(&v, &os);
    o = vm_json(&v, &os, find_login_ext(exts, n));
    all = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(all, extension_json(&exts[i]));
    json_object_set_new(o, "extensions", all);
    http_reply_json(req, 200, o);
out:
    store_extension_list_free(exts, n);
    store_vm_clear(&v);
}

/* ---- GET the list -------------------------------------------------------------------------- */

struct vm_query {
    const char *subscription;
    const char *resource_group;
    char *tag_name;        /* request-owned */
    const char *tag_value; /* NULL: any value */
    int supported;         /* -1 any, 0 false, 1 true */
    const char *name;      /* part of the VM's name, any case; NULL: any */
    bool has_login_state;
    enum model_login_state login;
    char *after; /* decoded cursor, request-owned; NULL for the first page */
    int limit;
};

static bool is_guid_ish(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64)
        return false;
    return strspn(s, "0123456789abcdefABCDEF-") == n;
}

static bool rg_ok(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= 90 && strpbrk(s, "/?#%\\") == NULL;
}

static bool parse_limit(const char *v, int *out)
{
    char *end;
    long n;

    if (v == NULL) {
        *out = VMS_PAGE_DEFAULT;
        return true;
    }
    errno = 0;
    n = strtol(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || n < 1 || n > VMS_PAGE_MAX)
        return false;
    *out = (int)n;
    return true;
}

static char *cursor_decode(struct http_request *req, const char *c)
{
    size_t len = 0;
    unsigned char *raw;
    char *s;

    if (strlen(c) > 2048)
        return NULL;
    raw = b64url_decode(c, strlen(c), &len);
    if (raw == NULL)
        return NULL;
    s = NULL;
    if (len > strlen(VMS_CURSOR_PREFIX) && memchr(raw, '\0', len) == NULL &&
        strncmp((const char *)raw, VMS_CURSOR_PREFIX "/subscriptions/",
                strlen(VMS_CURSOR_PREFIX "/subscriptions/")) == 0)
        s = http_strdup(req, (const char *)raw + strlen(VMS_CURSOR_PREFIX));
    free(raw);
    return s;
}

static char *cursor_encode(struct http_request *req, const char *after)
{
    char *plain = http_printf(req, VMS_CURSOR_PREFIX "%s", after);
    char *enc = b64url_encode(plain, strlen(plain));
    char *r = http_strdup(req, enc);

    free(enc);
    return r;
}

/* name= (part of a VM name) and supported= (true|false). */
static void parse_name_supported(struct http_request *req, struct vm_query *q,
                                 struct violations *vs)
{
    const char *v = http_query(req, "supported");

    q->name = http_query(req, "name");
    if (q->name != NULL && (q->name[0] == '\0' || strlen(q->name) > VMS_PARAM_MAX))
        violations_add(vs, "name", "invalid", "part of a VM name (1..%d chars)", VMS_PARAM_MAX);
    if (v == NULL)
        return;
    if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
        q->supported = strcmp(v, "true") == 0;
    else
        violations_add(vs, "supported", "invalid", "true or false");
}

static void parse_query(struct http_request *req, struct vm_query *q, struct violations *vs)
{
    const char *v;

    *q = (struct vm_query){.supported = -1};
    q->subscription = http_query(req, "subscription");
    if (q->subscription != NULL && !is_guid_ish(q->subscription))
        violations_add(vs, "subscription", "invalid", "a subscription id (GUID)");
    q->resource_group = http_query(req, "resourceGroup");
    if (q->resource_group != NULL && !rg_ok(q->resource_group))
        violations_add(vs, "resourceGroup", "invalid", "a resource group name (1..90 chars)");
    if (q->resource_group != NULL && q->subscription == NULL)
        violations_add(vs, "resourceGroup", "requires_subscription",
                       "resourceGroup needs subscription too");
    v = http_query(req, "tag");
    if (v != NULL) {
        const char *colon = strchr(v, ':');

        if (v[0] == '\0' || v[0] == ':' || strlen(v) > VMS_PARAM_MAX)
            violations_add(vs, "tag", "invalid", "name or name:value");
        q->tag_name = colon ? http_strndup(req, v, (size_t)(colon - v)) : http_strdup(req, v);
        q->tag_value = colon ? colon + 1 : NULL;
    }
    parse_name_supported(req, q, vs);
    v = http_query(req, "loginState");
    if (v != NULL) {
        q->has_login_state = model_login_state_parse(v, &q->login);
        if (!q->has_login_state)
            violations_add(vs, "loginState", "invalid",
                           "one of enabled, pending, failed, unsupported, excluded, notCovered");
    }
    v = http_query(req, "cursor");
    if (v != NULL) {
        q->after = cursor_decode(req, v);
        if (q->after == NULL)
            violations_add(vs, "cursor", "invalid", "not a cursor this server issued");
    }
    if (!parse_limit(http_query(req, "limit"), &q->limit))
        violations_add(vs, "limit", "out_of_range", "an integer from 1 to %d", VMS_PAGE_MAX);
}

/* Does the VM's name contain q->name, ignoring ASCII case? */
static bool name_matches(const struct vm_query *q, const struct store_vm *v)
{
    size_t n;

    if (q->name == NULL)
        return true;
    n = strlen(q->name);
    for (const char *p = v->name; p != NULL && *p != '\0'; p++)
        if (strncasecmp(p, q->name, n) == 0)
            return true;
    return false;
}

static bool tag_matches(const struct vm_query *q, const struct store_vm *v)
{
    json_t *tags;
    const char *key;
    json_t *val;
    bool hit = false;

    if (q->tag_name == NULL)
        return true;
    tags = json_loads(v->tags ? v->tags : "{}", 0, NULL);
    json_object_foreach(tags, key, val)
    {
        /* ARM tag names compare case-insensitively, values exactly */
        if (strcasecmp(key, q->tag_name) == 0 &&
            (q->tag_value == NULL ||
             (json_is_string(val) && strcmp(json_string_value(val), q->tag_value) == 0)))
            hit = true;
    }
    json_decref(tags);
    return hit;
}

/* The login extension of v among exts (sorted by VM key), advancing *k. */
static const struct store_extension *ext_of(const struct store_vm *v,
                                            const struct store_extension *exts, size_t n, size_t *k)
{
    while (*k < n && strcmp(exts[*k].vm_key, v->id_key) < 0)
        (*k)++;
    return *k < n && strcmp(exts[*k].vm_key, v->id_key) == 0 ? &exts[*k] : NULL;
}

/* Rows one request may look at: VMS_SCAN_BUDGET, or VMLOGIND_VMS_SCAN_BUDGET (tests make it
 * small to reach the budget with a small fleet). */
static size_t scan_budget(void)
{
    static size_t budget;

    if (budget == 0) {
        const char *e = getenv("VMLOGIND_VMS_SCAN_BUDGET");
        long v = e != NULL ? strtol(e, NULL, 10) : 0;
        budget = v > 0 && v < VMS_SCAN_BUDGET ? (size_t)v : VMS_SCAN_BUDGET;
    }
    return budget;
}

struct vm_scan {
    json_t *value;
    size_t matched;
    size_t scanned;
    char *next_after; /* malloc'd, NULL when nothing is left */
};

/* Judges one store page; *stop is the index of the VM that filled the answer or spent the
 * budget, n when the page was used up. */
static enum err scan_page(struct http_request *req, const struct vm_query *q,
                          const struct store_vm *vms, size_t n, struct vm_scan *sc, size_t *stop,
                          struct err_detail *d)
{
    struct app *app = req->app;
    const struct auth_caller *c = api_caller(req);
    struct store_extension *exts = NULL;
    size_t n_ext = 0;
    size_t k = 0;
    enum err rc;

    *stop = n;
    if (n == 0)
        return ERR_OK;
    rc = store_extensions_by_type(app->store, MODEL_AADLOGIN_PUBLISHER, MODEL_AADLOGIN_TYPE,
                                  vms[0].id_key, vms[n - 1].id_key, &exts, &n_ext, d);
    for (size_t i = 0; rc == ERR_OK && i < n; i++) {
        const struct store_extension *ext = ext_of(&vms[i], exts, n_ext, &k);
        struct model_os_verdict os;

        sc->scanned++;
        api_vms_os_verdict(&vms[i], &os);
        if ((c == NULL || auth_scope_allows(c, vms[i].id)) && tag_matches(q, &vms[i]) &&
            name_matches(q, &vms[i]) &&
            (q->supported < 0 || (os.support == MODEL_OS_SUPPORTED) == (q->supported == 1)) &&
            (!q->has_login_state || login_state(&os, ext) == q->login)) {
            json_array_append_new(sc->value, vm_json(&vms[i], &os, ext));
            sc->matched++;
        }
        if (sc->matched == (size_t)q->limit || sc->scanned >= scan_budget()) {
            *stop = i;
            break;
        }
    }
    store_extension_list_free(exts, n_ext);
    return rc;
}

/* One store filter a caller may list: a subscription, or a resource group in it. */
struct vm_range {
    char sub[130], rg[130]; /* a scope's segments are at most 128 characters */
    char key[320];          /* "/subscriptions/s/[resourcegroups/rg/]": sorts like VM keys */
    bool has_sub, has_rg;
};

static int by_range_key(const void *a, const void *b)
{
    return strcmp(((const struct vm_range *)a)->key, ((const struct vm_range *)b)->key);
}

/* The ranges c may see of q's filter, in VM-key order, none inside another: q's own filter for
 * an unlimited caller, else each of c's scopes narrowed by q (none when q names what lies
 * outside them). Listing by these keeps VMs outside the scopes out of the scan altogether, so
 * they neither spend the scan budget nor end up in a cursor. */
static size_t vm_ranges(const struct auth_caller *c, const struct vm_query *q, struct vm_range *out)
{
    size_t n = 0, k = 0;

    if (c == NULL || c->nscopes == 0) {
        out[0] = (struct vm_range){.has_sub = q->subscription != NULL,
                                   .has_rg = q->resource_group != NULL};
        snprintf(out[0].sub, sizeof(out[0].sub), "%s", q->subscription ? q->subscription : "");
        snprintf(out[0].rg, sizeof(out[0].rg), "%s", q->resource_group ? q->resource_group : "");
        return 1;
    }
    for (size_t i = 0; i < c->nscopes; i++) {
        struct vm_range r = {.has_sub = true};
        const char *sp = c->scopes[i], *rgp;
        if (strncmp(sp, "/subscriptions/", 15) != 0)
            continue; /* the "no scope" marker */
        sp += 15;
        rgp = strstr(sp, "/resourcegroups/");
        snprintf(r.sub, sizeof(r.sub), "%.*s", (int)(rgp ? (size_t)(rgp - sp) : strlen(sp)), sp);
        if (rgp != NULL) {
            r.has_rg = true;
            snprintf(r.rg, sizeof(r.rg), "%s", rgp + 16);
        }
        if (q->subscription != NULL && strcasecmp(q->subscription, r.sub) != 0)
            continue;
        if (q->resource_group != NULL && r.has_rg && strcasecmp(q->resource_group, r.rg) != 0)
            continue;
        if (q->resource_group != NULL && !r.has_rg) {
            r.has_rg = true;
            snprintf(r.rg, sizeof(r.rg), "%s", q->resource_group);
        }
        snprintf(r.key, sizeof(r.key), "/subscriptions/%s/%s%s%s", r.sub,
                 r.has_rg ? "resourcegroups/" : "", r.has_rg ? r.rg : "", r.has_rg ? "/" : "");
        for (char *p = r.key; *p != '\0'; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        out[n++] = r;
    }
    qsort(out, n, sizeof(*out), by_range_key);
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && strncmp(out[k - 1].key, out[i].key, strlen(out[k - 1].key)) == 0)
            continue; /* inside the previous one, or the same */
        out[k++] = out[i];
    }
    return k;
}

/* Scans one range from the cursor; *stopped when the answer is full or the budget spent. */
static enum err scan_range(struct http_request *req, const struct vm_query *q,
                           const struct vm_range *r, bool last_range, struct vm_scan *sc,
                           bool *stopped, struct err_detail *d)
{
    struct app *app = req->app;
    struct store_vm_filter f = {.subscription_id = r->has_sub ? r->sub : NULL,
                                .resource_group = r->has_rg ? r->rg : NULL};
    char *after = q->after != NULL ? xstrdup(q->after) : NULL;
    enum err rc = ERR_OK;

    *stopped = false;
    for (;;) {
        struct store_vm *vms = NULL;
        size_t n = 0;
        size_t stop = 0;
        char *next = NULL;

        rc = store_vm_list(app->store, &f, after, q->limit, &vms, &n, &next, d);
        if (rc == ERR_OK)
            rc = scan_page(req, q, vms, n, sc, &stop, d);
        free(after);
        after = next;
        if (rc == ERR_OK && stop < n && (stop + 1 < n || next != NULL || !last_range))
            sc->next_after = xstrdup(vms[stop].id_key); /* more may follow the stopping VM */
        *stopped = stop < n;
        store_vm_list_free(vms, n);
        if (rc != ERR_OK || stop < n || next == NULL)
            break;
    }
    free(after);
    return rc;
}

static enum err scan(struct http_request *req, const struct vm_query *q, struct vm_scan *sc,
                     struct err_detail *d)
{
    struct vm_range ranges[AUTH_MAX_SCOPES + 1];
    size_t n = vm_ranges(api_caller(req), q, ranges);
    bool stopped = false;
    enum err rc = ERR_OK;

    for (size_t i = 0; rc == ERR_OK && !stopped && i < n; i++)
        rc = scan_range(req, q, &ranges[i], i + 1 == n, sc, &stopped, d);
    return rc;
}

static enum err url_append(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    enum err rc = ERR_OK;

    for (const unsigned char *p = (const unsigned char *)s; rc == ERR_OK && *p; p++) {
        char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};

        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p) != NULL)
            rc = buf_append(b, p, 1);
        else
            rc = buf_append(b, enc, 3);
    }
    return rc;
}

/* The same URL with the next cursor: the filters as given, then cursor and limit. */
static char *next_link(struct http_request *req, const struct vm_query *q, const char *cursor)
{
    static const char *const keep[] = {"subscription", "resourceGroup", "tag",
                                       "supported",    "loginState",    "name"};
    struct buf b;
    char *r;
    enum err rc;

    buf_init(&b, 8192);
    rc = buf_appends(&b, "/v1/virtualMachines?");
    for (size_t i = 0; rc == ERR_OK && i < sizeof(keep) / sizeof(keep[0]); i++) {
        const char *v = http_query(req, keep[i]);

        if (v == NULL)
            continue;
        rc = buf_printf(&b, "%s=", keep[i]);
        if (rc == ERR_OK)
            rc = url_append(&b, v);
        if (rc == ERR_OK)
            rc = buf_appends(&b, "&");
    }
    if (rc == ERR_OK)
        rc = buf_printf(&b, "limit=%d&cursor=%s", q->limit, cursor);
    r = rc == ERR_OK ? http_strdup(req, b.data) : NULL;
    buf_cleanup(&b);
    return r;
}

void api_vms_list(struct http_request *req)
{
    struct violations vs;
    struct vm_query q;
    struct vm_scan sc = {0};
    struct err_detail d = {{0}, {0}};
    json_t *body;
    enum err rc;

    violations_init(&vs);
    parse_query(req, &q, &vs);
    if (vs.n > 0) {
        http_problem_reply(
            req, "invalid_query",
            http_printf(req, "invalid query parameter %s: %s", vs.v[0].field, vs.v[0].msg), &vs);
        return;
    }
    sc.value = json_array();
    rc = scan(req, &q, &sc, &d);
    if (rc != ERR_OK) {
        json_decref(sc.value);
        free(sc.next_after);
        http_reply_error(req, rc, &d);
        return;
    }
    body = json_pack("{s:o}", "value", sc.value);
    if (sc.next_after != NULL)
        json_object_set_new(body, "nextLink",
                            str_or_null(next_link(req, &q, cursor_encode(req, sc.next_after))));
    free(sc.next_after);
    http_reply_json(req, 200, body);
}

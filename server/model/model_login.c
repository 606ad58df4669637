/* model_login.c: scopes of a login setting, the PUT .../entraLogin body, tag exclusions,
 * version order and the per-VM preflight checks. Pure: the reconciler and the API hand in
 * facts; nothing here reads the store or calls Azure. The failure diagnosis table is in
 * model_diagnose.c. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/model_login.h"
#include "vmlogind/xalloc.h"

#define NETBIOS_MAX 15
#define SIGNIN_APP_ID "372140e0-b3b7-4226-8ef9-d57986796201"

/* ---- scopes ---------------------------------------------------------------------------------- */

static void lower_copy(char *out, size_t cap, const char *in)
{
    size_t i = 0;

    for (; in[i] != '\0' && i + 1 < cap; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

bool model_login_scope_from_id(const char *id, struct model_scope *out)
{
    return id != NULL && model_scope_parse(id, out, NULL, "scope");
}

void model_login_scope_parent_keys(const struct model_scope *s, char sub_key[MODEL_SCOPE_MAX],
                                   char rg_key[MODEL_SCOPE_MAX])
{
    snprintf(sub_key, MODEL_SCOPE_MAX, "/subscriptions/%.40s", s->subscription);
    if (s->kind == MODEL_SCOPE_SUBSCRIPTION)
        rg_key[0] = '\0';
    else
        snprintf(rg_key, MODEL_SCOPE_MAX, "/subscriptions/%.40s/resourcegroups/%.96s",
                 s->subscription, s->resource_group);
    lower_copy(rg_key, MODEL_SCOPE_MAX, rg_key);
}

const char *model_login_scope_kind_str(enum model_grant_scope_kind k)
{
    return k == MODEL_SCOPE_SUBSCRIPTION     ? "subscription"
           : k == MODEL_SCOPE_RESOURCE_GROUP ? "resourceGroup"
                                             : "vm";
}

/* ---- the settings body ------------------------------------------------------------------------
 */

void model_login_spec_cleanup(struct model_login_spec *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_exclude; i++) {
        free(s->exclude[i].name);
        free(s->exclude[i].value);
    }
    free(s->exclude);
    for (size_t i = 0; i < s->n_allowed_local; i++)
        free(s->allowed_local[i]);
    free(s->allowed_local);
    *s = (struct model_login_spec){0};
}

static bool version_ok(const char *v)
{
    size_t n = strlen(v);
    int parts = 1;

    if (n == 0 || n >= 32 || !isdigit((unsigned char)v[0]) || v[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '.') {
            if (v[i + 1] == '.')
                return false;
            parts++;
        } else if (!isdigit((unsigned char)v[i])) {
            return false;
        }
    }
    return parts <= 4;
}

static int tag_cmp(const void *a, const void *b)
{
    const struct model_tag *x = a, *y = b;
    return strcasecmp(x->name, y->name);
}

static void read_tags(const json_t *tags, struct model_login_spec *out, struct violations *vs)
{
    const char *k;
    json_t *v;

    if (!json_is_object(tags)) {
        violations_add(vs, "excludeTags", "wrong_type",
                       "an object of tag name to value (\"*\" matches any value)");
        return;
    }
    if (json_object_size(tags) > MODEL_LOGIN_MAX_EXCLUDE_TAGS) {
        violations_add(vs, "excludeTags", "too_many", "at most %d tags",
                       MODEL_LOGIN_MAX_EXCLUDE_TAGS);
        return;
    }
    out->exclude = xcalloc(json_object_size(tags) + 1, sizeof(*out->exclude));
    json_object_foreach((json_t *)tags, k, v)
    {
        char field[128];
        snprintf(field, sizeof(field), "excludeTags.%.100s", k);
        if (k[0] == '\0' || strlen(k) > MODEL_TAG_NAME_MAX) {
            violations_add(vs, field, "invalid_value", "tag names are 1-512 characters");
            continue;
        }
        if (!json_is_string(v)) {
            violations_add(vs, field, "wrong_type", "a tag value is a string");
            continue;
        }
        if (strlen(json_string_value(v)) > MODEL_TAG_VALUE_MAX) {
            violations_add(vs, field, "invalid_value", "tag values are at most 256 characters");
            continue;
        }
        for (size_t i = 0; i < out->n_exclude; i++) {
            if (strcasecmp(out->exclude[i].name, k) == 0)
                violations_add(vs, field, "duplicate",
                               "tag names compare case-insensitively; '%.100s' is given twice", k);
        }
        out->exclude[out->n_exclude].name = xstrdup(k);
        out->exclude[out->n_exclude].value = xstrdup(json_string_value(v));
        out->n_exclude++;
    }
    qsort(out->exclude, out->n_exclude, sizeof(*out->exclude), tag_cmp);
}

static void read_mdm(const json_t *v, struct model_login_spec *out, struct violations *vs)
{
    const char *m = json_string_value(v);

    if (json_is_null(v) || (m != NULL && strcmp(m, "none") == 0))
        out->mdm = MODEL_LOGIN_MDM_NONE;
    else if (m != NULL && strcmp(m, "intune") == 0)
        out->mdm = MODEL_LOGIN_MDM_INTUNE;
    else if (m == NULL)
        violations_add(vs, "mdm", "wrong_type", "\"intune\" or \"none\"");
    else
        violations_add(vs, "mdm", "invalid_value", "\"intune\" or \"none\"");
}

/* One member of the settings body. */
static void read_field(const char *k, json_t *v, struct model_login_spec *out,
                       struct violations *vs)
{
    if (strcmp(k, "mode") == 0) {
        const char *m = json_string_value(v);
        if (m == NULL)
            violations_add(vs, "mode", "wrong_type", "\"enforce\" or \"audit\"");
        else if (strcmp(m, "enforce") == 0)
            out->mode = MODEL_LOGIN_ENFORCE;
        else if (strcmp(m, "audit") == 0)
            out->mode = MODEL_LOGIN_AUDIT;
        else
            violations_add(vs, "mode", "invalid_value", "\"enforce\" or \"audit\"");
    } else if (strcmp(k, "excludeTags") == 0) {
        read_tags(v, out, vs);
    } else if (strcmp(k, "extensionVersion") == 0) {
        const char *ver = json_string_value(v);
        if (ver == NULL)
            violations_add(vs, "extensionVersion", "wrong_type", "a string like \"1.0\"");
        else if (!version_ok(ver))
            violations_add(vs, "extensionVersion", "invalid_value",
                           "1 to 4 dot-separated numbers, like \"1.0\"");
        else
            snprintf(out->extension_version, sizeof(out->extension_version), "%s", ver);
    } else if (strcmp(k, "mdm") == 0) {
        read_mdm(v, out, vs);
    } else if (strcmp(k, "allowedLocalAccounts") == 0) {
        model_localacct_read(v, out, vs);
    } else {
        char field[128];
        snprintf(field, sizeof(field), "%.120s", k);
        violations_add(
            vs, field, "unknown_field",
            "not a setting (mode, excludeTags, extensionVersion, mdm, allowedLocalAccounts)");
    }
}

bool model_login_spec_from_json(const json_t *body, const char *default_mode,
                                const char *default_version, struct model_login_spec *out,
                                struct violations *vs)
{
    size_t before = vs->n + vs->dropped;
    const char *k;
    json_t *v;

    *out = (struct model_login_spec){0};
    out->mode = default_mode && strcmp(default_mode, "audit") == 0 ? MODEL_LOGIN_AUDIT
                                                                   : MODEL_LOGIN_ENFORCE;
    snprintf(out->extension_version, sizeof(out->extension_version), "%s",
             default_version && default_version[0] ? default_version : "1.0");
    if (body == NULL)
        return true;
    if (!json_is_object(body)) {
        violations_add(vs, "", "wrong_type", "the body is a JSON object");
        return false;
    }
    json_object_foreach((json_t *)body, k, v)
    {
        read_field(k, v, out, vs);
    }
    if (vs->n + vs->dropped != before) {
        model_login_spec_cleanup(out);
        return false;
    }
    return true;
}

const char *model_login_mode_str(enum model_login_mode m)
{
    return m == MODEL_LOGIN_AUDIT ? "audit" : "enforce";
}

const char *model_login_mdm_str(enum model_login_mdm m)
{
    return m == MODEL_LOGIN_MDM_INTUNE ? "intune" : "none";
}

const char *model_login_mdm_id(enum model_login_mdm m, enum model_os_edition e)
{
    return m == MODEL_LOGIN_MDM_INTUNE && e == MODEL_OS_EDITION_CLIENT ? MODEL_INTUNE_MDM_ID : NULL;
}

bool model_login_mdm_refused(enum model_login_mdm m, enum model_os_edition e)
{
    return m == MODEL_LOGIN_MDM_INTUNE && e == MODEL_OS_EDITION_SERVER;
}

static json_t *tags_json(const struct model_login_spec *s)
{
    json_t *tags = json_object();

    for (size_t i = 0; i < s->n_exclude; i++)
        json_object_set_new(tags, s->exclude[i].name, json_string(s->exclude[i].value));
    return tags;
}

char *model_login_spec_tags_text(const struct model_login_spec *s)
{
    json_t *tags = tags_json(s);
    char *text = json_dumps(tags, JSON_COMPACT | JSON_SORT_KEYS);

    json_decref(tags);
    return text;
}

char *model_login_spec_to_text(const struct model_login_spec *s)
{
    json_t *j;
    char *text;

    j = json_pack("{s:s, s:o, s:s}", "mode", model_login_mode_str(s->mode), "excludeTags",
                  tags_json(s), "extensionVersion", s->extension_version);
    /* only when asked for: the settings of earlier versions keep their canonical text */
    if (s->mdm != MODEL_LOGIN_MDM_NONE)
        json_object_set_new(j, "mdm", json_string(model_login_mdm_str(s->mdm)));
    if (s->has_local_policy)
        json_object_set_new(j, "allowedLocalAccounts", model_localacct_allowed_json(s));
    text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return text;
}

bool model_login_spec_from_text(const char *text, struct model_login_spec *out)
{
    json_t *j = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
    struct violations vs;
    bool ok;

    violations_init(&vs);
    ok = j != NULL && model_login_spec_from_json(j, "enforce", "1.0", out, &vs);
    json_decref(j);
    if (!ok)
        *out = (struct model_login_spec){.mode = MODEL_LOGIN_ENFORCE, .extension_version = "1.0"};
    return ok;
}

bool model_login_excluded(const struct model_login_spec *s, const char *vm_tags_json)
{
    json_t *tags;
    bool hit = false;
    const char *k;
    json_t *v;

    if (s->n_exclude == 0 || vm_tags_json == NULL)
        return false;
    tags = json_loads(vm_tags_json, 0, NULL);
    json_object_foreach(tags, k, v)
    {
        const char *val = json_string_value(v);
        for (size_t i = 0; i < s->n_exclude && !hit && val; i++)
            hit = strcasecmp(s->exclude[i].name, k) == 0 &&
                  (strcmp(s->exclude[i].value, "*") == 0 || strcmp(s->exclude[i].value, val) == 0);
    }
    json_decref(tags);
    return hit;
}

int model_version_cmp(const char *a, const char *b)
{
    const char *p = a ? a : "", *q = b ? b : "";

    while (*p != '\0' || *q != '\0') {
        long x = strtol(p, (char **)&p, 10);
        long y = strtol(q, (char **)&q, 10);
        if (x != y)
            return x < y ? -1 : 1;
        if (*p == '.')
            p++;
        else if (*p != '\0')
            break;
        if (*q == '.')
            q++;
        else if (*q != '\0')
            break;
    }
    return 0;
}

const char *model_login_api_state(const char *row_state, const struct model_login_facts *f)
{
    enum login_state st;

    if (!login_state_parse(row_state, &st) || st == LOGIN_STATE_NOT_COVERED)
        return model_login_state_str(model_login_state(f));
    /* applying and waiting are steps of pending to the API */
    if (st == LOGIN_STATE_APPLYING || st == LOGIN_STATE_WAITING)
        st = LOGIN_STATE_PENDING;
    return login_state_str(st);
}

/* ---- preflight ---------------------------------------------------------------------------------
 */

static struct model_check *add(struct model_preflight *p, const char *name,
                               enum model_check_result r)
{
    struct model_check *c = &p->checks[p->n++];

    c->name = name;
    c->result = r;
    c->reason[0] = '\0';
    c->fix[0] = '\0';
    return c;
}

static void check_os(const struct model_preflight_facts *f, struct model_preflight *p)
{
    enum model_os_support s = f->os ? f->os->support : MODEL_OS_UNKNOWN;
    struct model_check *c = add(p, "osSupported",
                                s == MODEL_OS_SUPPORTED     ? MODEL_CHECK_PASS
                                : s == MODEL_OS_UNSUPPORTED ? MODEL_CHECK_FAIL
                                                            : MODEL_CHECK_UNKNOWN);

    snprintf(c->reason, sizeof(c->reason), "%s",
             f->os && f->os->reason[0] ? f->os->reason : "the OS is not known yet");
    if (s == MODEL_OS_UNSUPPORTED)
        snprintf(c->fix, sizeof(c->fix),
                 "Entra login needs Windows Server 2019 Datacenter or later, Windows 10 1809 or "
                 "later, or Windows 11 21H2 or later: upgrade the OS or leave this VM out");
    else if (s == MODEL_OS_UNKNOWN)
        snprintf(c->fix, sizeof(c->fix),
                 "start the VM so its agent reports the OS build, or use a marketplace image");
}

static void check_running(const struct model_preflight_facts *f, struct model_preflight *p)
{
    struct model_check *c;

    if (f->power_state == NULL || f->power_state[0] == '\0') {
        c = add(p, "vmRunning", MODEL_CHECK_UNKNOWN);
        snprintf(c->reason, sizeof(c->reason), "the power state is not known yet");
        return;
    }
    if (model_power_running(f->power_state)) {
        c = add(p, "vmRunning", MODEL_CHECK_PASS);
        snprintf(c->reason, sizeof(c->reason), "the VM is running");
        return;
    }
    c = add(p, "vmRunning", MODEL_CHECK_WARN);
    p->wait = true;
    snprintf(c->reason, sizeof(c->reason),
             "the VM is %.60s: extensions can't change until it runs; vmlogind waits and "
             "continues when it starts",
             f->power_state);
    snprintf(c->fix, sizeof(c->fix), "start the VM");
}

static void check_identity(const struct model_preflight_facts *f, struct model_preflight *p)
{
    struct model_check *c;

    if (f->system_identity == MODEL_TRI_UNKNOWN) {
        c = add(p, "systemIdentity", MODEL_CHECK_UNKNOWN);
        snprintf(c->reason, sizeof(c->reason), "the VM's identity is not known yet");
        return;
    }
    c = add(p, "systemIdentity", MODEL_CHECK_PASS);
    if (f->system_identity == MODEL_TRI_YES)
        snprintf(c->reason, sizeof(c->reason), "the system-assigned managed identity is on");
    else if (f->n_user_assigned > 0)
        snprintf(c->reason, sizeof(c->reason),
                 "the system-assigned managed identity is off: vmlogind turns it on first, "
                 "keeping the %zu user-assigned identit%s",
                 f->n_user_assigned, f->n_user_assigned == 1 ? "y" : "ies");
    else
        snprintf(c->reason, sizeof(c->reason),
                 "the system-assigned managed identity is off: vmlogind turns it on first");
}

static void check_name(const struct model_preflight_facts *f, struct model_preflight *p)
{
    size_t n = f->vm_name ? strlen(f->vm_name) : 0;
    struct model_check *c =
        add(p, "vmNameLength", n > NETBIOS_MAX ? MODEL_CHECK_WARN : MODEL_CHECK_PASS);

    if (n <= NETBIOS_MAX) {
        snprintf(c->reason, sizeof(c->reason), "the VM name fits the 15-character NetBIOS name");
        return;
    }
    snprintf(c->reason, sizeof(c->reason),
             "the VM name '%.64s' has %zu characters: Windows cuts the NetBIOS name to 15, so "
             "the device name may not match the VM name",
             f->vm_name, n);
    snprintf(c->fix, sizeof(c->fix),
             "keep VM names to 15 characters, or make sure the 15-character hostname is unique "
             "in the tenant");
}

static void check_hostname(const struct model_preflight_facts *f, struct model_preflight *p)
{
    const char *host = f->computer_name && f->computer_name[0] ? f->computer_name : "?";
    struct model_check *c;

    if (f->own_device) {
        c = add(p, "hostnameUnique", MODEL_CHECK_PASS);
        snprintf(c->reason, sizeof(c->reason),
                 "the VM was Entra-joined before: a device named '%.64s' is its own", host);
        return;
    }
    if (f->device_duplicate == MODEL_TRI_UNKNOWN) {
        c = add(p, "hostnameUnique", MODEL_CHECK_UNKNOWN);
        snprintf(c->reason, sizeof(c->reason),
                 "Entra devices named '%.64s' have not been looked up yet", host);
        return;
    }
    if (f->device_duplicate == MODEL_TRI_NO) {
        c = add(p, "hostnameUnique", MODEL_CHECK_PASS);
        snprintf(c->reason, sizeof(c->reason), "no Entra device is named '%.64s'", host);
        return;
    }
    c = add(p, "hostnameUnique", MODEL_CHECK_FAIL);
    snprintf(c->reason, sizeof(c->reason),
             "an Entra device named '%.64s' already exists: the join would fail with a hostname "
             "duplication error",
             host);
    snprintf(c->fix, sizeof(c->fix),
             "delete the stale Entra device '%.64s' (Entra admin center > Devices) or change the "
             "VM's hostname, then enable again",
             host);
}

static void check_sp(const struct model_preflight_facts *f, struct model_preflight *p)
{
    struct model_check *c;

    if (f->signin_sp == MODEL_TRI_UNKNOWN) {
        c = add(p, "signInServicePrincipal", MODEL_CHECK_UNKNOWN);
        snprintf(c->reason, sizeof(c->reason),
                 "the Azure Windows VM Sign-In service principal has not been looked up yet");
        return;
    }
    if (f->signin_sp == MODEL_TRI_YES) {
        c = add(p, "signInServicePrincipal", MODEL_CHECK_PASS);
        snprintf(c->reason, sizeof(c->reason),
                 "the Azure Windows VM Sign-In service principal is in the tenant");
        return;
    }
    if (f->create_signin_sp) {
        c = add(p, "signInServicePrincipal", MODEL_CHECK_PASS);
        snprintf(c->reason, sizeof(c->reason),
                 "the Azure Windows VM Sign-In service principal is missing: vmlogind creates it "
                 "(create_signin_sp)");
        return;
    }
    c = add(p, "signInServicePrincipal", MODEL_CHECK_WARN);
    snprintf(c->reason, sizeof(c->reason),
             "the Azure Windows VM Sign-In service principal (appId " SIGNIN_APP_ID
             ") is missing: Conditional Access can't target VM sign-in");
    snprintf(c->fix, sizeof(c->fix),
             "create it (az ad sp create --id " SIGNIN_APP_ID ") or set create_signin_sp = true");
}

static void check_domain(const struct model_preflight_facts *f, struct model_preflight *p)
{
    struct model_check *c;

    if (f->domain_joined == MODEL_TRI_UNKNOWN) {
        c = add(p, "notDomainJoined", MODEL_CHECK_UNKNOWN);
        snprintf(c->reason, sizeof(c->reason), "the VM's extensions are not known yet");
        return;
    }
    if (f->domain_joined == MODEL_TRI_NO) {
        c = add(p, "notDomainJoined", MODEL_CHECK_PASS);
        snprintf(c->reason, sizeof(c->reason), "no AD domain-join extension is present");
        return;
    }
    c = add(p, "notDomainJoined", MODEL_CHECK_FAIL);
    snprintf(c->reason, sizeof(c->reason),
             "a domain-join extension (JsonADDomainExtension) is present: an Entra join excludes "
             "an AD domain join");
    snprintf(c->fix, sizeof(c->fix),
             "leave the AD domain and remove the JsonADDomainExtension first, or keep this VM on "
             "AD sign-in");
}

static int severity(enum model_check_result r)
{
    static const int order[] = {[MODEL_CHECK_PASS] = 0,
                                [MODEL_CHECK_WARN] = 1,
                                [MODEL_CHECK_UNKNOWN] = 2,
                                [MODEL_CHECK_FAIL] = 3};
    return order[r];
}

void model_preflight_run(const struct model_preflight_facts *f, struct model_preflight *out)
{
    *out = (struct model_preflight){0};
    check_os(f, out);
    check_running(f, out);
    check_identity(f, out);
    check_name(f, out);
    check_hostname(f, out);
    check_sp(f, out);
    check_domain(f, out);
    out->overall = MODEL_CHECK_PASS;
    for (size_t i = 0; i < out->n; i++) {
        if (severity(out->checks[i].result) > severity(out->overall))
            out->overall = out->checks[i].result;
        if (out->checks[i].result == MODEL_CHECK_FAIL && out->blocking == NULL)
            out->blocking = &out->checks[i];
    }
}

const char *model_check_result_str(enum model_check_result r)
{
    static const char *const names[] = {"pass", "warn", "fail", "unknown"};
    return (unsigned)r < 4 ? names[r] : "unknown";
}

json_t *model_preflight_to_json(const struct model_preflight *p)
{
    json_t *checks = json_array();

    for (size_t i = 0; i < p->n; i++) {
        const struct model_check *c = &p->checks[i];
        json_t *j = json_pack("{s:s, s:s, s:s}", "name", c->name, "result",
                              model_check_result_str(c->result), "reason", c->reason);
        if (c->fix[0] != '\0')
            json_object_set_new(j, "fix", json_string(c->fix));
        json_array_append_new(checks, j);
    }
    return json_pack("{s:s, s:o}", "result", model_check_result_str(p->overall), "checks", checks);
}

/* model_grant.c: what a login grant may be, checked without I/O: scopes (subscription,
 * resource group or VM, never a management group, normalised to the ARM id), the two login
 * roles, the request body's shape and meaning, the deterministic assignment name, and which
 * directory principals may receive a login role. Directory lookups happen elsewhere (the API
 * reads the store, the reconciler asks Graph); both pass what they found to
 * model_grant_principal_check. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/clock.h"
#include "vmlogind/model_grant.h"

#define SEGS_MAX 10
#define SEG_MAX 128
#define MG_REASON                                                                                  \
    "the VM login roles carry dataActions and can't be assigned at management-group scope; "       \
    "use a subscription, resource group or VM scope"
#define SCOPE_FORMS                                                                                \
    "scope must be /subscriptions/{id}, /subscriptions/{id}/resourceGroups/{rg} or "               \
    "/subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"

/* violations_add that tolerates a NULL list (callers that only want the verdict). */
static void bad(struct violations *vs, const char *field, const char *code, const char *msg)
{
    if (vs != NULL)
        violations_add(vs, field, code, "%s", msg);
}

/* ---- scopes --------------------------------------------------------------------------------- */

static bool rg_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 90 || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        /* Azure allows Unicode letters too: let UTF-8 bytes through. */
        if (!(isalnum(c) || c == '-' || c == '_' || c == '.' || c == '(' || c == ')' || c >= 0x80))
            return false;
    }
    return true;
}

static bool vm_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64 || s[0] == '_' || s[n - 1] == '.' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static void lower_into(char *out, size_t cap, const char *in)
{
    size_t i = 0;

    for (; in[i] != '\0' && i + 1 < cap; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

bool model_scope_from_parts(const char *sub, const char *rg, const char *vm,
                            struct model_scope *out, struct violations *vs)
{
    int w;

    memset(out, 0, sizeof(*out));
    if (sub == NULL || !uuid_is_valid(sub)) {
        bad(vs, "scope", "invalid_scope", "the subscription id must be a GUID");
        return false;
    }
    if (rg != NULL && !rg_name_ok(rg)) {
        bad(vs, "scope", "invalid_scope",
            "a resource group name has 1-90 letters, digits, '-', '_', '.', '(' or ')' and does "
            "not end with '.'");
        return false;
    }
    if (vm != NULL && (rg == NULL || !vm_name_ok(vm))) {
        bad(vs, "scope", "invalid_scope", "a VM name has 1-64 letters, digits, '-', '_' or '.'");
        return false;
    }
    lower_into(out->subscription, sizeof(out->subscription), sub);
    if (rg != NULL)
        snprintf(out->resource_group, sizeof(out->resource_group), "%s", rg);
    if (vm != NULL)
        snprintf(out->vm, sizeof(out->vm), "%s", vm);
    out->kind = vm != NULL   ? MODEL_SCOPE_VM
                : rg != NULL ? MODEL_SCOPE_RESOURCE_GROUP
                             : MODEL_SCOPE_SUBSCRIPTION;
    if (vm != NULL)
        w = snprintf(out->arm, sizeof(out->arm),
                     "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/"
                     "virtualMachines/%s",
                     out->subscription, rg, vm);
    else if (rg != NULL)
        w = snprintf(out->arm, sizeof(out->arm), "/subscriptions/%s/resourceGroups/%s",
                     out->subscription, rg);
    else
        w = snprintf(out->arm, sizeof(out->arm), "/subscriptions/%s", out->subscription);
    if (w < 0 || (size_t)w >= sizeof(out->arm)) {
        bad(vs, "scope", "invalid_scope", "scope is too long");
        return false;
    }
    lower_into(out->key, sizeof(out->key), out->arm);
    return true;
}

/* Splits "/a/b/c" into segments; false on an empty segment or too many/too long ones. */
static int split(const char *in, char segs[SEGS_MAX][SEG_MAX])
{
    int n = 0;
    const char *p = in + 1;

    while (*p != '\0') {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);

        if (len == 0 || len >= SEG_MAX || n == SEGS_MAX)
            return -1;
        memcpy(segs[n], p, len);
        segs[n][len] = '\0';
        n++;
        if (slash == NULL)
            break;
        p = slash + 1;
        if (*p == '\0') /* one trailing '/' is fine */
            break;
    }
    return n;
}

static bool has_bad_chars(const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c == 0x7f || c == '?' || c == '#' || c == '%' || c == '\\')
            return true;
    }
    return false;
}

bool model_scope_parse(const char *in, struct model_scope *out, struct violations *vs,
                       const char *field)
{
    char segs[SEGS_MAX][SEG_MAX];
    struct violations local;
    int n;
    bool ok;

    memset(out, 0, sizeof(*out));
    if (in == NULL || in[0] != '/' || strlen(in) >= MODEL_GRANT_SCOPE_MAX || has_bad_chars(in)) {
        bad(vs, field, "invalid_scope", SCOPE_FORMS);
        return false;
    }
    if (strncasecmp(in, "/providers/Microsoft.Management/managementGroups", 48) == 0) {
        bad(vs, field, "management_group_scope", MG_REASON);
        return false;
    }
    n = split(in, segs);
    if (n < 2 || strcasecmp(segs[0], "subscriptions") != 0) {
        bad(vs, field, "invalid_scope", SCOPE_FORMS);
        return false;
    }
    violations_init(&local);
    if (n == 2)
        ok = model_scope_from_parts(segs[1], NULL, NULL, out, &local);
    else if (n == 4 && strcasecmp(segs[2], "resourceGroups") == 0)
        ok = model_scope_from_parts(segs[1], segs[3], NULL, out, &local);
    else if (n == 6 && strcasecmp(segs[2], "resourceGroups") == 0 &&
             strcasecmp(segs[4], "virtualMachines") == 0)
        ok = model_scope_from_parts(segs[1], segs[3], segs[5], out, &local);
    else if (n == 8 && strcasecmp(segs[2], "resourceGroups") == 0 &&
             strcasecmp(segs[4], "providers") == 0 &&
             strcasecmp(segs[5], "Microsoft.Compute") == 0 &&
             strcasecmp(segs[6], "virtualMachines") == 0)
        ok = model_scope_from_parts(segs[1], segs[3], segs[7], out, &local);
    else {
        bad(vs, field, "invalid_scope", SCOPE_FORMS);
        return false;
    }
    for (size_t i = 0; !ok && i < local.n; i++)
        bad(vs, field, local.v[i].code, local.v[i].msg);
    return ok;
}

/* ---- roles and principal types ------------------------------------------------------------ */

const char *model_grant_role_name(enum model_grant_role r)
{
    return r == MODEL_GRANT_ROLE_ADMIN ? "administrator" : r == MODEL_GRANT_ROLE_USER ? "user" : "";
}

const char *model_grant_role_guid(enum model_grant_role r)
{
    return r == MODEL_GRANT_ROLE_ADMIN  ? MODEL_GRANT_ROLE_ADMIN_GUID
           : r == MODEL_GRANT_ROLE_USER ? MODEL_GRANT_ROLE_USER_GUID
                                        : "";
}

enum model_grant_role model_grant_role_parse(const char *s)
{
    if (s == NULL)
        return MODEL_GRANT_ROLE_NONE;
    if (strcmp(s, "administrator") == 0)
        return MODEL_GRANT_ROLE_ADMIN;
    if (strcmp(s, "user") == 0)
        return MODEL_GRANT_ROLE_USER;
    return MODEL_GRANT_ROLE_NONE;
}

enum model_grant_role model_grant_role_from_definition(const char *id)
{
    size_t n;
    const char *guid;

    if (id == NULL)
        return MODEL_GRANT_ROLE_NONE;
    n = strlen(id);
    if (n < 36)
        return MODEL_GRANT_ROLE_NONE;
    guid = id + n - 36; /* compare by the trailing GUID, whatever the prefix */
    if (n > 36 && guid[-1] != '/')
        return MODEL_GRANT_ROLE_NONE;
    if (strcasecmp(guid, MODEL_GRANT_ROLE_ADMIN_GUID) == 0)
        return MODEL_GRANT_ROLE_ADMIN;
    if (strcasecmp(guid, MODEL_GRANT_ROLE_USER_GUID) == 0)
        return MODEL_GRANT_ROLE_USER;
    return MODEL_GRANT_ROLE_NONE;
}

static const char *const pt_arm[] = {"User", "Group", "ServicePrincipal"};
static const char *const pt_api[] = {"user", "group", "servicePrincipal"};

const char *model_grant_principal_type_arm(const char *s)
{
    for (size_t i = 0; s != NULL && i < 3; i++) {
        if (strcasecmp(s, pt_arm[i]) == 0)
            return pt_arm[i];
    }
    return NULL;
}

const char *model_grant_principal_type_api(const char *arm_type)
{
    for (size_t i = 0; arm_type != NULL && i < 3; i++) {
        if (strcasecmp(arm_type, pt_arm[i]) == 0)
            return pt_api[i];
    }
    return arm_type != NULL ? arm_type : "";
}

/* ---- the request --------------------------------------------------------------------------- */

const char *model_grant_json_str(const json_t *o, const char *name, const char *path,
                                 struct violations *vs)
{
    const json_t *v = json_object_get(o, name);

    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        violations_add(vs, path, "wrong_type", "%s must be a string", path);
        return NULL;
    }
    return json_string_value(v);
}

void model_grant_json_unknown(const json_t *o, const char *const *known, const char *prefix,
                              struct violations *vs)
{
    const char *k;
    json_t *v;
    char path[128];

    json_object_foreach((json_t *)o, k, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i] != NULL && !ok; i++)
            ok = strcmp(k, known[i]) == 0;
        if (!ok) {
            snprintf(path, sizeof(path), "%s%.100s", prefix, k);
            violations_add(vs, path, "unknown_field", "unknown field");
        }
    }
}

/* principal.id, the Principal schema's name for objectId (either may be given; both must then
 * name the same object). */
static void principal_id_field(const json_t *p, struct model_grant_request *out,
                               struct violations *vs)
{
    const char *id = model_grant_json_str(p, "id", "principal.id", vs);

    if (id == NULL)
        return;
    if (out->object_id != NULL && strcasecmp(out->object_id, id) != 0) {
        violations_add(vs, "principal.id", "conflicting_fields",
                       "principal.id and principal.objectId name different objects");
    } else {
        out->object_id = id;
        out->object_id_field = "principal.id";
    }
}

bool model_grant_request_from_json(const json_t *root, struct model_grant_request *out,
                                   struct violations *vs)
{
    static const char *const top[] = {"scope",     "role",          "principal",
                                      "expiresAt", "justification", NULL};
    static const char *const pr[] = {"upn", "id", "objectId", "type", NULL};
    const json_t *p;
    size_t before = vs->n + vs->dropped;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(root)) {
        violations_add(vs, "", "wrong_type", "the body must be a JSON object");
        return false;
    }
    model_grant_json_unknown(root, top, "", vs);
    out->scope = model_grant_json_str(root, "scope", "scope", vs);
    out->role = model_grant_json_str(root, "role", "role", vs);
    out->expires_at = model_grant_json_str(root, "expiresAt", "expiresAt", vs);
    out->justification = model_grant_json_str(root, "justification", "justification", vs);
    if (json_object_get(root, "scope") == NULL)
        violations_add(vs, "scope", "required", "scope is required");
    if (json_object_get(root, "role") == NULL)
        violations_add(vs, "role", "required", "role is required");
    p = json_object_get(root, "principal");
    if (p == NULL) {
        violations_add(vs, "principal", "required",
                       "principal is required: {\"upn\": ...} or {\"objectId\": ...}");
    } else if (!json_is_object(p)) {
        violations_add(vs, "principal", "wrong_type", "principal must be an object");
    } else {
        model_grant_json_unknown(p, pr, "principal.", vs);
        out->upn = model_grant_json_str(p, "upn", "principal.upn", vs);
        out->object_id = model_grant_json_str(p, "objectId", "principal.objectId", vs);
        out->object_id_field = "principal.objectId";
        principal_id_field(p, out, vs);
        out->principal_type = model_grant_json_str(p, "type", "principal.type", vs);
    }
    return vs->n + vs->dropped == before;
}

static bool upn_ok(const char *s)
{
    size_t n = strlen(s);
    const char *at = strchr(s, '@');

    if (n == 0 || n > MODEL_GRANT_UPN_MAX || at == NULL || at == s || at[1] == '\0' ||
        strchr(at + 1, '@') != NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '?' || c == '"')
            return false;
    }
    return true;
}

static void validate_principal(const struct model_grant_request *rq, struct model_grant_spec *out,
                               struct violations *vs)
{
    bool has_upn = rq->upn != NULL, has_id = rq->object_id != NULL;

    if (has_upn == has_id) {
        violations_add(vs, "principal", "one_of_required",
                       "give exactly one of principal.upn and principal.id (or objectId)");
    } else if (has_upn && !upn_ok(rq->upn)) {
        violations_add(vs, "principal.upn", "invalid_upn",
                       "a user principal name looks like name@domain (at most %d characters)",
                       MODEL_GRANT_UPN_MAX);
    } else if (has_upn) {
        snprintf(out->upn, sizeof(out->upn), "%s", rq->upn);
    } else if (!uuid_is_valid(rq->object_id)) {
        violations_add(vs, rq->object_id_field ? rq->object_id_field : "principal.objectId",
                       "invalid_object_id",
                       "an object id is a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
    } else {
        lower_into(out->object_id, sizeof(out->object_id), rq->object_id);
    }
    if (rq->principal_type != NULL) {
        out->principal_type = model_grant_principal_type_arm(rq->principal_type);
        if (out->principal_type == NULL)
            violations_add(vs, "principal.type", "invalid_principal_type",
                           "principal.type is one of user, group, servicePrincipal");
        else if (has_upn && !has_id && strcmp(out->principal_type, "User") != 0)
            violations_add(vs, "principal.type", "invalid_principal_type",
                           "only users have a UPN; give a group or service principal by objectId");
    }
}

/* expiresAt: RFC 3339, in the future, at most max_duration_s ahead of now_ms. */
static bool expiry_valid(const char *text, int64_t now_ms, int64_t max_duration_s, int64_t *out,
                         struct violations *vs)
{
    int64_t exp;

    if (!clock_parse_rfc3339(text, &exp))
        violations_add(vs, "expiresAt", "invalid_time",
                       "expiresAt is an RFC 3339 time, e.g. 2026-01-31T18:00:00Z");
    else if (exp <= now_ms)
        violations_add(vs, "expiresAt", "expiry_in_past", "expiresAt must be in the future");
    else if (exp - now_ms > max_duration_s * 1000)
        violations_add(vs, "expiresAt", "expiry_too_far",
                       "expiresAt may be at most %lld seconds ahead", (long long)max_duration_s);
    else {
        *out = exp;
        return true;
    }
    return false;
}

bool model_grant_change_from_json(const json_t *root, int64_t now_ms, int64_t max_duration_s,
                                  int64_t *expires_at, struct violations *vs)
{
    static const char *const top[] = {"expiresAt", NULL};
    const char *text;
    size_t before = vs->n + vs->dropped;

    *expires_at = 0;
    if (!json_is_object(root)) {
        violations_add(vs, "", "wrong_type", "the body must be a JSON object");
        return false;
    }
    model_grant_json_unknown(root, top, "", vs);
    text = model_grant_json_str(root, "expiresAt", "expiresAt", vs);
    if (json_object_get(root, "expiresAt") == NULL ||
        json_is_null(json_object_get(root, "expiresAt")))
        violations_add(vs, "expiresAt", "required",
                       "expiresAt is required: an expiry can be moved, not removed");
    else if (text != NULL)
        (void)expiry_valid(text, now_ms, max_duration_s, expires_at, vs);
    return vs->n + vs->dropped == before;
}

bool model_grant_validate(const struct model_grant_request *rq, int64_t now_ms,
                          int64_t max_duration_s, struct model_grant_spec *out,
                          struct violations *vs)
{
    size_t before = vs->n + vs->dropped;
    int64_t exp;

    memset(out, 0, sizeof(*out));
    out->justification = "";
    if (rq->scope != NULL)
        (void)model_scope_parse(rq->scope, &out->scope, vs, "scope");
    if (rq->role != NULL) {
        out->role = model_grant_role_parse(rq->role);
        if (out->role == MODEL_GRANT_ROLE_NONE)
            violations_add(vs, "role", "unknown_role",
                           "role is \"administrator\" (Virtual Machine Administrator Login) or "
                           "\"user\" (Virtual Machine User Login)");
    }
    validate_principal(rq, out, vs);
    if (rq->expires_at != NULL && expiry_valid(rq->expires_at, now_ms, max_duration_s, &exp, vs))
        out->expires_at = exp;
    if (rq->justification != NULL) {
        if (strlen(rq->justification) > MODEL_GRANT_JUSTIFICATION_MAX)
            violations_add(vs, "justification", "too_long",
                           "justification has at most %d characters",
                           MODEL_GRANT_JUSTIFICATION_MAX);
        else
            out->justification = rq->justification;
    }
    return vs->n + vs->dropped == before;
}

/* ---- names --------------------------------------------------------------------------------- */

static void name_of(const char *scope, enum model_grant_role role, const char *prefix,
                    const char *who, char out[UUID_STR_LEN])
{
    char scope_lc[MODEL_GRANT_SCOPE_MAX], who_lc[MODEL_GRANT_UPN_MAX + 8];
    char text[MODEL_GRANT_SCOPE_MAX + MODEL_GRANT_UPN_MAX + 64];
    int n;

    lower_into(scope_lc, sizeof(scope_lc), scope);
    lower_into(who_lc, sizeof(who_lc), who);
    n = snprintf(text, sizeof(text), "%s|%s|%s%s", scope_lc, model_grant_role_guid(role), prefix,
                 who_lc);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(text))
        n = (int)sizeof(text) - 1;
    (void)uuid_v5(MODEL_GRANT_NAME_NAMESPACE, text, (size_t)n, out);
}

void model_grant_assignment_name(const char *scope, enum model_grant_role role,
                                 const char *principal_id, char out[UUID_STR_LEN])
{
    name_of(scope, role, "", principal_id, out);
}

void model_grant_pending_name(const char *scope, enum model_grant_role role, const char *upn,
                              char out[UUID_STR_LEN])
{
    name_of(scope, role, "upn:", upn, out);
}

/* ---- principals and states ----------------------------------------------------------------- */

enum err model_grant_principal_check(const struct model_principal_facts *p, struct err_detail *d)
{
    if (p->deleted != NULL && strcmp(p->deleted, "none") != 0)
        return err_set(d, ERR_INVALID, "principal_deleted",
                       "the principal is deleted in the directory%s",
                       strcmp(p->deleted, "soft") == 0 ? " (soft-deleted: restorable)" : "");
    if (p->kind != NULL && strcmp(p->kind, "user") != 0 && strcmp(p->kind, "group") != 0 &&
        strcmp(p->kind, "servicePrincipal") != 0)
        return err_set(d, ERR_INVALID, "principal_type_unsupported",
                       "a %s can't receive a VM login role: grant a user, group or service "
                       "principal",
                       p->kind);
    if (p->kind != NULL && strcmp(p->kind, "user") == 0 && p->user_type != NULL &&
        strcasecmp(p->user_type, "Guest") == 0)
        return err_set(d, ERR_INVALID, "guest_principal",
                       "guest accounts can't sign in to Microsoft Entra joined VMs, so they are "
                       "not granted VM login");
    if (p->account_enabled == 0)
        return err_set(d, ERR_INVALID, "principal_disabled",
                       "the account is disabled in the directory and can't sign in");
    return ERR_OK;
}

bool model_grant_state_valid(const char *s)
{
    enum grant_state st;

    return grant_state_parse(s, &st);
}

bool model_grant_state_is_live(const char *s)
{
    enum grant_state st;

    return grant_state_parse(s, &st) &&
           (st == GRANT_STATE_PENDING || st == GRANT_STATE_ACTIVE || st == GRANT_STATE_REVOKING);
}

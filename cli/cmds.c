/* cmds.c: vmloginctl's commands. Each resolves its arguments to API paths, makes the calls and
 * prints the answer: json is the API's own body, table/tsv pick columns. */
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_cmds.h"
#include "vmlogind/xalloc.h"

#define USAGE_ERR(ctx, ...)                                                                        \
    do {                                                                                           \
        fprintf((ctx)->err, "vmloginctl: " __VA_ARGS__);                                           \
        fputc('\n', (ctx)->err);                                                                   \
        return CLI_USAGE;                                                                          \
    } while (0)

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static char *escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *r = xstrdup(e ? e : "");
    curl_free(e);
    return r;
}

/* json and yaml print the API's body whole; table and tsv pick columns. */
static bool whole_body(const struct cli_ctx *ctx)
{
    return ctx->fmt == CLI_FMT_JSON || ctx->fmt == CLI_FMT_YAML;
}

/* Prints a 2xx body: json as the API gave it, yaml converted from it. */
static void print_json_body(struct cli_ctx *ctx, const char *body)
{
    size_t n = strlen(body);
    if (ctx->fmt == CLI_FMT_YAML) {
        json_t *j = json_loads(body, JSON_DECODE_ANY, NULL);
        if (j != NULL) {
            cli_print_yaml(ctx->out, j);
            json_decref(j);
            return;
        }
    }
    fputs(body, ctx->out);
    if (n == 0 || body[n - 1] != '\n')
        fputc('\n', ctx->out);
}

static void print_obj(struct cli_ctx *ctx, const struct cli_resp *r, const struct cli_col *cols)
{
    if (whole_body(ctx))
        print_json_body(ctx, r->body);
    else
        cli_print_object(ctx->out, r->json, cols, ctx->fmt, time(NULL));
}

/* A GET that must answer 200; prints the error otherwise and returns its exit code. */
static int get(struct cli_ctx *ctx, const char *path, struct cli_resp *r)
{
    if (cli_request(ctx, "GET", path, NULL, r) != 200) {
        int rc = cli_report_error(ctx, r);
        cli_resp_cleanup(r);
        return rc;
    }
    return CLI_OK;
}

/* The path of a nextLink (absolute or relative) on our server. */
static const char *link_path(struct cli_ctx *ctx, const char *next)
{
    size_t n = strlen(ctx->url);
    if (strncmp(next, ctx->url, n) == 0)
        return next + n;
    const char *v1 = strstr(next, "/v1/");
    return v1 ? v1 : next;
}

/* GETs path and every nextLink; *all gets {"value":[...]} (or the single page's body when
 * there was one page, in *single). */
static int get_all(struct cli_ctx *ctx, const char *path, json_t **all, char **single)
{
    char *p = xstrdup(path);
    json_t *value = json_array();
    int pages = 0;

    *single = NULL;
    for (;;) {
        struct cli_resp r;
        int rc = get(ctx, p, &r);
        free(p);
        if (rc != CLI_OK) {
            json_decref(value);
            free(*single);
            *single = NULL;
            return rc;
        }
        json_array_extend(value, json_object_get(r.json, "value"));
        const char *next = json_string_value(json_object_get(r.json, "nextLink"));
        if (pages++ == 0 && next == NULL)
            *single = xstrdup(r.body);
        p = next ? xstrdup(link_path(ctx, next)) : NULL;
        cli_resp_cleanup(&r);
        if (p == NULL)
            break;
        free(*single);
        *single = NULL;
    }
    *all = json_pack("{s:o}", "value", value);
    return CLI_OK;
}

static void print_list(struct cli_ctx *ctx, json_t *all, const char *single,
                       const struct cli_col *cols)
{
    if (!whole_body(ctx)) {
        cli_print_rows(ctx->out, json_object_get(all, "value"), cols, ctx->fmt, time(NULL));
    } else if (single != NULL) {
        print_json_body(ctx, single);
    } else {
        char *s = json_dumps(all, JSON_COMPACT | JSON_PRESERVE_ORDER);
        print_json_body(ctx, s);
        free(s);
    }
}

static int list_and_print(struct cli_ctx *ctx, const char *path, const struct cli_col *cols)
{
    json_t *all;
    char *single;
    int rc = get_all(ctx, path, &all, &single);
    if (rc != CLI_OK)
        return rc;
    print_list(ctx, all, single, cols);
    json_decref(all);
    free(single);
    return CLI_OK;
}

/* ---- resolving VMs and scopes ---- */

static bool looks_like_guid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : strchr("0123456789abcdefABCDEF", s[i]) == NULL)
            return false;
    }
    return true;
}

/* Every VM of the inventory (of VMLOGIND_SUBSCRIPTION when set) whose name (and resource
 * group, when rg is not NULL) match; for rg_only, VMs in resource group rg. */
static int find_vms(struct cli_ctx *ctx, const char *rg, const char *name, json_t **matches)
{
    char *sub = getenv("VMLOGIND_SUBSCRIPTION") ? xstrdup(getenv("VMLOGIND_SUBSCRIPTION"))
                                                : cli_profile_get(ctx->profile, "subscription");
    char *path;
    json_t *all;
    char *single;
    size_t i;
    json_t *vm;
    int rc;

    if (sub != NULL && sub[0]) {
        char *e = escape(sub);
        path = xasprintf("/v1/virtualMachines?limit=1000&subscription=%s", e);
        free(e);
    } else {
        path = xstrdup("/v1/virtualMachines?limit=1000");
    }
    free(sub);
    rc = get_all(ctx, path, &all, &single);
    free(path);
    free(single);
    if (rc != CLI_OK)
        return rc;
    *matches = json_array();
    json_array_foreach(json_object_get(all, "value"), i, vm)
    {
        if (rg != NULL && strcasecmp(jstr(vm, "resourceGroup"), rg) != 0)
            continue;
        if (name != NULL && strcasecmp(jstr(vm, "name"), name) != 0)
            continue;
        json_array_append(*matches, vm);
    }
    json_decref(all);
    return CLI_OK;
}

static void scope_of_vm(const json_t *vm, struct cli_scope *sc)
{
    memset(sc, 0, sizeof(*sc));
    snprintf(sc->sub, sizeof(sc->sub), "%s", jstr(vm, "subscriptionId"));
    snprintf(sc->rg, sizeof(sc->rg), "%s", jstr(vm, "resourceGroup"));
    snprintf(sc->vm, sizeof(sc->vm), "%s", jstr(vm, "name"));
}

static int pick_one(struct cli_ctx *ctx, const char *what, const char *arg, json_t *m,
                    struct cli_scope *sc)
{
    size_t i;
    json_t *vm;
    int rc = CLI_OK;

    if (json_array_size(m) == 0) {
        fprintf(ctx->err, "vmloginctl: no %s %s in the inventory\n", what, arg);
        rc = CLI_NOT_FOUND;
    } else if (json_array_size(m) > 1) {
        fprintf(ctx->err, "vmloginctl: %s is ambiguous; give one of:\n", arg);
        json_array_foreach(m, i, vm)
        {
            fprintf(ctx->err, "  %s\n", jstr(vm, "id"));
        }
        rc = CLI_USAGE;
    } else {
        scope_of_vm(json_array_get(m, 0), sc);
    }
    json_decref(m);
    return rc;
}

/* A VM: its ARM id, RG/NAME, or a NAME unique in the inventory. */
static int resolve_vm(struct cli_ctx *ctx, const char *arg, struct cli_scope *sc)
{
    const char *slash = strchr(arg, '/');
    json_t *m;
    int rc;

    if (arg[0] == '/') {
        if (!cli_scope_parse_arm(arg, sc) || !sc->vm[0])
            USAGE_ERR(ctx, "%s is not a VM id", arg);
        return CLI_OK;
    }
    if (slash != NULL) {
        char rg[91];
        if (strchr(slash + 1, '/') != NULL || slash == arg || (size_t)(slash - arg) >= sizeof(rg))
            USAGE_ERR(ctx, "%s: give a VM as its ARM id, RG/NAME or NAME", arg);
        snprintf(rg, sizeof(rg), "%.*s", (int)(slash - arg), arg);
        rc = find_vms(ctx, rg, slash + 1, &m);
    } else {
        rc = find_vms(ctx, NULL, arg, &m);
    }
    if (rc != CLI_OK)
        return rc;
    return pick_one(ctx, "VM", arg, m, sc);
}

/* A scope: an ARM id, a subscription id, RG/NAME (a VM), or a name: a resource group if the
 * inventory has VMs in one of that name (in one subscription), else a unique VM name. */
static int resolve_scope(struct cli_ctx *ctx, const char *arg, struct cli_scope *sc)
{
    json_t *m;
    size_t i;
    json_t *vm;
    int rc;

    memset(sc, 0, sizeof(*sc));
    if (arg[0] == '/') {
        if (!cli_scope_parse_arm(arg, sc))
            USAGE_ERR(ctx, "%s is not a subscription, resource group or VM id", arg);
        return CLI_OK;
    }
    if (looks_like_guid(arg)) {
        snprintf(sc->sub, sizeof(sc->sub), "%s", arg);
        return CLI_OK;
    }
    if (strchr(arg, '/') != NULL)
        return resolve_vm(ctx, arg, sc);
    rc = find_vms(ctx, arg, NULL, &m);
    if (rc != CLI_OK)
        return rc;
    if (json_array_size(m) > 0) {
        const char *sub = jstr(json_array_get(m, 0), "subscriptionId");
        bool several = false;
        json_array_foreach(m, i, vm)
        {
            several = several || strcasecmp(jstr(vm, "subscriptionId"), sub) != 0;
        }
        if (several) {
            fprintf(ctx->err,
                    "vmloginctl: resource group %s is in several subscriptions; give "
                    "/subscriptions/S/resourceGroups/%s\n",
                    arg, arg);
            json_decref(m);
            return CLI_USAGE;
        }
        snprintf(sc->sub, sizeof(sc->sub), "%s", sub);
        snprintf(sc->rg, sizeof(sc->rg), "%s", jstr(json_array_get(m, 0), "resourceGroup"));
        json_decref(m);
        return CLI_OK;
    }
    json_decref(m);
    return resolve_vm(ctx, arg, sc);
}

/* ---- waiting ---- */

static const struct cli_col op_cols[] = {
    {"ID", "id", false},         {"KIND", "kind", false},         {"TARGET", "target", false},
    {"STATUS", "status", false}, {"CREATED", "createdAt", false}, {"ENDED", "endedAt", false},
    {NULL, NULL, false}};
static const struct cli_col op_vm_cols[] = {{"VM", "id", false},
                                            {"STATUS", "status", false},
                                            {"STEP", "step", false},
                                            {"ERROR", "error.code", false},
                                            {"UPDATED", "updatedAt", true},
                                            {"NOTE", "note", true},
                                            {"FIX", "error.fix", true},
                                            {NULL, NULL, false}};

static bool op_done(const char *st)
{
    return strcmp(st, "Succeeded") == 0 || strcmp(st, "Failed") == 0 ||
           strcmp(st, "PartiallySucceeded") == 0 || strcmp(st, "Canceled") == 0;
}

static void print_operation(struct cli_ctx *ctx, const struct cli_resp *r)
{
    print_obj(ctx, r, op_cols);
    if (cli_fmt_is_table(ctx->fmt) &&
        json_array_size(json_object_get(r->json, "virtualMachines"))) {
        fputc('\n', ctx->out);
        cli_print_rows(ctx->out, json_object_get(r->json, "virtualMachines"), op_vm_cols, ctx->fmt,
                       time(NULL));
    }
}

/* Ctrl-C while following: the server goes on; say so and how to follow it again. */
static int stopped_watching(struct cli_ctx *ctx, const char *what, const char *again)
{
    if (ctx->err_tty)
        fputc('\n', ctx->err);
    fprintf(ctx->err,
            "vmloginctl: stopped watching (Ctrl-C); %s continues on the server.\n"
            "  follow it again: %s\n",
            what, again);
    return CLI_INTERRUPTED;
}

/* The progress line: redrawn in place on a terminal, else printed when it changes. */
static void show_progress(struct cli_ctx *ctx, const char *id, const json_t *op, char *last,
                          size_t cap)
{
    struct cli_progress p;
    char line[512];

    cli_progress_of(op, time(NULL), &p);
    if (ctx->err_tty) {
        cli_progress_format(&p, ctx->err_color, true, line, sizeof(line));
        fprintf(ctx->err, "\r\033[Koperation %s %s", id, line);
        fflush(ctx->err);
        return;
    }
    cli_progress_format(&p, false, false, line, sizeof(line));
    if (strcmp(line, last) != 0)
        fprintf(ctx->err, "operation %s %s\n", id, line);
    snprintf(last, cap, "%s", line);
}

/* Follows operation id until it ends; prints it; the exit code says how it ended. Ctrl-C
 * stops the watching, not the operation (exit 130). */
static int watch_operation(struct cli_ctx *ctx, const char *id)
{
    char *e = escape(id);
    char *path = xasprintf("/v1/operations/%s", e);
    char *again = xasprintf("vmloginctl operation watch %s", id);
    char *what = xasprintf("operation %s", id);
    char last[512] = "";
    struct cli_resp r;
    int rc;

    free(e);
    cli_catch_sigint();
    for (;;) {
        rc = get(ctx, path, &r);
        if (cli_interrupted) {
            rc = stopped_watching(ctx, what, again);
            break;
        }
        if (rc != CLI_OK)
            break;
        const char *st = jstr(r.json, "status");
        show_progress(ctx, id, r.json, last, sizeof(last));
        if (op_done(st)) {
            if (ctx->err_tty)
                fputc('\n', ctx->err);
            print_operation(ctx, &r);
            rc = cli_exit_for_operation(st);
            cli_resp_cleanup(&r);
            break;
        }
        cli_resp_cleanup(&r);
        if (!cli_pause_ms(500)) {
            rc = stopped_watching(ctx, what, again);
            break;
        }
    }
    free(what);
    free(again);
    free(path);
    return rc;
}

/* ---- commands ---- */

static const struct cli_col vm_cols[] = {{"NAME", "name", false},
                                         {"RESOURCE GROUP", "resourceGroup", false},
                                         {"SUBSCRIPTION", "subscriptionId", false},
                                         {"LOCATION", "location", true},
                                         {"COMPUTER", "computerName", true},
                                         {"OS", "osName", false},
                                         {"SUPPORTED", "supported", false},
                                         {"POWER", "powerState", false},
                                         {"LOGIN", "loginState", false},
                                         {"EXTENSION", "loginExtension.status", true},
                                         {"CHANGED", "changedAt", true},
                                         {NULL, NULL, false}};
static const struct cli_col vm_detail_cols[] = {{"Id", "id", false},
                                                {"Name", "name", false},
                                                {"Resource group", "resourceGroup", false},
                                                {"Subscription", "subscriptionId", false},
                                                {"Location", "location", false},
                                                {"Computer name", "computerName", false},
                                                {"OS", "osName", false},
                                                {"OS support", "osSupport", false},
                                                {"Power", "powerState", false},
                                                {"Login state", "loginState", false},
                                                {"Login extension", "loginExtension.status", false},
                                                {"First seen", "firstSeenAt", false},
                                                {"Changed", "changedAt", false},
                                                {NULL, NULL, false}};

static void add_query(char **path, const char *name, const char *val)
{
    char *e, *n;
    if (val == NULL)
        return;
    e = escape(val);
    n = xasprintf("%s%c%s=%s", *path, strchr(*path, '?') ? '&' : '?', name, e);
    free(e);
    free(*path);
    *path = n;
}

static int cmd_vm_list(struct cli_ctx *ctx, const struct cli_args *a)
{
    char *path = xstrdup("/v1/virtualMachines");
    int rc;

    if (cli_opt(a, "--resource-group") && !cli_opt(a, "--subscription"))
        USAGE_ERR(ctx, "--resource-group needs --subscription");
    add_query(&path, "subscription", cli_opt(a, "--subscription"));
    add_query(&path, "resourceGroup", cli_opt(a, "--resource-group"));
    add_query(&path, "loginState", cli_opt(a, "--login-state"));
    if (cli_opt(a, "--supported"))
        add_query(&path, "supported", "true");
    rc = list_and_print(ctx, path, vm_cols);
    free(path);
    return rc;
}

static int cmd_vm_show(struct cli_ctx *ctx, const struct cli_args *a)
{
    struct cli_scope sc;
    char path[512];
    struct cli_resp r;
    int rc = resolve_vm(ctx, a->pos[0], &sc);

    if (rc != CLI_OK)
        return rc;
    cli_scope_api(&sc, path, sizeof(path));
    if ((rc = get(ctx, path, &r)) != CLI_OK)
        return rc;
    print_obj(ctx, &r, vm_detail_cols);
    cli_resp_cleanup(&r);
    return CLI_OK;
}

/* Prints an accepted operation, or follows it with --wait. */
static int operation_answer(struct cli_ctx *ctx, const struct cli_args *a, struct cli_resp *r)
{
    int rc = CLI_OK;
    if (cli_opt(a, "--wait") && jstr(r->json, "id")[0]) {
        char *id = xstrdup(jstr(r->json, "id"));
        cli_resp_cleanup(r);
        rc = watch_operation(ctx, id);
        free(id);
        return rc;
    }
    print_operation(ctx, r);
    cli_resp_cleanup(r);
    return rc;
}

/* method on the API path of scope sc plus suffix ("/entraLogin"); on a non-2xx answer prints
 * it, frees r and returns its exit code. */
static int scope_request(struct cli_ctx *ctx, const struct cli_scope *sc, const char *suffix,
                         const char *method, const char *body, struct cli_resp *r)
{
    char api[512], path[640];

    cli_scope_api(sc, api, sizeof(api));
    snprintf(path, sizeof(path), "%s%s", api, suffix);
    if (cli_request(ctx, method, path, body, r) / 100 != 2) {
        int rc = cli_report_error(ctx, r);
        cli_resp_cleanup(r);
        return rc;
    }
    return CLI_OK;
}

static int cmd_login_enable(struct cli_ctx *ctx, const struct cli_args *a)
{
    struct cli_scope sc;
    struct cli_resp r;
    json_t *body = json_object();
    const char *mode = cli_opt(a, "--mode");
    char *text;
    int rc;

    if (mode != NULL && strcmp(mode, "enforce") != 0 && strcmp(mode, "audit") != 0) {
        json_decref(body);
        USAGE_ERR(ctx, "--mode is enforce or audit");
    }
    if (mode != NULL)
        json_object_set_new(body, "mode", json_string(mode));
    for (int i = 0; i < a->nopt; i++) {
        if (strcmp(a->names[i], "--exclude-tag") != 0)
            continue;
        const char *eq = strchr(a->vals[i], '=');
        if (eq == NULL || eq == a->vals[i]) {
            json_decref(body);
            USAGE_ERR(ctx, "--exclude-tag takes KEY=VALUE");
        }
        json_t *tags = json_object_get(body, "excludeTags");
        if (tags == NULL) {
            tags = json_object();
            json_object_set_new(body, "excludeTags", tags);
        }
        char *k = xstrndup(a->vals[i], (size_t)(eq - a->vals[i]));
        json_object_set_new(tags, k, json_string(eq + 1));
        free(k);
    }
    if ((rc = resolve_scope(ctx, a->pos[0], &sc)) != CLI_OK) {
        json_decref(body);
        return rc;
    }
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    rc = scope_request(ctx, &sc, "/entraLogin", "PUT", text, &r);
    free(text);
    if (rc != CLI_OK)
        return rc;
    return operation_answer(ctx, a, &r);
}

static int cmd_login_disable(struct cli_ctx *ctx, const struct cli_args *a)
{
    struct cli_scope sc;
    struct cli_resp r;
    int rc;

    if ((rc = resolve_scope(ctx, a->pos[0], &sc)) != CLI_OK)
        return rc;
    if ((rc = scope_request(ctx, &sc, "/entraLogin", "DELETE", NULL, &r)) != CLI_OK)
        return rc;
    return operation_answer(ctx, a, &r);
}

static const struct cli_col login_cols[] = {{"Scope", "scope", false},
                                            {"Kind", "scopeKind", false},
                                            {"Desired mode", "desired.mode", false},
                                            {"Effective scope", "effective.scope", false},
                                            {"Effective mode", "effective.mode", false},
                                            {"VMs", "observed.total", false},
                                            {NULL, NULL, false}};

static int cmd_login_status(struct cli_ctx *ctx, const struct cli_args *a)
{
    struct cli_scope sc;
    char api[512], path[600];
    struct cli_resp r;
    int rc;

    if ((rc = resolve_scope(ctx, a->pos[0], &sc)) != CLI_OK)
        return rc;
    cli_scope_api(&sc, api, sizeof(api));
    snprintf(path, sizeof(path), "%s/entraLogin", api);
    if ((rc = get(ctx, path, &r)) != CLI_OK)
        return rc;
    print_obj(ctx, &r, login_cols);
    if (cli_fmt_is_table(ctx->fmt)) {
        const json_t *counts = json_object_get(json_object_get(r.json, "observed"), "counts");
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)counts, k, v)
        {
            fprintf(ctx->out, "  %-12s %lld\n", k, (long long)json_integer_value(v));
        }
    }
    cli_resp_cleanup(&r);
    return CLI_OK;
}

static const struct cli_col preflight_cols[] = {{"Result", "result", false},
                                                {"VM", "virtualMachine", false},
                                                {"Source", "source", false},
                                                {"Checked", "checkedAt", false},
                                                {"Observed", "observedAt", false},
                                                {"Refresh", "refresh", false},
                                                {NULL, NULL, false}};
static const struct cli_col check_cols[] = {{"CHECK", "name", false},
                                            {"RESULT", "result", false},
                                            {"REASON", "reason", false},
                                            {"FIX", "fix", false},
                                            {NULL, NULL, false}};

/* POST .../entraLogin/preflight: the checks of a VM; exit 1 when the result is fail. */
static int cmd_login_preflight(struct cli_ctx *ctx, const struct cli_args *a)
{
    struct cli_scope sc;
    struct cli_resp r;
    int rc;

    if ((rc = resolve_vm(ctx, a->pos[0], &sc)) != CLI_OK)
        return rc;
    if ((rc = scope_request(ctx, &sc, "/entraLogin/preflight", "POST", NULL, &r)) != CLI_OK)
        return rc;
    print_obj(ctx, &r, preflight_cols);
    if (!whole_body(ctx)) {
        if (cli_fmt_is_table(ctx->fmt))
            fputc('\n', ctx->out);
        cli_print_rows(ctx->out, json_object_get(r.json, "checks"), check_cols, ctx->fmt,
                       time(NULL));
    }
    rc = strcmp(jstr(r.json, "result"), "fail") == 0 ? CLI_FAILED : CLI_OK;
    cli_resp_cleanup(&r);
    return rc;
}

static const struct cli_col signin_cols[] = {
    {"Verdict", "verdict", false},           {"VM", "vm.name", false},
    {"Principal", "principal.asked", false}, {"Directory", "directory.state", false},
    {"On the VM", "onVm.state", false},      {NULL, NULL, false}};
static const struct cli_col signin_check_cols[] = {
    {"CHECK", "id", false}, {"STATUS", "status", false},        {"REASON", "reason", false},
    {"FIX", "fix", false},  {"PERMISSION", "permission", true}, {NULL, NULL, false}};

/* GET .../signIn?principal=: "why can't she sign in?". The first question schedules a read of
 * her directory facts; --wait asks again until they are in (60 s at most). Exit 0 only when
 * the verdict is canSignIn, 1 for cannotSignIn or unknown. */
static int cmd_signin(struct cli_ctx *ctx, const struct cli_args *a)
{
    const char *who = cli_opt(a, "--principal");
    struct cli_scope sc;
    char api[512];
    char *path;
    struct cli_resp r;
    int rc;

    if (who == NULL || who[0] == '\0')
        USAGE_ERR(ctx, "signin needs --principal UPN|OBJECTID");
    if ((rc = resolve_vm(ctx, a->pos[0], &sc)) != CLI_OK)
        return rc;
    cli_scope_api(&sc, api, sizeof(api));
    path = xasprintf("%s/signIn", api);
    add_query(&path, "principal", who);
    rc = get(ctx, path, &r);
    for (int i = 0; rc == CLI_OK && cli_opt(a, "--wait") != NULL && i < 120 &&
                    strcmp(jstr(json_object_get(r.json, "directory"), "state"), "pending") == 0;
         i++) {
        cli_resp_cleanup(&r);
        rc = cli_pause_ms(500) ? get(ctx, path, &r) : CLI_INTERRUPTED;
    }
    free(path);
    if (rc != CLI_OK)
        return rc;
    print_obj(ctx, &r, signin_cols);
    if (!whole_body(ctx)) {
        if (cli_fmt_is_table(ctx->fmt))
            fputc('\n', ctx->out);
        cli_print_rows(ctx->out, json_object_get(r.json, "checks"), signin_check_cols, ctx->fmt,
                       time(NULL));
    }
    rc = strcmp(jstr(r.json, "verdict"), "canSignIn") == 0 ? CLI_OK : CLI_FAILED;
    cli_resp_cleanup(&r);
    return rc;
}

static const struct cli_col grant_cols[] = {{"ID", "id", false},
                                            {"SCOPE", "scope", false},
                                            {"ROLE", "role", false},
                                            {"PRINCIPAL", "principal.upn", false},
                                            {"OBJECT ID", "principal.objectId", false},
                                            {"STATE", "state", false},
                                            {"EXPIRES", "expiresAt", false},
                                            {"CREATED BY", "createdBy", true},
                                            {"CREATED", "createdAt", true},
                                            {"JUSTIFICATION", "justification", true},
                                            {NULL, NULL, false}};
static const struct cli_col grant_detail_cols[] = {{"Id", "id", false},
                                                   {"Scope", "scope", false},
                                                   {"Role", "role", false},
                                                   {"Principal", "principal.upn", false},
                                                   {"Object id", "principal.objectId", false},
                                                   {"State", "state", false},
                                                   {"Error", "error.code", false},
                                                   {"Expires", "expiresAt", false},
                                                   {"Justification", "justification", false},
                                                   {"Created by", "createdBy", false},
                                                   {"Created", "createdAt", false},
                                                   {"Updated", "updatedAt", false},
                                                   {NULL, NULL, false}};

/* "--for D" or "--until T" into body's expiresAt; false (after a message) when both/bad. */
static bool expiry(struct cli_ctx *ctx, const struct cli_args *a, json_t *body)
{
    const char *dur = cli_opt(a, "--for"), *until = cli_opt(a, "--until");
    long long s;

    if (dur != NULL && until != NULL) {
        fprintf(ctx->err, "vmloginctl: give --for or --until, not both\n");
        return false;
    }
    if (dur != NULL) {
        char t[32];
        struct tm tm;
        time_t at;
        if (!cli_duration_parse(dur, &s)) {
            fprintf(ctx->err, "vmloginctl: --for takes a duration like 30m, 8h or 2d\n");
            return false;
        }
        at = time(NULL) + (time_t)s;
        gmtime_r(&at, &tm);
        strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_set_new(body, "expiresAt", json_string(t));
    } else if (until != NULL) {
        json_object_set_new(body, "expiresAt", json_string(until));
    }
    return true;
}

/* Follows grant id until it is no longer pending/revoking; exit 0 when it ends in want. */
static int watch_grant(struct cli_ctx *ctx, const char *id, const char *want)
{
    char *e = escape(id);
    char *path = xasprintf("/v1/loginGrants/%s", e);
    struct cli_resp r;
    int rc;

    free(e);
    cli_catch_sigint();
    for (;;) {
        if ((rc = get(ctx, path, &r)) != CLI_OK)
            break;
        const char *st = jstr(r.json, "state");
        if (strcmp(st, "pending") != 0 && strcmp(st, "revoking") != 0) {
            print_obj(ctx, &r, grant_detail_cols);
            rc = strcmp(st, want) == 0 ? CLI_OK : CLI_FAILED;
            cli_resp_cleanup(&r);
            break;
        }
        cli_resp_cleanup(&r);
        if (!cli_pause_ms(500)) {
            char *again = xasprintf("vmloginctl grant show %s", id);
            rc = stopped_watching(ctx, "the grant's change", again);
            free(again);
            break;
        }
    }
    free(path);
    return rc;
}

static int grant_answer(struct cli_ctx *ctx, const struct cli_args *a, struct cli_resp *r,
                        const char *want)
{
    if (cli_opt(a, "--wait")) {
        char *id = xstrdup(jstr(r->json, "id"));
        int rc;
        cli_resp_cleanup(r);
        rc = watch_grant(ctx, id, want);
        free(id);
        return rc;
    }
    print_obj(ctx, r, grant_detail_cols);
    cli_resp_cleanup(r);
    return CLI_OK;
}

static int cmd_grant_create(struct cli_ctx *ctx, const struct cli_args *a)
{
    const char *scope = cli_opt(a, "--scope"), *role = cli_opt(a, "--role");
    const char *who = cli_opt(a, "--principal");
    struct cli_scope sc;
    char arm[512];
    struct cli_resp r;
    json_t *body;
    char *text;
    int rc;

    if (scope == NULL || role == NULL || who == NULL)
        USAGE_ERR(ctx, "grant create needs --scope, --role and --principal");
    if (strcmp(role, "administrator") != 0 && strcmp(role, "user") != 0)
        USAGE_ERR(ctx, "--role is administrator or user");
    body = json_pack("{s:s, s:{s:s}}", "role", role, "principal",
                     looks_like_guid(who) ? "objectId" : "upn", who);
    if (cli_opt(a, "--justification"))
        json_object_set_new(body, "justification", json_string(cli_opt(a, "--justification")));
    if (!expiry(ctx, a, body)) {
        json_decref(body);
        return CLI_USAGE;
    }
    if ((rc = resolve_scope(ctx, scope, &sc)) != CLI_OK) {
        json_decref(body);
        return rc;
    }
    cli_scope_arm(&sc, arm, sizeof(arm));
    json_object_set_new(body, "scope", json_string(arm));
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    cli_request(ctx, "POST", "/v1/loginGrants", text, &r);
    free(text);
    if (r.status / 100 != 2) {
        rc = cli_report_error(ctx, &r);
        cli_resp_cleanup(&r);
        return rc;
    }
    return grant_answer(ctx, a, &r, "active");
}

static int cmd_grant_list(struct cli_ctx *ctx, const struct cli_args *a)
{
    char *path = xstrdup("/v1/loginGrants");
    int rc;

    if (cli_opt(a, "--scope") != NULL) {
        struct cli_scope sc;
        char arm[512];
        if ((rc = resolve_scope(ctx, cli_opt(a, "--scope"), &sc)) != CLI_OK) {
            free(path);
            return rc;
        }
        cli_scope_arm(&sc, arm, sizeof(arm));
        add_query(&path, "scope", arm);
    }
    add_query(&path, "principal", cli_opt(a, "--principal"));
    add_query(&path, "state", cli_opt(a, "--state"));
    rc = list_and_print(ctx, path, grant_cols);
    free(path);
    return rc;
}

static int grant_call(struct cli_ctx *ctx, const struct cli_args *a, const char *method,
                      const char *body, struct cli_resp *r)
{
    char *e = escape(a->pos[0]);
    char *path = xasprintf("/v1/loginGrants/%s", e);
    int rc = CLI_OK;

    free(e);
    if (cli_request(ctx, method, path, body, r) / 100 != 2) {
        rc = cli_report_error(ctx, r);
        cli_resp_cleanup(r);
    }
    free(path);
    return rc;
}

static int cmd_grant_show(struct cli_ctx *ctx, const struct cli_args *a)
{
    struct cli_resp r;
    int rc = grant_call(ctx, a, "GET", NULL, &r);
    if (rc != CLI_OK)
        return rc;
    print_obj(ctx, &r, grant_detail_cols);
    cli_resp_cleanup(&r);
    return CLI_OK;
}

static int cmd_grant_revoke(struct cli_ctx *ctx, const struct cli_args *a)
{
    struct cli_resp r;
    int rc = grant_call(ctx, a, "DELETE", NULL, &r);
    if (rc != CLI_OK)
        return rc;
    return grant_answer(ctx, a, &r, "revoked");
}

static int cmd_grant_extend(struct cli_ctx *ctx, const struct cli_args *a)
{
    json_t *body = json_object();
    struct cli_resp r;
    char *text;
    int rc;

    if (!expiry(ctx, a, body) || json_object_get(body, "expiresAt") == NULL) {
        json_decref(body);
        USAGE_ERR(ctx, "grant extend needs --for or --until");
    }
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    rc = grant_call(ctx, a, "PATCH", text, &r);
    free(text);
    if (rc != CLI_OK)
        return rc;
    print_obj(ctx, &r, grant_detail_cols);
    cli_resp_cleanup(&r);
    return CLI_OK;
}

/* ---- just-in-time login: activate, approve, deny, activations ---------------------------- */

static const struct cli_col activation_cols[] = {{"ID", "id", false},
                                                 {"SCOPE", "scope", false},
                                                 {"ROLE", "role", false},
                                                 {"PRINCIPAL", "principal.objectId", false},
                                                 {"STATE", "state", false},
                                                 {"DURATION", "duration", false},
                                                 {"EXPIRES", "expiresAt", false},
                                                 {"JUSTIFICATION", "justification", true},
                                                 {"TICKET", "ticket", true},
                                                 {"REQUESTED BY", "requestedBy", true},
                                                 {"GRANT", "grantId", true},
                                                 {NULL, NULL, false}};
static const struct cli_col activation_detail_cols[] = {{"Id", "id", false},
                                                        {"Scope", "scope", false},
                                                        {"Role", "role", false},
                                                        {"Principal", "principal.objectId", false},
                                                        {"State", "state", false},
                                                        {"Duration", "duration", false},
                                                        {"Expires", "expiresAt", false},
                                                        {"Pending until", "pendingUntil", false},
                                                        {"Justification", "justification", false},
                                                        {"Ticket", "ticket", false},
                                                        {"Requested by", "requestedBy", false},
                                                        {"Decided by", "decidedBy", false},
                                                        {"Reason", "reason", false},
                                                        {"Grant", "grantId", false},
                                                        {NULL, NULL, false}};

/* POST path with body; prints the activation. */
static int activation_post(struct cli_ctx *ctx, const char *path, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    struct cli_resp r;
    int rc = CLI_OK;

    json_decref(body);
    if (cli_request(ctx, "POST", path, text, &r) / 100 != 2)
        rc = cli_report_error(ctx, &r);
    else
        print_obj(ctx, &r, activation_detail_cols);
    cli_resp_cleanup(&r);
    free(text);
    return rc;
}

/* "8h", "90m", "1d" (the CLI's durations) or an ISO 8601 duration as given ("PT8H"). */
static bool iso_duration(const char *d, char *out, size_t cap)
{
    long long s;

    if (d[0] == 'P') {
        snprintf(out, cap, "%s", d);
        return true;
    }
    if (!cli_duration_parse(d, &s) || s <= 0)
        return false;
    snprintf(out, cap, "PT%lldS", s);
    return true;
}

static int cmd_activate(struct cli_ctx *ctx, const struct cli_args *a)
{
    const char *role = cli_opt(a, "--role"), *dur = cli_opt(a, "--duration");
    struct cli_scope sc;
    char arm[512], iso[64];
    json_t *body;
    int rc;

    if (role == NULL || dur == NULL)
        USAGE_ERR(ctx, "activate needs --role and --duration");
    if (strcmp(role, "administrator") != 0 && strcmp(role, "user") != 0)
        USAGE_ERR(ctx, "--role is administrator or user");
    if (!iso_duration(dur, iso, sizeof(iso)))
        USAGE_ERR(ctx, "--duration is like 8h, 90m, 1d or PT8H");
    if ((rc = resolve_scope(ctx, a->pos[0], &sc)) != CLI_OK)
        return rc;
    cli_scope_arm(&sc, arm, sizeof(arm));
    body = json_pack("{s:s, s:s, s:s}", "scope", arm, "role", role, "duration", iso);
    if (cli_opt(a, "--justification"))
        json_object_set_new(body, "justification", json_string(cli_opt(a, "--justification")));
    if (cli_opt(a, "--ticket"))
        json_object_set_new(body, "ticket", json_string(cli_opt(a, "--ticket")));
    if (cli_opt(a, "--principal"))
        json_object_set_new(body, "principal",
                            json_pack("{s:s}", "objectId", cli_opt(a, "--principal")));
    return activation_post(ctx, "/v1/activations", body);
}

/* POST /v1/activations/{id}/verb with {reason?}. */
static int decide(struct cli_ctx *ctx, const struct cli_args *a, const char *verb)
{
    char *e = escape(a->pos[0]);
    char *path = xasprintf("/v1/activations/%s/%s", e, verb);
    json_t *body = json_object();
    int rc;

    if (cli_opt(a, "--reason"))
        json_object_set_new(body, "reason", json_string(cli_opt(a, "--reason")));
    rc = activation_post(ctx, path, body);
    free(path);
    free(e);
    return rc;
}

static int cmd_approve(struct cli_ctx *ctx, const struct cli_args *a)
{
    return decide(ctx, a, "approve");
}

static int cmd_deny(struct cli_ctx *ctx, const struct cli_args *a)
{
    if (cli_opt(a, "--reason") == NULL || cli_opt(a, "--reason")[0] == '\0')
        USAGE_ERR(ctx, "deny needs --reason");
    return decide(ctx, a, "deny");
}

static int cmd_activations(struct cli_ctx *ctx, const struct cli_args *a)
{
    return list_and_print(
        ctx, cli_opt(a, "--pending") ? "/v1/activations?state=pendingApproval" : "/v1/activations",
        activation_cols);
}

/* GET .../rdp?upn=: an .rdp file for Entra sign-in, on stdout or in -f FILE. */
static int cmd_rdp(struct cli_ctx *ctx, const struct cli_args *a)
{
    const char *upn = cli_opt(a, "--upn"), *file = cli_opt(a, "--file");
    struct cli_scope sc;
    char api[512];
    char *path;
    struct cli_resp r;
    int rc;

    if (upn == NULL || upn[0] == '\0')
        USAGE_ERR(ctx, "rdp needs --upn UPN (the user who signs in)");
    if (file != NULL && file[0] == '\0')
        USAGE_ERR(ctx, "-f needs a file name");
    if ((rc = resolve_vm(ctx, a->pos[0], &sc)) != CLI_OK)
        return rc;
    cli_scope_api(&sc, api, sizeof(api));
    path = xasprintf("%s/rdp", api);
    add_query(&path, "upn", upn);
    if (cli_opt(a, "--azuread"))
        add_query(&path, "form", "azuread");
    rc = get(ctx, path, &r);
    free(path);
    if (rc != CLI_OK)
        return rc;
    if (file == NULL || strcmp(file, "-") == 0) {
        fputs(r.body, ctx->out);
    } else {
        FILE *f = fopen(file, "wb");
        if (f == NULL || fputs(r.body, f) == EOF || fclose(f) != 0) {
            fprintf(ctx->err, "vmloginctl: cannot write %s: %s\n", file, strerror(errno));
            rc = CLI_FAILED;
        } else if (cli_fmt_is_table(ctx->fmt)) {
            fprintf(ctx->err, "wrote %s\n", file);
        }
    }
    cli_resp_cleanup(&r);
    return rc;
}

static const struct cli_col access_cols[] = {{"PRINCIPAL", "principal.displayName", false},
                                             {"UPN", "principal.upn", false},
                                             {"TYPE", "principal.type", false},
                                             {"ROLE", "role", false},
                                             {"VIA", "via", false},
                                             {"SCOPE", "scope", false},
                                             {"SOURCE", "source", false},
                                             {"EXPIRES", "expiresAt", false},
                                             {"BLOCKED", "signInBlocked", false},
                                             {"OBJECT ID", "principal.objectId", true},
                                             {NULL, NULL, false}};
static const struct cli_col principal_access_cols[] = {
    {"VM", "vm.id", false},    {"ROLE", "role", false},     {"VIA", "via", false},
    {"SCOPE", "scope", false}, {"SOURCE", "source", false}, {"EXPIRES", "expiresAt", false},
    {NULL, NULL, false}};

static int cmd_access(struct cli_ctx *ctx, const struct cli_args *a)
{
    const char *who = cli_opt(a, "--principal");
    struct cli_scope sc;
    char api[512], path[600];
    struct cli_resp r;
    int rc;

    if ((who == NULL) == (a->npos == 0))
        USAGE_ERR(ctx, "access takes a VM or --principal UPN|OBJECTID");
    if (who != NULL) {
        char *e = escape(who);
        char *p = xasprintf("/v1/principals/%s/access?limit=1000", e);
        free(e);
        rc = list_and_print(ctx, p, principal_access_cols);
        free(p);
        return rc;
    }
    if ((rc = resolve_vm(ctx, a->pos[0], &sc)) != CLI_OK)
        return rc;
    cli_scope_api(&sc, api, sizeof(api));
    snprintf(path, sizeof(path), "%s/access", api);
    if ((rc = get(ctx, path, &r)) != CLI_OK)
        return rc;
    if (whole_body(ctx))
        print_json_body(ctx, r.body);
    else
        cli_print_rows(ctx->out, json_object_get(r.json, "value"), access_cols, ctx->fmt,
                       time(NULL));
    cli_resp_cleanup(&r);
    return CLI_OK;
}

static int cmd_operation_show(struct cli_ctx *ctx, const struct cli_args *a)
{
    char *e = escape(a->pos[0]);
    char *path = xasprintf("/v1/operations/%s", e);
    struct cli_resp r;
    int rc;

    free(e);
    rc = get(ctx, path, &r);
    free(path);
    if (rc != CLI_OK)
        return rc;
    print_operation(ctx, &r);
    cli_resp_cleanup(&r);
    return CLI_OK;
}

static int cmd_operation_watch(struct cli_ctx *ctx, const struct cli_args *a)
{
    return watch_operation(ctx, a->pos[0]);
}

static const struct cli_col sync_cols[] = {{"State", "state", false},
                                           {"Last started", "last.startedAt", false},
                                           {"Last finished", "last.finishedAt", false},
                                           {"Last state", "last.state", false},
                                           {"Next run", "nextRunAt", false},
                                           {NULL, NULL, false}};

static int cmd_sync(struct cli_ctx *ctx, const struct cli_args *a)
{
    struct cli_resp r;
    int rc;

    if (cli_request(ctx, "POST", "/v1/sync", NULL, &r) / 100 != 2) {
        rc = cli_report_error(ctx, &r);
        cli_resp_cleanup(&r);
        return rc;
    }
    if (!cli_opt(a, "--wait")) {
        print_obj(ctx, &r, sync_cols);
        cli_resp_cleanup(&r);
        return CLI_OK;
    }
    /* done once a run newer than the last one finished at the request has finished */
    json_int_t before = json_integer_value(json_object_get(json_object_get(r.json, "last"), "id"));
    cli_resp_cleanup(&r);
    cli_catch_sigint();
    for (;;) {
        if ((rc = get(ctx, "/v1/sync", &r)) != CLI_OK)
            break;
        const json_t *last = json_object_get(r.json, "last");
        if (strcmp(jstr(r.json, "state"), "idle") == 0 && json_is_object(last) &&
            json_integer_value(json_object_get(last, "id")) > before) {
            const char *st = jstr(last, "state");
            print_obj(ctx, &r, sync_cols);
            rc = strcmp(st, "succeeded") == 0 ? CLI_OK
                 : strcmp(st, "partial") == 0 ? CLI_PARTIAL
                                              : CLI_FAILED;
            cli_resp_cleanup(&r);
            break;
        }
        cli_resp_cleanup(&r);
        if (!cli_pause_ms(300))
            return stopped_watching(ctx, "the sync", "vmloginctl sync --wait");
    }
    return rc;
}

static const struct cli_col compliance_cols[] = {
    {"SUBSCRIPTION", "subscriptionId", false}, {"TOTAL", "total", false},
    {"ENABLED", "counts.enabled", false},      {"PENDING", "counts.pending", false},
    {"FAILED", "counts.failed", false},        {"UNSUPPORTED", "counts.unsupported", false},
    {"EXCLUDED", "counts.excluded", false},    {"NOT COVERED", "counts.notCovered", false},
    {"DRIFTED", "counts.drifted", false},      {NULL, NULL, false}};

static int cmd_compliance(struct cli_ctx *ctx, const struct cli_args *a)
{
    char *path = xstrdup("/v1/compliance");
    struct cli_resp r;
    int rc;

    add_query(&path, "subscription", cli_opt(a, "--subscription"));
    rc = get(ctx, path, &r);
    free(path);
    if (rc != CLI_OK)
        return rc;
    if (whole_body(ctx)) {
        print_json_body(ctx, r.body);
    } else {
        json_t *rows = json_deep_copy(json_object_get(r.json, "subscriptions"));
        json_t *total = json_deep_copy(json_object_get(r.json, "total"));
        if (!json_is_array(rows)) {
            json_decref(rows);
            rows = json_array();
        }
        if (json_is_object(total)) {
            json_object_set_new(total, "subscriptionId", json_string("(all)"));
            json_array_append_new(rows, total);
        } else {
            json_decref(total);
        }
        cli_print_rows(ctx->out, rows, compliance_cols, ctx->fmt, time(NULL));
        json_decref(rows);
    }
    cli_resp_cleanup(&r);
    return CLI_OK;
}

static const struct cli_col audit_cols[] = {{"SEQ", "seq", false},
                                            {"AT", "at", false},
                                            {"ACTOR", "actor", false},
                                            {"ACTION", "action", false},
                                            {"TARGET", "target", false},
                                            {"OUTCOME", "outcome", false},
                                            {"CODE", "details.code", true},
                                            {"REQUEST ID", "requestId", true},
                                            {NULL, NULL, false}};

/* One followed audit row: a JSON line, a YAML document, or a table/TSV line (no header). */
static void print_audit_row(struct cli_ctx *ctx, json_t *row)
{
    if (ctx->fmt == CLI_FMT_JSON) {
        char *s = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fprintf(ctx->out, "%s\n", s);
        free(s);
    } else if (ctx->fmt == CLI_FMT_YAML) {
        fputs("---\n", ctx->out);
        cli_print_yaml(ctx->out, row);
    } else {
        json_t *one = json_pack("[O]", row);
        cli_print_rows(ctx->out, one, audit_cols, CLI_FMT_TSV, time(NULL));
        json_decref(one);
    }
}

/* Polls GET /v1/audit?after=CURSOR, printing each new row, until Ctrl-C (exit 0). */
static int audit_follow(struct cli_ctx *ctx, json_int_t after)
{
    struct cli_resp r;
    size_t i;
    json_t *row;

    cli_catch_sigint();
    for (;;) {
        char *path = xasprintf("/v1/audit?limit=1000&after=%lld", (long long)after);
        int rc = get(ctx, path, &r);
        free(path);
        if (cli_interrupted)
            return CLI_OK;
        if (rc != CLI_OK)
            return rc;
        json_array_foreach(json_object_get(r.json, "value"), i, row)
        {
            print_audit_row(ctx, row);
            after = json_integer_value(json_object_get(row, "seq"));
        }
        fflush(ctx->out);
        bool more = json_object_get(r.json, "nextLink") != NULL;
        cli_resp_cleanup(&r);
        if (!more && !cli_pause_ms(1000))
            return CLI_OK;
    }
}

static int cmd_audit(struct cli_ctx *ctx, const struct cli_args *a)
{
    const char *after = cli_opt(a, "--after"), *limit = cli_opt(a, "--limit");
    long long n = 0, lim = 0;
    char *path;
    int rc;

    if (after != NULL && (sscanf(after, "%lld", &n) != 1 || n < 0))
        USAGE_ERR(ctx, "--after takes a sequence number (0 or more)");
    if (limit != NULL && (sscanf(limit, "%lld", &lim) != 1 || lim < 1 || lim > 1000))
        USAGE_ERR(ctx, "--limit takes 1 to 1000");
    if (cli_opt(a, "--follow"))
        return audit_follow(ctx, (json_int_t)n);
    path = xasprintf("/v1/audit?after=%lld", n);
    if (limit != NULL) {
        struct cli_resp r;
        char *p = xasprintf("%s&limit=%lld", path, lim);
        rc = get(ctx, p, &r);
        free(p);
        if (rc == CLI_OK) {
            if (whole_body(ctx))
                print_json_body(ctx, r.body);
            else
                cli_print_rows(ctx->out, json_object_get(r.json, "value"), audit_cols, ctx->fmt,
                               time(NULL));
            cli_resp_cleanup(&r);
        }
    } else {
        rc = list_and_print(ctx, path, audit_cols);
    }
    free(path);
    return rc;
}

static int cmd_version(struct cli_ctx *ctx, const struct cli_args *a)
{
    (void)a;
    fprintf(ctx->out, "vmloginctl %s\n", VMLOGIND_VERSION);
    return CLI_OK;
}

static const struct cli_opt_spec no_opts[] = {{NULL, false}};
static const struct cli_opt_spec vm_list_opts[] = {{"--subscription", true},
                                                   {"--resource-group", true},
                                                   {"--login-state", true},
                                                   {"--supported", false},
                                                   {NULL, false}};
static const struct cli_opt_spec enable_opts[] = {
    {"--mode", true}, {"--exclude-tag", true}, {"--wait", false}, {NULL, false}};
static const struct cli_opt_spec wait_opts[] = {{"--wait", false}, {NULL, false}};
static const struct cli_opt_spec create_opts[] = {
    {"--scope", true}, {"--role", true},          {"--principal", true}, {"--for", true},
    {"--until", true}, {"--justification", true}, {"--wait", false},     {NULL, false}};
static const struct cli_opt_spec glist_opts[] = {
    {"--scope", true}, {"--principal", true}, {"--state", true}, {NULL, false}};
static const struct cli_opt_spec extend_opts[] = {
    {"--for", true}, {"--until", true}, {NULL, false}};
static const struct cli_opt_spec access_opts[] = {{"--principal", true}, {NULL, false}};
static const struct cli_opt_spec why_opts[] = {
    {"--principal", true}, {"--wait", false}, {NULL, false}};
static const struct cli_opt_spec rdp_opts[] = {
    {"--upn", true}, {"-f|--file", true}, {"--azuread", false}, {NULL, false}};
static const struct cli_opt_spec compliance_opts[] = {{"--subscription", true}, {NULL, false}};
static const struct cli_opt_spec audit_opts[] = {
    {"--after", true}, {"--limit", true}, {"--follow", false}, {NULL, false}};
static const struct cli_opt_spec activate_opts[] = {{"--role", true},          {"--duration", true},
                                                    {"--justification", true}, {"--ticket", true},
                                                    {"--principal", true},     {NULL, false}};
static const struct cli_opt_spec reason_opts[] = {{"--reason", true}, {NULL, false}};
static const struct cli_opt_spec activations_opts[] = {{"--pending", false}, {NULL, false}};
static const struct cli_opt_spec signin_opts[] = {
    {"--api-key", false}, {"--key-file", true}, {"--entra", false}, {NULL, false}};

const struct cmd cli_commands[] = {
    {"version", NULL, cmd_version, no_opts, 0, 0, "vmloginctl version", "vmloginctl version"},
    {"vm", "list", cmd_vm_list, vm_list_opts, 0, 0,
     "vmloginctl vm list [--subscription S [--resource-group RG]] [--login-state STATE] "
     "[--supported]",
     "vmloginctl vm list --login-state failed -o tsv"},
    {"vm", "show", cmd_vm_show, no_opts, 1, 1, "vmloginctl vm show VM",
     "vmloginctl vm show rg-web/web-01"},
    {"login", "enable", cmd_login_enable, enable_opts, 1, 1,
     "vmloginctl login enable SCOPE [--mode enforce|audit] [--exclude-tag K=V]... [--wait]",
     "vmloginctl login enable rg-web --exclude-tag entra=off --wait"},
    {"login", "disable", cmd_login_disable, wait_opts, 1, 1,
     "vmloginctl login disable SCOPE [--wait]", "vmloginctl login disable rg-web --wait"},
    {"login", "status", cmd_login_status, no_opts, 1, 1, "vmloginctl login status SCOPE",
     "vmloginctl login status rg-web"},
    {"login", "preflight", cmd_login_preflight, no_opts, 1, 1, "vmloginctl login preflight VM",
     "vmloginctl login preflight rg-web/web-01"},
    {"login", NULL, cli_cmd_login, signin_opts, 0, 0,
     "vmloginctl login --api-key [--key-file FILE] | vmloginctl login --entra",
     "vmloginctl login --api-key < ~/.vmlogind-key"},
    {"logout", NULL, cli_cmd_logout, no_opts, 0, 0, "vmloginctl logout",
     "vmloginctl --profile prod logout"},
    {"grant", "create", cmd_grant_create, create_opts, 0, 0,
     "vmloginctl grant create --scope SCOPE --role administrator|user --principal UPN|OBJECTID "
     "[--for 8h | --until T] [--justification TEXT] [--wait]",
     "vmloginctl grant create --scope rg-web/web-01 --role user --principal bob@contoso.com "
     "--for 8h --wait"},
    {"grant", "list", cmd_grant_list, glist_opts, 0, 0,
     "vmloginctl grant list [--scope SCOPE] [--principal P] [--state STATE]",
     "vmloginctl grant list --state active"},
    {"grant", "show", cmd_grant_show, no_opts, 1, 1, "vmloginctl grant show ID",
     "vmloginctl grant show 3f0c...-..."},
    {"grant", "extend", cmd_grant_extend, extend_opts, 1, 1,
     "vmloginctl grant extend ID --for D | --until T", "vmloginctl grant extend 3f0c... --for 4h"},
    {"grant", "revoke", cmd_grant_revoke, wait_opts, 1, 1, "vmloginctl grant revoke ID [--wait]",
     "vmloginctl grant revoke 3f0c... --wait"},
    {"activate", NULL, cmd_activate, activate_opts, 1, 1,
     "vmloginctl activate SCOPE --role administrator|user --duration D [--justification TEXT] "
     "[--ticket T] [--principal OBJECTID]",
     "vmloginctl activate rg-web/web-01 --role administrator --duration 2h --justification "
     "\"INC-4711 disk full\" --ticket INC-4711"},
    {"approve", NULL, cmd_approve, reason_opts, 1, 1, "vmloginctl approve ID [--reason TEXT]",
     "vmloginctl approve 5b2e... --reason \"on call tonight\""},
    {"deny", NULL, cmd_deny, reason_opts, 1, 1, "vmloginctl deny ID --reason TEXT",
     "vmloginctl deny 5b2e... --reason \"use the staging VM\""},
    {"activations", NULL, cmd_activations, activations_opts, 0, 0,
     "vmloginctl activations [--pending]", "vmloginctl activations --pending"},
    {"access", NULL, cmd_access, access_opts, 0, 1,
     "vmloginctl access VM | vmloginctl access --principal UPN|OBJECTID",
     "vmloginctl access web-01"},
    {"signin", NULL, cmd_signin, why_opts, 1, 1,
     "vmloginctl signin VM --principal UPN|OBJECTID [--wait]   (why can't she sign in?)",
     "vmloginctl signin rg-web/web-01 --principal alice@contoso.com --wait"},
    {"rdp", NULL, cmd_rdp, rdp_opts, 1, 1, "vmloginctl rdp VM --upn UPN [-f FILE] [--azuread]",
     "vmloginctl rdp web-01 --upn bob@contoso.com -f web-01.rdp"},
    {"operation", "show", cmd_operation_show, no_opts, 1, 1, "vmloginctl operation show ID",
     "vmloginctl operation show 7d1e..."},
    {"operation", "watch", cmd_operation_watch, no_opts, 1, 1, "vmloginctl operation watch ID",
     "vmloginctl operation watch 7d1e..."},
    {"sync", NULL, cmd_sync, wait_opts, 0, 0, "vmloginctl sync [--wait]", "vmloginctl sync --wait"},
    {"compliance", NULL, cmd_compliance, compliance_opts, 0, 0,
     "vmloginctl compliance [--subscription S]", "vmloginctl compliance -o tsv"},
    {"audit", NULL, cmd_audit, audit_opts, 0, 0,
     "vmloginctl audit [--after SEQ] [--limit N] [--follow]",
     "vmloginctl audit --follow -o json | jq -c 'select(.outcome == \"denied\")'"},
    {"completion", NULL, cli_cmd_completion, no_opts, 1, 1, "vmloginctl completion bash|zsh|fish",
     "source <(vmloginctl completion bash)"},
    {"config", "set", cli_cmd_config_set, no_opts, 1, 2, "vmloginctl config set KEY [VALUE]",
     "vmloginctl --profile prod config set url https://vmlogind.example.com"},
    {"config", "get", cli_cmd_config_get, no_opts, 1, 1, "vmloginctl config get KEY",
     "vmloginctl config get tenant"},
    {"config", "list", cli_cmd_config_list, no_opts, 0, 0, "vmloginctl config list",
     "vmloginctl --profile prod config list"},
    {"config", "use", cli_cmd_config_use, no_opts, 1, 1, "vmloginctl config use PROFILE",
     "vmloginctl config use prod"},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};

/* Commands that need no credential (they run without reading or refreshing one): the local
 * ones, and login itself but not its verbs (login enable ... call the API). */
static bool needs_bearer(const struct cmd *c)
{
    static const char *const local[] = {"version", "completion", "config", "login", "logout"};
    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
        if (strcmp(c->group, local[i]) == 0 && (c->verb == NULL || strcmp(local[i], "login")))
            return false;
    return true;
}

struct ctx_owned {
    char *url, *key, *ca, *profile_url;
};
static struct ctx_owned owned;

/* --url, else VMLOGIND_URL, else the profile's url, else http://127.0.0.1:8080; no trailing
 * slash. */
static void pick_url(struct cli_ctx *ctx, const struct cli_args *a)
{
    const char *url = cli_opt(a, "--url");
    size_t n;

    if (url == NULL || url[0] == '\0')
        url = getenv("VMLOGIND_URL");
    if (url == NULL || url[0] == '\0') {
        owned.profile_url = cli_profile_get(ctx->profile, "url");
        url = owned.profile_url;
    }
    if (url == NULL || url[0] == '\0')
        url = "http://127.0.0.1:8080";
    owned.url = xstrdup(url);
    n = strlen(owned.url);
    while (n > 0 && owned.url[n - 1] == '/')
        owned.url[--n] = '\0';
    ctx->url = owned.url;
}

static int ctx_setup(struct cli_ctx *ctx, const struct cli_args *a, const struct cmd *c)
{
    if (!cli_format_parse(cli_opt(a, "--output"), isatty(STDOUT_FILENO), &ctx->fmt)) {
        fprintf(stderr, "vmloginctl: -o takes table, wide, json, yaml or tsv\n");
        return CLI_USAGE;
    }
    ctx->profile = cli_profile_name(cli_opt(a, "--profile"));
    if (!cli_profile_name_ok(ctx->profile)) {
        fprintf(stderr, "vmloginctl: a profile name is letters, digits, - and _\n");
        return CLI_USAGE;
    }
    pick_url(ctx, a);
    ctx->debug = cli_opt(a, "--debug") != NULL;
    ctx->color = cli_color_wanted(isatty(STDOUT_FILENO));
    cli_output_color(ctx->color && cli_fmt_is_table(ctx->fmt));
    ctx->err_tty = isatty(STDERR_FILENO);
    ctx->err_color = cli_color_wanted(ctx->err_tty);
    owned.ca = cli_profile_get(ctx->profile, "ca-bundle");
    ctx->ca_bundle = owned.ca;
    if (needs_bearer(c)) {
        owned.key = cli_signin_bearer(ctx);
        ctx->key = owned.key;
    }
    return CLI_OK;
}

static void ctx_cleanup(struct cli_ctx *ctx)
{
    if (owned.key != NULL)
        memset(owned.key, 0, strlen(owned.key));
    free(owned.key);
    free(owned.url);
    free(owned.ca);
    free(owned.profile_url);
    memset(&owned, 0, sizeof(owned));
    ctx->key = ctx->url = NULL;
}

/* Global options given before the command ("vmloginctl --profile prod vm list") move after
 * it, where cli_parse reads them; argv is rearranged in place. */
static void globals_last(int argc, char *argv[])
{
    static const char *const with_value[] = {"--profile", "--url", "-o", "--output"};
    char *moved[CLI_MAX_OPTS * 2];
    int n = 0, i = 1;

    while (i < argc && argv[i][0] == '-' && n + 2 <= (int)(sizeof(moved) / sizeof(moved[0]))) {
        bool takes = false, known = strcmp(argv[i], "--debug") == 0;
        for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
            takes = takes || strcmp(argv[i], with_value[k]) == 0;
        known = known || takes || strncmp(argv[i], "--profile=", 10) == 0 ||
                strncmp(argv[i], "--url=", 6) == 0 || strncmp(argv[i], "--output=", 9) == 0;
        if (!known || (takes && i + 1 >= argc))
            break;
        moved[n++] = argv[i++];
        if (takes)
            moved[n++] = argv[i++];
    }
    if (n == 0)
        return;
    memmove(argv + 1, argv + 1 + n, (size_t)(argc - 1 - n) * sizeof(argv[0]));
    memcpy(argv + argc - n, moved, (size_t)n * sizeof(argv[0]));
}

int cli_main(int argc, char *argv[])
{
    struct cli_ctx ctx = {0};
    const struct cmd *c = NULL;
    struct cli_args a;
    char err[256];
    int skip, rc;

    ctx.out = stdout;
    ctx.err = stderr;
    globals_last(argc, argv);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        cli_help_all(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0)
        argv[1] = "version";
    if (strcmp(argv[1], "--man") == 0)
        return cli_help_man(argc > 2 ? argv[2] : NULL);
    if (strcmp(argv[1], "--commands") == 0)
        return cli_help_list();
    for (const struct cmd *k = cli_commands; k->group != NULL; k++) {
        if (strcmp(k->group, argv[1]) != 0)
            continue;
        if (k->verb == NULL || (argc > 2 && strcmp(k->verb, argv[2]) == 0)) {
            c = k;
            break;
        }
    }
    if (c == NULL) {
        bool group = false;
        for (const struct cmd *k = cli_commands; k->group != NULL; k++)
            if (strcmp(k->group, argv[1]) == 0) {
                if (!group)
                    fprintf(stderr, "vmloginctl: %s takes one of:", argv[1]);
                fprintf(stderr, " %s", k->verb);
                group = true;
            }
        if (group)
            fputc('\n', stderr);
        else
            fprintf(stderr, "vmloginctl: unknown command %s (try vmloginctl --help)\n", argv[1]);
        return CLI_USAGE;
    }
    skip = c->verb ? 3 : 2;
    if (!cli_parse(argc - skip, argv + skip, c->opts, &a, err, sizeof(err))) {
        fprintf(stderr, "vmloginctl: %s\n", err);
        cli_help_cmd(stderr, c);
        return CLI_USAGE;
    }
    if (cli_opt(&a, "--help")) {
        cli_help_cmd(stdout, c);
        return CLI_OK;
    }
    if (a.npos < c->min_pos || a.npos > c->max_pos) {
        fprintf(stderr, "vmloginctl: wrong number of arguments\n");
        cli_help_cmd(stderr, c);
        return CLI_USAGE;
    }
    rc = ctx_setup(&ctx, &a, c);
    if (rc == CLI_OK)
        rc = c->run(&ctx, &a);
    ctx_cleanup(&ctx);
    return rc;
}

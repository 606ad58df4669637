/* signin.c: how vmloginctl signs in. login --api-key reads the key from stdin or --key-file
 * (never argv, where ps and shell history would show it); login --entra runs the OAuth 2.0
 * device authorization grant against the profile's tenant
 * (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code) and caches the
 * tokens; cli_signin_bearer hands commands the credential, refreshing an Entra token that
 * expires with its refresh token. Also the config commands that edit profiles. */
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "vmlogind/xalloc.h"

#define DEVICE_CODE_GRANT "urn:ietf:params:oauth:grant-type:device_code"
#define DEFAULT_LOGIN_URL "https://login.microsoftonline.com"
#define DEFAULT_SCOPE "api://vmlogind/.default offline_access"
#define KEY_MAX 4096

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void wipe_free(char *s)
{
    if (s != NULL) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

static char *esc(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *r = xstrdup(e ? e : "");
    curl_free(e);
    return r;
}

/* ---- the credential file ---- */

static json_t *cred_read(const char *profile)
{
    char *name = cli_cred_file(profile);
    json_t *c = cli_config_read(name);
    free(name);
    return c;
}

static bool cred_write(struct cli_ctx *ctx, const json_t *c)
{
    char *name = cli_cred_file(ctx->profile);
    char dir[400];
    bool ok = cli_config_write(name, c);

    if (!ok)
        fprintf(ctx->err, "vmloginctl: cannot write %s/%s: %s\n",
                cli_config_dir(dir, sizeof(dir)) ? dir : "(no HOME)", name, strerror(errno));
    free(name);
    return ok;
}

/* ---- login --api-key ---- */

/* The first line of f without its end of line; NULL when empty or too long. */
static char *read_line(FILE *f)
{
    char buf[KEY_MAX + 2];
    size_t n;

    if (fgets(buf, sizeof(buf), f) == NULL)
        return NULL;
    n = strcspn(buf, "\r\n");
    if (n == 0 || n > KEY_MAX) {
        memset(buf, 0, sizeof(buf));
        return NULL;
    }
    buf[n] = '\0';
    char *k = xstrdup(buf);
    memset(buf, 0, sizeof(buf));
    return k;
}

/* Reads the key from stdin without echo when stdin is a terminal. */
static char *read_key_stdin(struct cli_ctx *ctx)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    char *k;

    if (tty) {
        fprintf(ctx->err, "API key: ");
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    k = read_line(stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', ctx->err);
    }
    return k;
}

static char *read_key(struct cli_ctx *ctx, const char *file)
{
    FILE *f;
    char *k;

    if (file == NULL || strcmp(file, "-") == 0)
        return read_key_stdin(ctx);
    f = fopen(file, "r");
    if (f == NULL) {
        fprintf(ctx->err, "vmloginctl: cannot read %s: %s\n", file, strerror(errno));
        return NULL;
    }
    k = read_line(f);
    fclose(f);
    return k;
}

/* Stores an API key after one read proves the server takes it (401 -> exit 4, nothing kept). */
static int login_api_key(struct cli_ctx *ctx, const struct cli_args *a)
{
    char *key = read_key(ctx, cli_opt(a, "--key-file"));
    struct cli_resp r;
    json_t *c;
    int rc;

    if (key == NULL) {
        fprintf(ctx->err, "vmloginctl: no API key (give it on stdin or with --key-file FILE)\n");
        return CLI_USAGE;
    }
    ctx->key = key;
    if (cli_request(ctx, "GET", "/v1/virtualMachines?limit=1", NULL, &r) / 100 != 2) {
        rc = cli_report_error(ctx, &r);
        cli_resp_cleanup(&r);
        ctx->key = NULL;
        wipe_free(key);
        return rc;
    }
    cli_resp_cleanup(&r);
    c = json_pack("{s:s, s:s}", "kind", "apiKey", "apiKey", key);
    ctx->key = NULL;
    wipe_free(key);
    rc = cred_write(ctx, c) ? CLI_OK : CLI_FAILED;
    json_decref(c);
    if (rc == CLI_OK)
        fprintf(ctx->err, "API key stored for profile %s\n", ctx->profile);
    return rc;
}

/* ---- login --entra: the device authorization grant ---- */

struct entra {
    char *login, *tenant, *client, *scope;
};

static void entra_cleanup(struct entra *e)
{
    free(e->login);
    free(e->tenant);
    free(e->client);
    free(e->scope);
}

static bool entra_settings(struct cli_ctx *ctx, struct entra *e)
{
    e->login = cli_profile_get(ctx->profile, "login-url");
    e->tenant = cli_profile_get(ctx->profile, "tenant");
    e->client = cli_profile_get(ctx->profile, "client-id");
    e->scope = cli_profile_get(ctx->profile, "scope");
    if (e->login == NULL)
        e->login = xstrdup(DEFAULT_LOGIN_URL);
    if (e->scope == NULL)
        e->scope = xstrdup(DEFAULT_SCOPE);
    if (e->tenant != NULL && e->client != NULL)
        return true;
    fprintf(ctx->err,
            "vmloginctl: login --entra needs the tenant and the client id of profile %s:\n"
            "  vmloginctl config set tenant TENANT_ID\n"
            "  vmloginctl config set client-id APP_ID\n",
            ctx->profile);
    return false;
}

/* The payload of a JWT (not verified: only to say who signed in), new reference or NULL. */
static json_t *jwt_payload(const char *jwt)
{
    const char *p = strchr(jwt, '.');
    const char *q = p ? strchr(p + 1, '.') : NULL;
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    json_t *j;

    if (q == NULL)
        return NULL;
    out = xmalloc((size_t)(q - p) + 1);
    for (const char *s = p + 1; s < q; s++) {
        const char *k = strchr(b64, *s);
        if (k == NULL || *s == '\0')
            break;
        acc = (acc << 6) | (unsigned)(k - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    j = json_loadb(out, o, 0, NULL);
    free(out);
    return j;
}

/* Saves a token answer (access, refresh, expiry, where to refresh) as the profile's cred. */
static bool save_tokens(struct cli_ctx *ctx, const json_t *tok, const char *token_url,
                        const char *client, const char *scope)
{
    json_int_t life = json_integer_value(json_object_get(tok, "expires_in"));
    json_t *claims = jwt_payload(jstr(tok, "access_token"));
    json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s}", "kind", "entra", "accessToken",
                          jstr(tok, "access_token"), "expiresAt",
                          (json_int_t)time(NULL) + (life > 0 ? life : 3599), "tokenUrl", token_url,
                          "clientId", client, "scope", scope, "upn", jstr(claims, "upn"));
    bool ok;

    if (jstr(tok, "refresh_token")[0] != '\0')
        json_object_set_new(c, "refreshToken", json_string(jstr(tok, "refresh_token")));
    ok = cred_write(ctx, c);
    json_decref(c);
    json_decref(claims);
    return ok;
}

/* The AADSTS answer's first line ("AADSTS70000: The end user denied ..."). */
static void say_aad_error(struct cli_ctx *ctx, const struct cli_resp *r, const char *what)
{
    const char *desc = jstr(r->json, "error_description");
    fprintf(ctx->err, "vmloginctl: %s: %s%s%.*s\n", what,
            r->json ? jstr(r->json, "error") : "HTTP error", desc[0] ? ": " : "",
            (int)strcspn(desc, "\r\n"), desc);
}

struct device {
    char *device_code;
    long interval_s;
    time_t deadline;
};

/* Polls the token endpoint until the person approves, declines or the code expires. */
static int poll_device(struct cli_ctx *ctx, const struct entra *e, const char *token_url,
                       struct device *d)
{
    char *dc = esc(d->device_code), *cl = esc(e->client);
    char *form = xasprintf("grant_type=%s&client_id=%s&device_code=%s",
                           "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code", cl, dc);
    int rc = CLI_AUTH;

    free(dc);
    free(cl);
    for (;;) {
        struct cli_resp r;
        if (!cli_pause_ms(d->interval_s * 1000)) {
            fprintf(ctx->err, "vmloginctl: sign-in abandoned (Ctrl-C); nothing was stored\n");
            rc = 130;
            break;
        }
        long st = cli_form_post(ctx, token_url, form, &r);
        const char *err = jstr(r.json, "error");
        if (st == 200) {
            rc = save_tokens(ctx, r.json, token_url, e->client, e->scope) ? CLI_OK : CLI_FAILED;
            cli_resp_cleanup(&r);
            break;
        }
        if (st == 400 && strcmp(err, "slow_down") == 0)
            d->interval_s += 5; /* RFC 8628 3.5: add 5 seconds to the interval */
        if (st == 400 &&
            (strcmp(err, "authorization_pending") == 0 || strcmp(err, "slow_down") == 0) &&
            time(NULL) < d->deadline) {
            cli_resp_cleanup(&r);
            continue;
        }
        if (cli_interrupted)
            rc = 130;
        else if (st == 0)
            rc = CLI_FAILED;
        else
            say_aad_error(ctx, &r, "sign-in failed");
        cli_resp_cleanup(&r);
        break;
    }
    wipe_free(form);
    return rc;
}

static int login_entra(struct cli_ctx *ctx)
{
    struct entra e = {0};
    struct device d = {0};
    struct cli_resp r = {0};
    char *url = NULL, *token_url = NULL, *form = NULL;
    int rc = CLI_USAGE;

    if (!entra_settings(ctx, &e))
        goto out;
    char *cl = esc(e.client), *sc = esc(e.scope);
    form = xasprintf("client_id=%s&scope=%s", cl, sc);
    free(cl);
    free(sc);
    url = xasprintf("%s/%s/oauth2/v2.0/devicecode", e.login, e.tenant);
    token_url = xasprintf("%s/%s/oauth2/v2.0/token", e.login, e.tenant);
    cli_catch_sigint();
    if (cli_form_post(ctx, url, form, &r) != 200) {
        if (r.status != 0)
            say_aad_error(ctx, &r, "the device code request failed");
        rc = r.status == 0 ? CLI_FAILED : CLI_AUTH;
        goto out;
    }
    /* the message says where to go and which code to type: for the person at the terminal */
    fprintf(ctx->err, "%s\n", jstr(r.json, "message"));
    d.device_code = xstrdup(jstr(r.json, "device_code"));
    d.interval_s = (long)json_integer_value(json_object_get(r.json, "interval"));
    if (d.interval_s <= 0)
        d.interval_s = 5;
    d.deadline = time(NULL) + (time_t)json_integer_value(json_object_get(r.json, "expires_in"));
    rc = poll_device(ctx, &e, token_url, &d);
    if (rc == CLI_OK) {
        json_t *c = cred_read(ctx->profile);
        fprintf(ctx->err, "signed in to profile %s as %s\n", ctx->profile,
                jstr(c, "upn")[0] ? jstr(c, "upn") : "(unknown)");
        json_decref(c);
    }
out:
    cli_resp_cleanup(&r);
    wipe_free(d.device_code);
    free(form);
    free(url);
    free(token_url);
    entra_cleanup(&e);
    return rc;
}

int cli_cmd_login(struct cli_ctx *ctx, const struct cli_args *a)
{
    bool key = cli_opt(a, "--api-key") != NULL, entra = cli_opt(a, "--entra") != NULL;

    if (key == entra) {
        fprintf(ctx->err, "vmloginctl: login takes --api-key or --entra\n");
        return CLI_USAGE;
    }
    if (cli_opt(a, "--key-file") != NULL && !key) {
        fprintf(ctx->err, "vmloginctl: --key-file goes with --api-key\n");
        return CLI_USAGE;
    }
    return key ? login_api_key(ctx, a) : login_entra(ctx);
}

int cli_cmd_logout(struct cli_ctx *ctx, const struct cli_args *a)
{
    char *name = cli_cred_file(ctx->profile);
    bool ok = cli_config_remove(name);
    (void)a;
    free(name);
    if (ok)
        fprintf(ctx->err, "signed out of profile %s\n", ctx->profile);
    return ok ? CLI_OK : CLI_FAILED;
}

/* ---- the bearer of a command ---- */

/* Refreshes c (an Entra credential) in place and saves it; false when it cannot. */
static bool refresh(struct cli_ctx *ctx, json_t *c)
{
    char *rt = esc(jstr(c, "refreshToken")), *cl = esc(jstr(c, "clientId"));
    char *sc = esc(jstr(c, "scope"));
    char *form =
        xasprintf("grant_type=refresh_token&client_id=%s&refresh_token=%s&scope=%s", cl, rt, sc);
    struct cli_resp r;
    bool ok = false;

    if (cli_form_post(ctx, jstr(c, "tokenUrl"), form, &r) == 200) {
        if (jstr(r.json, "refresh_token")[0] == '\0') /* keep the one we had */
            json_object_set_new(r.json, "refresh_token", json_string(jstr(c, "refreshToken")));
        ok = save_tokens(ctx, r.json, jstr(c, "tokenUrl"), jstr(c, "clientId"), jstr(c, "scope"));
    } else if (r.status != 0) {
        say_aad_error(ctx, &r, "refreshing the Entra token failed");
    }
    if (ok)
        json_object_set_new(c, "accessToken", json_string(jstr(r.json, "access_token")));
    cli_resp_cleanup(&r);
    wipe_free(form);
    wipe_free(rt);
    free(cl);
    free(sc);
    return ok;
}

char *cli_signin_bearer(struct cli_ctx *ctx)
{
    const char *env = getenv("VMLOGIND_API_KEY");
    json_t *c;
    char *out = NULL;

    if (env != NULL && env[0] != '\0')
        return xstrdup(env);
    c = cred_read(ctx->profile);
    if (strcmp(jstr(c, "kind"), "apiKey") == 0) {
        out = xstrdup(jstr(c, "apiKey"));
    } else if (strcmp(jstr(c, "kind"), "entra") == 0) {
        json_int_t exp = json_integer_value(json_object_get(c, "expiresAt"));
        if (exp > (json_int_t)time(NULL) + 60 || refresh(ctx, c))
            out = xstrdup(jstr(c, "accessToken"));
        else
            fprintf(ctx->err,
                    "vmloginctl: the Entra sign-in of profile %s has expired; sign in again: "
                    "vmloginctl login --entra\n",
                    ctx->profile);
    }
    json_decref(c);
    return out;
}

/* ---- config set|get|list|use ---- */

int cli_cmd_config_set(struct cli_ctx *ctx, const struct cli_args *a)
{
    if (!cli_setting_known(a->pos[0])) {
        fprintf(ctx->err, "vmloginctl: unknown setting %s (see vmloginctl config list)\n",
                a->pos[0]);
        return CLI_USAGE;
    }
    if (!cli_profile_set(ctx->profile, a->pos[0], a->npos > 1 ? a->pos[1] : NULL)) {
        fprintf(ctx->err, "vmloginctl: cannot write the configuration: %s\n", strerror(errno));
        return CLI_FAILED;
    }
    return CLI_OK;
}

int cli_cmd_config_get(struct cli_ctx *ctx, const struct cli_args *a)
{
    char *v;

    if (!cli_setting_known(a->pos[0])) {
        fprintf(ctx->err, "vmloginctl: unknown setting %s (see vmloginctl config list)\n",
                a->pos[0]);
        return CLI_USAGE;
    }
    v = cli_profile_get(ctx->profile, a->pos[0]);
    if (v == NULL)
        return CLI_NOT_FOUND;
    fprintf(ctx->out, "%s\n", v);
    free(v);
    return CLI_OK;
}

/* What list shows of the credential: its kind, who, until when; never the secret. */
static json_t *cred_summary(const char *profile)
{
    json_t *c = cred_read(profile);
    json_t *s = json_pack("{s:s}", "kind", json_is_object(c) ? jstr(c, "kind") : "none");

    if (strcmp(jstr(c, "kind"), "entra") == 0) {
        char t[32];
        time_t exp = (time_t)json_integer_value(json_object_get(c, "expiresAt"));
        struct tm tm;
        gmtime_r(&exp, &tm);
        strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_set_new(s, "upn", json_string(jstr(c, "upn")));
        json_object_set_new(s, "expiresAt", json_string(t));
        json_object_set_new(s, "refreshable", json_boolean(jstr(c, "refreshToken")[0] != '\0'));
    }
    json_decref(c);
    return s;
}

int cli_cmd_config_list(struct cli_ctx *ctx, const struct cli_args *a)
{
    json_t *cfg = cli_config_read("config.json");
    json_t *p = json_object_get(json_object_get(cfg, "profiles"), ctx->profile);
    json_t *doc =
        json_pack("{s:s, s:O, s:o}", "profile", ctx->profile, "settings",
                  json_is_object(p) ? p : json_object(), "credential", cred_summary(ctx->profile));
    (void)a;
    if (!json_is_object(p))
        json_decref(json_object_get(doc, "settings"));
    if (ctx->fmt == CLI_FMT_JSON) {
        char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fprintf(ctx->out, "%s\n", s);
        free(s);
    } else if (ctx->fmt == CLI_FMT_YAML) {
        cli_print_yaml(ctx->out, doc);
    } else {
        fprintf(ctx->out, "profile\t%s\n", ctx->profile);
        for (const struct cli_setting *s = cli_settings; s->key != NULL; s++)
            fprintf(ctx->out, "%s\t%s\n", s->key, jstr(p, s->key));
        fprintf(ctx->out, "credential\t%s\n", jstr(json_object_get(doc, "credential"), "kind"));
    }
    json_decref(doc);
    json_decref(cfg);
    return CLI_OK;
}

int cli_cmd_config_use(struct cli_ctx *ctx, const struct cli_args *a)
{
    if (!cli_profile_name_ok(a->pos[0])) {
        fprintf(ctx->err, "vmloginctl: a profile name is letters, digits, - and _\n");
        return CLI_USAGE;
    }
    if (!cli_profile_use(a->pos[0])) {
        fprintf(ctx->err, "vmloginctl: cannot write the configuration: %s\n", strerror(errno));
        return CLI_FAILED;
    }
    return CLI_OK;
}

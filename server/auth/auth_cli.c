/* auth_cli.c: the operator's commands for credentials and the audit trail: `keys create`
 * (prints the new key once, alone on stdout), `keys list` (never a secret), `keys revoke`,
 * `identities limit|list|unlimit` (scopes and grant limits for Entra callers) and
 * `audit verify`. Argument parsing of the daemon itself stays in main.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmlogind/auth.h"
#include "vmlogind/clock.h"
#include "vmlogind/store.h"

#define CLI_ACTOR "cli"

struct cli {
    const char *const *names;
    const char *const *values;
    size_t n;
    FILE *out;
    FILE *err;
};

static const char *flag(const struct cli *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->names[i], name) == 0)
            return c->values[i];
    return NULL;
}

/* Every flag given must be one of allowed ("|"-separated, with '|' at both ends). */
static bool flags_known(const struct cli *c, const char *allowed)
{
    for (size_t i = 0; i < c->n; i++) {
        char pat[80];
        snprintf(pat, sizeof(pat), "|%s|", c->names[i]);
        if (strstr(allowed, pat) == NULL) {
            fprintf(c->err, "vmlogind: unknown option --%s\n", c->names[i]);
            return false;
        }
    }
    return true;
}

static int fail(const struct cli *c, const char *what, const struct err_detail *d)
{
    fprintf(c->err, "vmlogind: %s: %s\n", what, d->msg);
    return 1;
}

/* --scope (repeated), --grant-roles, --grant-principal-types, --grant-member-of into scopes and
 * limits; 0, or the exit status after a message. */
static int limits_from_flags(const struct cli *c, const char *scopes[AUTH_MAX_SCOPES],
                             size_t *nscopes, struct auth_limits *limits)
{
    struct err_detail d = {{0}, {0}};
    const char *v;

    *nscopes = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->names[i], "scope") != 0)
            continue;
        if (*nscopes >= AUTH_MAX_SCOPES) {
            fprintf(c->err, "vmlogind: at most %d scopes\n", AUTH_MAX_SCOPES);
            return 2;
        }
        scopes[(*nscopes)++] = c->values[i];
    }
    v = flag(c, "grant-roles");
    if (v != NULL && auth_limits_parse_roles(v, &limits->grant_roles, &d) != ERR_OK)
        return fail(c, "--grant-roles", &d) + 1;
    v = flag(c, "grant-principal-types");
    if (v != NULL && auth_limits_parse_types(v, &limits->principal_types, &d) != ERR_OK)
        return fail(c, "--grant-principal-types", &d) + 1;
    v = flag(c, "grant-member-of");
    if (v != NULL)
        snprintf(limits->member_of, sizeof(limits->member_of), "%s", v);
    return 0;
}

#define LIMIT_FLAGS "scope|grant-roles|grant-principal-types|grant-member-of|"

static int keys_create(const struct cli *c, struct store *st)
{
    const char *scopes[AUTH_MAX_SCOPES];
    struct auth_key_spec s = {.name = flag(c, "name"), .actor = CLI_ACTOR, .scopes = scopes};
    const char *role = flag(c, "role");
    char key[AUTH_KEY_LEN + 1], id[AUTH_KEY_ID_LEN + 1];
    struct err_detail d = {{0}, {0}};
    int rc;

    if (!flags_known(c, "|name|role|" LIMIT_FLAGS))
        return 2;
    if (s.name == NULL || role == NULL || !auth_role_parse(role, &s.role)) {
        fprintf(c->err, "vmlogind: keys create needs --name N and --role "
                        "reader|operator|administrator\n");
        return 2;
    }
    rc = limits_from_flags(c, scopes, &s.nscopes, &s.limits);
    if (rc != 0)
        return rc;
    if (auth_keys_create(st, &s, key, id, &d) != ERR_OK)
        return fail(c, "keys create", &d);
    fprintf(c->out, "%s\n", key);
    fflush(c->out);
    fprintf(c->err, "created API key id=%s name=%s role=%s scopes=%zu (the key is shown once)\n",
            id, s.name, auth_role_name(s.role), s.nscopes);
    return 0;
}

static int identities_limit(const struct cli *c, struct store *st)
{
    const char *scopes[AUTH_MAX_SCOPES];
    struct auth_identity_spec s = {
        .subject = flag(c, "subject"), .actor = CLI_ACTOR, .scopes = scopes};
    struct err_detail d = {{0}, {0}};
    int rc;

    if (!flags_known(c, "|subject|" LIMIT_FLAGS))
        return 2;
    if (s.subject == NULL) {
        fprintf(c->err, "vmlogind: identities limit needs --subject user:<object id> or "
                        "app:<application id>\n");
        return 2;
    }
    rc = limits_from_flags(c, scopes, &s.nscopes, &s.limits);
    if (rc != 0)
        return rc;
    if (auth_identity_limit(st, &s, &d) != ERR_OK)
        return fail(c, "identities limit", &d);
    fprintf(c->out, "limited %s to %zu scope(s)\n", s.subject, s.nscopes);
    return 0;
}

static int identities_list(const struct cli *c, struct store *st)
{
    struct store_identity_limits *l = NULL;
    size_t n = 0;
    struct err_detail d = {{0}, {0}};

    if (!flags_known(c, "||"))
        return 2;
    if (store_identity_limits_list(st, &l, &n, &d) != ERR_OK)
        return fail(c, "identities list", &d);
    fprintf(c->out, "%-42s  %s  %s\n", "SUBJECT", "SCOPES", "LIMITS");
    for (size_t i = 0; i < n; i++)
        fprintf(c->out, "%-42s  %s  %s\n", l[i].subject, l[i].scopes, l[i].grant_limits);
    store_identity_limits_list_free(l, n);
    return 0;
}

static int identities_unlimit(const struct cli *c, struct store *st)
{
    const char *subject = flag(c, "subject");
    struct err_detail d = {{0}, {0}};
    enum err rc;

    if (!flags_known(c, "|subject|"))
        return 2;
    if (subject == NULL) {
        fprintf(c->err, "vmlogind: identities unlimit needs --subject\n");
        return 2;
    }
    rc = auth_identity_unlimit(st, subject, CLI_ACTOR, &d);
    if (rc == ERR_NOT_FOUND) {
        fprintf(c->err, "vmlogind: %s has no limits\n", subject);
        return 1;
    }
    if (rc != ERR_OK)
        return fail(c, "identities unlimit", &d);
    fprintf(c->out, "removed the limits of %s\n", subject);
    return 0;
}

static void fmt_time(int64_t ms, char *buf, size_t cap)
{
    if (ms == 0)
        snprintf(buf, cap, "-");
    else
        clock_fmt_rfc3339(ms, buf, cap);
}

static int keys_list(const struct cli *c, struct store *st)
{
    struct store_api_key *keys = NULL;
    size_t n = 0;
    struct err_detail d = {{0}, {0}};

    if (!flags_known(c, "||"))
        return 2;
    if (store_api_key_list(st, &keys, &n, &d) != ERR_OK)
        return fail(c, "keys list", &d);
    fprintf(c->out, "%-16s  %-13s  %-24s  %-24s  %-24s  %s  %s  %s\n", "ID", "ROLE", "CREATED",
            "REVOKED", "LAST_USED", "SCOPES", "LIMITS", "NAME");
    for (size_t i = 0; i < n; i++) {
        char created[32], revoked[32], used[32];
        fmt_time(keys[i].created_at, created, sizeof(created));
        fmt_time(keys[i].revoked_at, revoked, sizeof(revoked));
        fmt_time(keys[i].last_used_at, used, sizeof(used));
        fprintf(c->out, "%-16s  %-13s  %-24s  %-24s  %-24s  %s  %s  %s\n", keys[i].id, keys[i].role,
                created, revoked, used, keys[i].scopes, keys[i].grant_limits, keys[i].name);
    }
    store_api_key_list_free(keys, n);
    return 0;
}

static int keys_revoke(const struct cli *c, struct store *st)
{
    const char *id = flag(c, "id");
    struct err_detail d = {{0}, {0}};
    enum err rc;

    if (!flags_known(c, "|id|"))
        return 2;
    if (id == NULL) {
        fprintf(c->err, "vmlogind: keys revoke needs --id ID\n");
        return 2;
    }
    rc = auth_keys_revoke(st, id, CLI_ACTOR, &d);
    if (rc == ERR_NOT_FOUND) {
        fprintf(c->err, "vmlogind: no API key with id %s\n", id);
        return 1;
    }
    if (rc != ERR_OK)
        return fail(c, "keys revoke", &d);
    fprintf(c->out, "revoked API key %s\n", id);
    return 0;
}

static int audit_verify(const struct cli *c, struct store *st, const char *checkpoint_file)
{
    struct store_audit_report r;
    struct err_detail d = {{0}, {0}};
    enum err rc;

    if (!flags_known(c, "||"))
        return 2;
    rc = store_audit_verify_anchored(st, checkpoint_file, &r, &d);
    if (rc == ERR_OK) {
        fprintf(c->out, "audit log intact (%" PRId64 " rows)\n", r.rows);
        fprintf(c->err,
                "held to %" PRId64 " signed checkpoints, the newest at seq %" PRId64 "; %" PRId64
                " rows predate the audit key\n",
                r.checkpoints, r.checkpoint_seq, r.legacy_end);
        return 0;
    }
    if (rc == ERR_CONFLICT) {
        if (r.broken_seq != 0)
            fprintf(c->out, "audit log broken at row %" PRId64 ": %s\n", r.broken_seq, d.msg);
        else
            fprintf(c->out, "audit log not intact: %s\n", d.msg);
        fprintf(c->err, "vmlogind: audit verify: %s (%s)\n", d.msg, d.code);
        return 1;
    }
    return fail(c, "audit verify", &d);
}

int auth_cli_audit(struct store *st, const char *checkpoint_file, const char *const *words,
                   size_t nwords, const char *const *flag_names, size_t nflags, FILE *out,
                   FILE *err)
{
    struct cli c = {.names = flag_names, .n = nflags, .out = out, .err = err};

    if (nwords != 2 || strcmp(words[0], "audit") != 0 || strcmp(words[1], "verify") != 0) {
        fprintf(err, "vmlogind: unknown command '%s %s'\n", words[0], nwords > 1 ? words[1] : "");
        return 2;
    }
    return audit_verify(&c, st, checkpoint_file);
}

int auth_cli_run(struct store *st, const char *const *words, size_t nwords,
                 const char *const *flag_names, const char *const *flag_values, size_t nflags,
                 FILE *out, FILE *err)
{
    struct cli c = {
        .names = flag_names, .values = flag_values, .n = nflags, .out = out, .err = err};
    const char *sub = nwords > 1 ? words[1] : "";

    if (nwords > 2) {
        fprintf(err, "vmlogind: unexpected argument '%s'\n", words[2]);
        return 2;
    }
    if (strcmp(words[0], "keys") == 0 && strcmp(sub, "create") == 0)
        return keys_create(&c, st);
    if (strcmp(words[0], "keys") == 0 && strcmp(sub, "list") == 0)
        return keys_list(&c, st);
    if (strcmp(words[0], "keys") == 0 && strcmp(sub, "revoke") == 0)
        return keys_revoke(&c, st);
    if (strcmp(words[0], "audit") == 0 && strcmp(sub, "verify") == 0)
        return audit_verify(&c, st, NULL);
    if (strcmp(words[0], "identities") == 0 && strcmp(sub, "limit") == 0)
        return identities_limit(&c, st);
    if (strcmp(words[0], "identities") == 0 && strcmp(sub, "list") == 0)
        return identities_list(&c, st);
    if (strcmp(words[0], "identities") == 0 && strcmp(sub, "unlimit") == 0)
        return identities_unlimit(&c, st);
    fprintf(err, "vmlogind: unknown command '%s %s'\n", words[0], sub);
    return 2;
}

/* args.c: vmloginctl's argument parsing, output format choice, durations and scope ids. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

static const struct cli_opt_spec global_opts[] = {{"-o|--output", true}, {"--url", true},
                                                  {"--profile", true},   {"--debug", false},
                                                  {"-h|--help", false},  {NULL, false}};

/* The long name of spec entry s ("-o|--output" -> "--output"), and whether arg names it. */
static const char *long_name(const char *s)
{
    const char *bar = strchr(s, '|');
    return bar ? bar + 1 : s;
}

static bool names(const char *s, const char *arg, size_t arglen)
{
    const char *bar = strchr(s, '|');
    if (bar != NULL && (size_t)(bar - s) == arglen && strncmp(s, arg, arglen) == 0)
        return true;
    s = long_name(s);
    return strlen(s) == arglen && strncmp(s, arg, arglen) == 0;
}

static const struct cli_opt_spec *find_opt(const struct cli_opt_spec *spec, const char *arg,
                                           size_t len)
{
    for (const struct cli_opt_spec *o = spec; o != NULL && o->name != NULL; o++)
        if (names(o->name, arg, len))
            return o;
    for (const struct cli_opt_spec *o = global_opts; o->name != NULL; o++)
        if (names(o->name, arg, len))
            return o;
    return NULL;
}

bool cli_parse(int argc, char *const argv[], const struct cli_opt_spec *spec, struct cli_args *out,
               char *err, size_t errcap)
{
    bool opts_done = false;

    memset(out, 0, sizeof(*out));
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (opts_done || a[0] != '-' || a[1] == '\0') {
            if (out->npos == CLI_MAX_POS) {
                snprintf(err, errcap, "too many arguments");
                return false;
            }
            out->pos[out->npos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            opts_done = true;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const struct cli_opt_spec *o = find_opt(spec, a, len);
        const char *val = "";
        if (o == NULL) {
            snprintf(err, errcap, "unknown option %.*s", (int)len, a);
            return false;
        }
        if (o->has_arg) {
            if (eq != NULL)
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else {
                snprintf(err, errcap, "%s needs a value", long_name(o->name));
                return false;
            }
        } else if (eq != NULL) {
            snprintf(err, errcap, "%s takes no value", long_name(o->name));
            return false;
        }
        if (out->nopt == CLI_MAX_OPTS) {
            snprintf(err, errcap, "too many options");
            return false;
        }
        out->names[out->nopt] = long_name(o->name);
        out->vals[out->nopt++] = val;
    }
    return true;
}

const char *cli_opt(const struct cli_args *a, const char *name)
{
    for (int i = a->nopt - 1; i >= 0; i--)
        if (strcmp(a->names[i], name) == 0)
            return a->vals[i];
    return NULL;
}

bool cli_format_parse(const char *name, bool tty, enum cli_format *out)
{
    if (name == NULL)
        *out = tty ? CLI_FMT_TABLE : CLI_FMT_JSON;
    else if (strcmp(name, "table") == 0)
        *out = CLI_FMT_TABLE;
    else if (strcmp(name, "wide") == 0)
        *out = CLI_FMT_WIDE;
    else if (strcmp(name, "json") == 0)
        *out = CLI_FMT_JSON;
    else if (strcmp(name, "tsv") == 0)
        *out = CLI_FMT_TSV;
    else if (strcmp(name, "yaml") == 0)
        *out = CLI_FMT_YAML;
    else
        return false;
    return true;
}

bool cli_fmt_is_table(enum cli_format f)
{
    return f == CLI_FMT_TABLE || f == CLI_FMT_WIDE;
}

bool cli_duration_parse(const char *s, long long *seconds)
{
    char *end;
    long long n, mul;

    if (s == NULL || !isdigit((unsigned char)s[0]))
        return false;
    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno != 0 || n <= 0 || end[0] == '\0' || end[1] != '\0')
        return false;
    switch (end[0]) {
    case 's':
        mul = 1;
        break;
    case 'm':
        mul = 60;
        break;
    case 'h':
        mul = 3600;
        break;
    case 'd':
        mul = 86400;
        break;
    default:
        return false;
    }
    if (n > 100LL * 365 * 86400 / mul)
        return false;
    *seconds = n * mul;
    return true;
}

/* Copies the next '/'-separated segment of *p into out (cap incl. NUL); false if empty/long. */
static bool segment(const char **p, char *out, size_t cap)
{
    size_t n = strcspn(*p, "/");
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, *p, n);
    out[n] = '\0';
    *p += n;
    return true;
}

static bool literal(const char **p, const char *word)
{
    size_t n = strlen(word);
    if (strncasecmp(*p, word, n) != 0)
        return false;
    *p += n;
    return true;
}

bool cli_scope_parse_arm(const char *s, struct cli_scope *out)
{
    const char *p = s;

    memset(out, 0, sizeof(*out));
    if (!literal(&p, "/subscriptions/") || !segment(&p, out->sub, sizeof(out->sub)))
        return false;
    if (strcmp(p, "") == 0 || strcmp(p, "/") == 0)
        return true;
    if (!literal(&p, "/resourceGroups/") || !segment(&p, out->rg, sizeof(out->rg)))
        return false;
    if (strcmp(p, "") == 0 || strcmp(p, "/") == 0)
        return true;
    if (!literal(&p, "/providers/Microsoft.Compute/virtualMachines/") ||
        !segment(&p, out->vm, sizeof(out->vm)))
        return false;
    return strcmp(p, "") == 0 || strcmp(p, "/") == 0;
}

void cli_scope_arm(const struct cli_scope *sc, char *out, size_t cap)
{
    if (sc->vm[0])
        snprintf(out, cap,
                 "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/"
                 "virtualMachines/%s",
                 sc->sub, sc->rg, sc->vm);
    else if (sc->rg[0])
        snprintf(out, cap, "/subscriptions/%s/resourceGroups/%s", sc->sub, sc->rg);
    else
        snprintf(out, cap, "/subscriptions/%s", sc->sub);
}

void cli_scope_api(const struct cli_scope *sc, char *out, size_t cap)
{
    if (sc->vm[0])
        snprintf(out, cap, "/v1/subscriptions/%s/resourceGroups/%s/virtualMachines/%s", sc->sub,
                 sc->rg, sc->vm);
    else if (sc->rg[0])
        snprintf(out, cap, "/v1/subscriptions/%s/resourceGroups/%s", sc->sub, sc->rg);
    else
        snprintf(out, cap, "/v1/subscriptions/%s", sc->sub);
}

/* output.c: vmloginctl's table, TSV and YAML rendering of API JSON (json output is the API's
 * own). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "vmlogind/xalloc.h"

static const json_t *member(const json_t *o, const char *path, const char **last)
{
    char seg[128];
    const char *p = path;

    *last = path;
    while (o != NULL) {
        size_t n = strcspn(p, ".");
        if (n >= sizeof(seg))
            return NULL;
        memcpy(seg, p, n);
        seg[n] = '\0';
        *last = p;
        o = json_object_get(o, seg);
        if (p[n] == '\0')
            return o;
        p += n + 1;
    }
    return NULL;
}

/* "2h 13m", "3d 4h", "5m", "40s": the largest unit and, when not zero, the next one. */
static void two_units(long long a, char *out, size_t cap)
{
    if (a >= 86400 && a % 86400 / 3600 != 0)
        snprintf(out, cap, "%lldd %lldh", a / 86400, a % 86400 / 3600);
    else if (a >= 86400)
        snprintf(out, cap, "%lldd", a / 86400);
    else if (a >= 3600 && a % 3600 / 60 != 0)
        snprintf(out, cap, "%lldh %lldm", a / 3600, a % 3600 / 60);
    else if (a >= 3600)
        snprintf(out, cap, "%lldh", a / 3600);
    else if (a >= 60)
        snprintf(out, cap, "%lldm", a / 60);
    else
        snprintf(out, cap, "%llds", a);
}

void cli_relative(time_t t, time_t now, char *out, size_t cap)
{
    long long d = (long long)now - (long long)t;
    char span[48];

    if (d > -5 && d < 5) {
        snprintf(out, cap, "just now");
        return;
    }
    two_units(d >= 0 ? d : -d, span, sizeof(span));
    snprintf(out, cap, d >= 0 ? "%s ago" : "in %s", span);
}

bool cli_time_parse(const char *s, time_t *out)
{
    struct tm tm;
    const char *p;
    long off = 0;

    memset(&tm, 0, sizeof(tm));
    p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        return false;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return false;
        off = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
    } else if (*p != 'Z' && *p != 'z') {
        return false;
    }
    *out = timegm(&tm) - off;
    return true;
}

char *cli_cell(const json_t *row, const char *path, bool pretty, time_t now)
{
    const char *last;
    const json_t *v = member(row, path, &last);
    size_t ln = strlen(last);

    if (v == NULL || json_is_null(v))
        return xstrdup("");
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        time_t t;
        if (pretty && ln > 2 && strcmp(last + ln - 2, "At") == 0 && cli_time_parse(s, &t)) {
            struct tm lt;
            char when[64], rel[32];
            localtime_r(&t, &lt);
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &lt);
            cli_relative(t, now, rel, sizeof(rel));
            return xasprintf("%s (%s)", when, rel);
        }
        return xstrdup(s);
    }
    if (json_is_true(v))
        return xstrdup("true");
    if (json_is_false(v))
        return xstrdup("false");
    if (json_is_integer(v))
        return xasprintf("%lld", (long long)json_integer_value(v));
    if (json_is_real(v))
        return xasprintf("%g", json_real_value(v));
    char *d = json_dumps(v, JSON_COMPACT);
    return d != NULL ? d : xstrdup("");
}

/* TSV cells carry no tabs or newlines. */
static void put_tsv(FILE *f, const char *s)
{
    for (; *s; s++)
        fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
}

static bool table_color;

void cli_output_color(bool on)
{
    table_color = on;
}

/* The ANSI colour of a state cell, or NULL. */
static const char *cell_color(const char *header, const char *v)
{
    static const char *const good[] = {"Succeeded", "enabled", "active", "pass", "succeeded"};
    static const char *const bad[] = {"Failed", "failed", "fail", "Canceled", "drifted"};
    static const char *const busy[] = {"Running", "NotStarted", "pending", "revoking", "warn"};

    if (!table_color || (strcmp(header, "STATUS") != 0 && strcmp(header, "STATE") != 0 &&
                         strcmp(header, "LOGIN") != 0 && strcmp(header, "RESULT") != 0))
        return NULL;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (strcmp(v, good[i]) == 0)
            return "\033[32m";
        if (strcmp(v, bad[i]) == 0)
            return "\033[31m";
        if (strcmp(v, busy[i]) == 0)
            return "\033[33m";
    }
    return NULL;
}

/* The columns fmt shows: the wide ones only with -o wide. */
static size_t visible_cols(const struct cli_col *cols, enum cli_format fmt,
                           const struct cli_col **out, size_t cap)
{
    size_t n = 0;
    for (const struct cli_col *c = cols; c->header != NULL && n < cap; c++)
        if (!c->wide || fmt == CLI_FMT_WIDE)
            out[n++] = c;
    return n;
}

static void put_table_cell(FILE *f, const char *header, const char *s, int width, bool last)
{
    const char *color = cell_color(header, s);

    if (last)
        fprintf(f, "%s%s%s\n", color ? color : "", s, color ? "\033[0m" : "");
    else
        fprintf(f, "%s%-*s%s  ", color ? color : "", width, s, color ? "\033[0m" : "");
}

void cli_print_rows(FILE *f, const json_t *rows, const struct cli_col *all, enum cli_format fmt,
                    time_t now)
{
    const struct cli_col *cols[32];
    size_t ncol = visible_cols(all, fmt, cols, 32), nrow = json_array_size(rows);
    bool pretty = cli_fmt_is_table(fmt);

    char **cells = xcalloc(xmul(xadd(nrow, 1), ncol ? ncol : 1), sizeof(char *));
    size_t *width = xcalloc(ncol ? ncol : 1, sizeof(size_t));
    for (size_t c = 0; c < ncol; c++) {
        cells[c] = xstrdup(cols[c]->header);
        width[c] = strlen(cols[c]->header);
    }
    for (size_t r = 0; r < nrow; r++)
        for (size_t c = 0; c < ncol; c++) {
            char *s = cli_cell(json_array_get(rows, r), cols[c]->path, pretty, now);
            cells[(r + 1) * ncol + c] = s;
            if (strlen(s) > width[c])
                width[c] = strlen(s);
        }
    for (size_t r = pretty ? 0 : 1; r <= nrow; r++) {
        for (size_t c = 0; c < ncol; c++) {
            const char *s = cells[r * ncol + c];
            if (pretty) {
                put_table_cell(f, r == 0 ? "" : cols[c]->header, s, (int)width[c], c + 1 == ncol);
                continue;
            }
            put_tsv(f, s);
            fputs(c + 1 < ncol ? "\t" : "\n", f);
        }
    }
    for (size_t i = 0; i < (nrow + 1) * ncol; i++)
        free(cells[i]);
    free(cells);
    free(width);
}

void cli_print_object(FILE *f, const json_t *obj, const struct cli_col *all, enum cli_format fmt,
                      time_t now)
{
    const struct cli_col *cols[32];
    size_t n = visible_cols(all, fmt, cols, 32), w = 0;
    bool pretty = cli_fmt_is_table(fmt);

    for (size_t i = 0; i < n; i++)
        if (strlen(cols[i]->header) > w)
            w = strlen(cols[i]->header);
    for (size_t i = 0; i < n; i++) {
        char *s = cli_cell(obj, cols[i]->path, pretty, now);
        if (pretty) {
            fprintf(f, "%-*s  %s\n", (int)w, cols[i]->header, s);
        } else {
            fprintf(f, "%s\t", cols[i]->path);
            put_tsv(f, s);
            fputc('\n', f);
        }
        free(s);
    }
}

/* ---- YAML ---- */

/* True when s, written plain, would read back as the string s: not empty, no leading or
 * trailing blank, no indicator first, no ": " or " #", no control characters, and not a
 * word or number YAML 1.1 or 1.2 would take for null, a bool, a number or a time (anything
 * starting with a digit is quoted, which covers numbers, dates and octal/hex forms). */
static bool yaml_plain_ok(const char *s)
{
    static const char *const words[] = {"null", "~",   "true", "false", "yes", "no",
                                        "on",   "off", "y",    "n",     NULL};
    size_t n = strlen(s);

    if (n == 0 || strchr("-?:,[]{}#&*!|>'\"%@`<=. +0123456789", s[0]) != NULL || s[n - 1] == ' ' ||
        s[n - 1] == ':')
        return false;
    if (strstr(s, ": ") != NULL || strstr(s, " #") != NULL)
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    for (int i = 0; words[i] != NULL; i++)
        if (strcasecmp(s, words[i]) == 0)
            return false;
    return true;
}

static void yaml_scalar(FILE *f, const json_t *v)
{
    if (json_is_string(v) && yaml_plain_ok(json_string_value(v))) {
        fputs(json_string_value(v), f);
        return;
    }
    if (json_is_object(v)) { /* only ever empty here */
        fputs("{}", f);
        return;
    }
    if (json_is_array(v)) {
        fputs("[]", f);
        return;
    }
    /* null, true, false, numbers and quoted strings are the same in JSON and YAML 1.2 */
    char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    fputs(d != NULL ? d : "null", f);
    free(d);
}

static bool yaml_block(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) > 0) ||
           (json_is_array(v) && json_array_size(v) > 0);
}

static void yaml_node(FILE *f, const json_t *v, int indent, bool inline_first);

static void yaml_map(FILE *f, const json_t *o, int indent, bool inline_first)
{
    const char *k;
    json_t *v;
    bool first = true;

    json_object_foreach((json_t *)o, k, v)
    {
        json_t *key = json_string(k);
        if (!(first && inline_first))
            fprintf(f, "%*s", indent, "");
        first = false;
        yaml_scalar(f, key);
        json_decref(key);
        fputc(':', f);
        if (yaml_block(v)) {
            fputc('\n', f);
            yaml_node(f, v, indent + 2, false);
        } else {
            fputc(' ', f);
            yaml_scalar(f, v);
            fputc('\n', f);
        }
    }
}

static void yaml_seq(FILE *f, const json_t *a, int indent, bool inline_first)
{
    size_t i;
    json_t *v;

    json_array_foreach(a, i, v)
    {
        if (!(i == 0 && inline_first))
            fprintf(f, "%*s", indent, "");
        fputs("- ", f);
        if (yaml_block(v)) {
            yaml_node(f, v, indent + 2, true);
        } else {
            yaml_scalar(f, v);
            fputc('\n', f);
        }
    }
}

static void yaml_node(FILE *f, const json_t *v, int indent, bool inline_first)
{
    if (json_is_object(v) && json_object_size(v) > 0) {
        yaml_map(f, v, indent, inline_first);
    } else if (json_is_array(v) && json_array_size(v) > 0) {
        yaml_seq(f, v, indent, inline_first);
    } else {
        yaml_scalar(f, v);
        fputc('\n', f);
    }
}

void cli_print_yaml(FILE *f, const json_t *v)
{
    yaml_node(f, v, 0, false);
}

bool cli_color_wanted(bool tty)
{
    const char *no = getenv("NO_COLOR");
    return tty && (no == NULL || no[0] == '\0');
}

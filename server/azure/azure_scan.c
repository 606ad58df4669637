/* azure_scan.c: a pull scanner over JSON text, for the list pages the sync reads by the
 * thousand. It walks the text once, hands the caller each member name and lets it take the
 * values it wants as C strings; everything else is skipped without a tree or an allocation
 * (jansson builds a hash table per object and a copy per string, most of the CPU of a sync).
 *
 * It accepts exactly what json_loadb(text, 0) accepts (the fuzz target azure_scan checks
 * this against jansson): an object or array at the top, nothing but whitespace after it,
 * strict number and literal grammar, integers that fit int64_t and reals that do not overflow,
 * valid UTF-8 without surrogates or overlong forms, no \u0000, depth at most 2048. Any
 * violation sets bad and every later call then reports the end. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "azure/azure_internal.h"
#include "vmlogind/xalloc.h"

#define SCAN_NUM_MAX 64 /* longer numbers are copied to the heap to be checked */

static void ws(struct azure_scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool fail(struct azure_scan *s)
{
    s->bad = true;
    s->p = s->end;
    return false;
}

void azure_scan_init(struct azure_scan *s, const char *text, size_t len)
{
    *s = (struct azure_scan){.p = text, .end = text + len};
}

void azure_scan_cleanup(struct azure_scan *s)
{
    free(s->key);
    s->key = NULL;
}

int azure_scan_peek(struct azure_scan *s)
{
    char c;

    ws(s);
    if (s->bad || s->p == s->end)
        return 0;
    c = *s->p;
    if (c == '{' || c == '[' || c == '"' || c == 't' || c == 'f' || c == 'n')
        return c;
    if (c == '-' || (c >= '0' && c <= '9'))
        return '0';
    return 0;
}

/* Length of the UTF-8 sequence at p (valid, shortest form, no surrogate), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t n;
    uint32_t cp;

    if (c < 0xC2 || c > 0xF4)
        return 0;
    n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if ((size_t)(end - p) < n)
        return 0;
    cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

static int hex4(const char *p)
{
    int v = 0;

    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;

        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* The code point of the \u escape at p (p at the 'u'), surrogate pairs joined; *used is the
 * bytes read after the backslash. -1 if invalid (jansson refuses lone surrogates and \u0000). */
static long unicode_escape(const char *p, const char *end, size_t *used)
{
    long cp;
    long lo;

    if (end - p < 5 || (cp = hex4(p + 1)) < 0)
        return -1;
    *used = 5;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return -1;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end - p < 11 || p[5] != '\\' || p[6] != 'u' || (lo = hex4(p + 7)) < 0x0DC00 ||
            lo > 0xDFFF)
            return -1;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        *used = 11;
    }
    return cp == 0 ? -1 : cp;
}

static size_t utf8_put(char *o, long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Checks the string at s->p (at its opening quote) and moves past it. With out, writes the
 * decoded bytes there (room for the raw length is enough: decoding never grows) and sets
 * *len. */
static bool string(struct azure_scan *s, char *out, size_t *len)
{
    const char *p = s->p + 1;
    size_t n = 0;

    for (;;) {
        const char *run = p;
        unsigned char c;

        while (p < s->end && (unsigned char)*p >= 0x20 && *p != '"' && *p != '\\' &&
               (unsigned char)*p < 0x80)
            p++;
        if (out != NULL && p > run) {
            memcpy(out + n, run, (size_t)(p - run));
            n += (size_t)(p - run);
        }
        if (p == s->end)
            return fail(s);
        c = (unsigned char)*p;
        if (c == '"')
            break;
        if (c < 0x20)
            return fail(s);
        if (c >= 0x80) {
            size_t u = utf8_len((const unsigned char *)p, (const unsigned char *)s->end);

            if (u == 0)
                return fail(s);
            if (out != NULL)
                memcpy(out + n, p, u);
            n += u;
            p += u;
            continue;
        }
        /* a backslash */
        if (s->end - p < 2)
            return fail(s);
        switch (p[1]) {
        case '"':
        case '\\':
        case '/':
            c = (unsigned char)p[1];
            break;
        case 'b':
            c = '\b';
            break;
        case 'f':
            c = '\f';
            break;
        case 'n':
            c = '\n';
            break;
        case 'r':
            c = '\r';
            break;
        case 't':
            c = '\t';
            break;
        case 'u': {
            size_t used = 0;
            long cp = unicode_escape(p + 1, s->end, &used);

            if (cp < 0)
                return fail(s);
            if (out != NULL)
                n += utf8_put(out + n, cp);
            p += 1 + used;
            continue;
        }
        default:
            return fail(s);
        }
        if (out != NULL)
            out[n++] = (char)c;
        p += 2;
    }
    if (out != NULL) {
        out[n] = '\0';
        *len = n;
    }
    s->p = p + 1;
    return true;
}

static bool digits(struct azure_scan *s)
{
    const char *p = s->p;

    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > p;
}

/* A number as jansson lexes it: an integer must fit int64_t, a real must not overflow. */
static bool number(struct azure_scan *s)
{
    const char *start = s->p;
    bool real = false;
    char small[SCAN_NUM_MAX];
    char *text = small;
    size_t n;
    bool ok;

    if (*s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0') {
        s->p++;
        if (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            return fail(s);
    } else if (!digits(s)) {
        return fail(s);
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        real = true;
        if (!digits(s))
            return fail(s);
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        real = true;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!digits(s))
            return fail(s);
    }
    n = (size_t)(s->p - start);
    if (n >= sizeof(small))
        text = xmalloc(n + 1);
    memcpy(text, start, n);
    text[n] = '\0';
    errno = 0;
    if (real) {
        double d = strtod(text, NULL);

        ok = !(errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL));
    } else {
        (void)strtoll(text, NULL, 10);
        ok = errno != ERANGE;
    }
    if (text != small)
        free(text);
    return ok ? true : fail(s);
}

static bool literal(struct azure_scan *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return fail(s);
    s->p += n;
    /* jansson reads a whole identifier: "truex" is no token */
    if (s->p < s->end && ((*s->p >= 'a' && *s->p <= 'z') || (*s->p >= 'A' && *s->p <= 'Z')))
        return fail(s);
    return true;
}

static bool enter(struct azure_scan *s, char open)
{
    if (s->depth >= AZURE_SCAN_MAX_DEPTH)
        return fail(s);
    s->p++;
    s->fresh[s->depth] = true;
    s->stack[s->depth++] = open;
    return true;
}

bool azure_scan_skip(struct azure_scan *s)
{
    switch (azure_scan_peek(s)) {
    case '"':
        return string(s, NULL, NULL);
    case '0':
        return number(s);
    case 't':
        return literal(s, "true", 4);
    case 'f':
        return literal(s, "false", 5);
    case 'n':
        return literal(s, "null", 4);
    case '{':
        (void)enter(s, '{');
        while (azure_scan_member(s))
            (void)azure_scan_skip(s);
        return !s->bad;
    case '[':
        (void)enter(s, '[');
        while (azure_scan_element(s))
            (void)azure_scan_skip(s);
        return !s->bad;
    default:
        return fail(s);
    }
}

bool azure_scan_object(struct azure_scan *s)
{
    if (azure_scan_peek(s) == '{')
        return enter(s, '{');
    (void)azure_scan_skip(s);
    return false;
}

bool azure_scan_array(struct azure_scan *s)
{
    if (azure_scan_peek(s) == '[')
        return enter(s, '[');
    (void)azure_scan_skip(s);
    return false;
}

/* Before the next item of the innermost container: its closer (consumed: false) or, after
 * the first item, a comma. */
static bool next_item(struct azure_scan *s, char open)
{
    char close = open == '{' ? '}' : ']';

    ws(s);
    if (s->bad || s->depth == 0 || s->stack[s->depth - 1] != open || s->p == s->end)
        return fail(s);
    if (*s->p == close) {
        s->p++;
        s->depth--;
        return false;
    }
    if (!s->fresh[s->depth - 1]) {
        if (*s->p != ',')
            return fail(s);
        s->p++;
        ws(s);
        if (s->p < s->end && *s->p == close)
            return fail(s); /* a trailing comma */
    }
    s->fresh[s->depth - 1] = false;
    return true;
}

/* Decodes the string at s->p into a buffer of its raw size: (re)allocated *buf of *cap, or a
 * new one when cap is NULL. A first pass checks it and finds its end. */
static char *decode(struct azure_scan *s, char **buf, size_t *cap, size_t *len)
{
    const char *start = s->p;
    size_t raw;
    char *out;

    if (!string(s, NULL, NULL))
        return NULL;
    raw = (size_t)(s->p - start);
    if (cap == NULL) {
        out = xmalloc(raw);
    } else {
        if (raw > *cap) {
            *cap = raw + 64;
            *buf = xrealloc(*buf, *cap);
        }
        out = *buf;
    }
    s->p = start;
    (void)string(s, out, len); /* checked above: cannot fail */
    return out;
}

bool azure_scan_member(struct azure_scan *s)
{
    if (!next_item(s, '{'))
        return false;
    if (s->p == s->end || *s->p != '"')
        return fail(s);
    if (decode(s, &s->key, &s->key_cap, &s->key_len) == NULL)
        return false;
    ws(s);
    if (s->p == s->end || *s->p != ':')
        return fail(s);
    s->p++;
    return true;
}

bool azure_scan_element(struct azure_scan *s)
{
    return next_item(s, '[');
}

bool azure_scan_key_is(const struct azure_scan *s, const char *name)
{
    size_t n = strlen(name);

    return s->key_len == n && memcmp(s->key, name, n) == 0;
}

char *azure_scan_str(struct azure_scan *s)
{
    size_t len;

    if (azure_scan_peek(s) != '"') {
        (void)azure_scan_skip(s);
        return NULL;
    }
    return decode(s, NULL, NULL, &len);
}

bool azure_scan_true(struct azure_scan *s)
{
    bool t = azure_scan_peek(s) == 't';

    return azure_scan_skip(s) && t;
}

void azure_scan_take(char **field, char *value)
{
    free(*field);
    *field = value;
}

bool azure_scan_str_member(struct azure_scan *s, void *base, const struct azure_scan_field *fields)
{
    for (const struct azure_scan_field *f = fields; f->name != NULL; f++) {
        if (azure_scan_key_is(s, f->name)) {
            azure_scan_take((char **)((char *)base + f->offset), azure_scan_str(s));
            return true;
        }
    }
    return false;
}

void azure_scan_str_object(struct azure_scan *s, void *base, const struct azure_scan_field *fields)
{
    while (azure_scan_member(s)) {
        if (!azure_scan_str_member(s, base, fields))
            (void)azure_scan_skip(s);
    }
}

bool azure_scan_done(struct azure_scan *s)
{
    ws(s);
    return !s->bad && s->depth == 0 && s->p == s->end;
}

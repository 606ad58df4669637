/* model_vm.c: what vmlogind judges about one observed VM: whether its OS can run
 * AADLoginForWindows (by build when the VM agent reported it, by marketplace image otherwise),
 * whether it runs, which extension is the login extension, and its login state. Pure: no I/O,
 * no allocation. Desired-state inputs (coverage, exclusions) arrive as plain facts. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/model.h"

static bool is_empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

static bool ieq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}

static void verdict(struct model_os_verdict *out, enum model_os_support s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void verdict(struct model_os_verdict *out, enum model_os_support s, const char *fmt, ...)
{
    va_list ap;

    out->support = s;
    va_start(ap, fmt);
    (void)vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
    va_end(ap);
}

/* Reads a decimal number of at most 9 digits at *p, advancing it. */
static bool read_num(const char **p, int *out)
{
    int v = 0;
    int digits = 0;

    while (isdigit((unsigned char)**p) && digits < 9) {
        v = v * 10 + (**p - '0');
        (*p)++;
        digits++;
    }
    *out = v;
    return digits > 0 && !isdigit((unsigned char)**p);
}

bool model_os_build(const char *os_version, int *major, int *minor, int *build)
{
    if (os_version == NULL)
        return false;
    for (const char *s = os_version; *s != '\0'; s++) {
        const char *p = s;

        if (!isdigit((unsigned char)*s) || (s > os_version && isdigit((unsigned char)s[-1])))
            continue;
        if (!read_num(&p, major) || *p++ != '.')
            continue;
        if (!read_num(&p, minor) || *p++ != '.')
            continue;
        if (read_num(&p, build))
            return true;
    }
    return false;
}

static void judge_build(int major, int minor, int build, struct model_os_verdict *out)
{
    if (major < 10 || (major == 10 && build < MODEL_MIN_WINDOWS_BUILD)) {
        verdict(out, MODEL_OS_UNSUPPORTED,
                "Windows build %d.%d.%d is older than %d (Windows Server 2019 / Windows 10 1809)",
                major, minor, build, MODEL_MIN_WINDOWS_BUILD);
        return;
    }
    verdict(out, MODEL_OS_SUPPORTED, "Windows build %d.%d.%d (>= %d)", major, minor, build,
            MODEL_MIN_WINDOWS_BUILD);
}

/* ---- marketplace images ------------------------------------------------------------------ */

/* Windows 10 release names in SKUs: rs1..rs5 are 1607..1809; "19h1" and later are newer. */
static const struct {
    const char *token;
    int release; /* YYMM */
} win10_releases[] = {
    {"rs1", 1607}, {"rs2", 1703}, {"rs3", 1709}, {"rs4", 1803}, {"rs5", 1809},
};

/* The next '-' or '_' separated token of s into tok; false at the end. */
static bool next_token(const char **s, char *tok, size_t cap)
{
    size_t n = 0;

    while (**s == '-' || **s == '_')
        (*s)++;
    if (**s == '\0')
        return false;
    while (**s != '\0' && **s != '-' && **s != '_') {
        if (n + 1 < cap)
            tok[n++] = (char)tolower((unsigned char)**s);
        (*s)++;
    }
    tok[n] = '\0';
    return true;
}

/* A Windows 10 / Server semi-annual release in a token: "1809", "21h2", "rs5". 0 if none. */
static int token_release(const char *t)
{
    size_t n = strlen(t);

    for (size_t i = 0; i < sizeof(win10_releases) / sizeof(win10_releases[0]); i++) {
        if (strcmp(t, win10_releases[i].token) == 0)
            return win10_releases[i].release;
    }
    if (n == 4 && isdigit((unsigned char)t[0]) && isdigit((unsigned char)t[1]) && t[2] == 'h' &&
        (t[3] == '1' || t[3] == '2'))
        return (t[0] - '0') * 1000 + (t[1] - '0') * 100 + (t[3] == '1' ? 3 : 9);
    if (n == 4 && strspn(t, "0123456789") == 4 && t[0] == '1' && (t[2] == '0' || t[2] == '1'))
        return (t[0] - '0') * 1000 + (t[1] - '0') * 100 + (t[2] - '0') * 10 + (t[3] - '0');
    return 0;
}

/* A Windows Server year in a token: "2019", "ws2019", "2012r2" -> 2012. 0 if none. */
static int token_server_year(const char *t)
{
    int y = 0;

    if (strncmp(t, "ws", 2) == 0)
        t += 2;
    if (strncmp(t, "20", 2) != 0 || strspn(t, "0123456789") < 4)
        return 0;
    for (int i = 0; i < 4; i++)
        y = y * 10 + (t[i] - '0');
    return y >= 2008 && y <= 2099 ? y : 0;
}

struct image_hints {
    int server_year; /* Windows Server 2016, 2019, ... */
    int release;     /* Windows 10 / semi-annual release YYMM */
    bool win10;
    bool win11;
};

static void scan_hints(const char *s, struct image_hints *h)
{
    char tok[64];

    while (s != NULL && next_token(&s, tok, sizeof(tok))) {
        if (strcmp(tok, "win11") == 0)
            h->win11 = true;
        if (strcmp(tok, "win10") == 0)
            h->win10 = true;
        if (h->server_year == 0)
            h->server_year = token_server_year(tok);
        if (h->release == 0)
            h->release = token_release(tok);
    }
}

static void judge_image(const struct model_os_facts *f, struct model_os_verdict *out)
{
    struct image_hints h = {0};
    const char *pub = f->image_publisher != NULL ? f->image_publisher : "";
    const char *offer = f->image_offer != NULL ? f->image_offer : "";
    const char *sku = f->image_sku != NULL ? f->image_sku : "";

    scan_hints(offer, &h);
    scan_hints(sku, &h);
    if (ieq(offer, "Windows-11") || h.win11) {
        verdict(out, MODEL_OS_SUPPORTED, "marketplace image %s/%s/%s: Windows 11", pub, offer, sku);
        return;
    }
    if (ieq(offer, "Windows-10") || h.win10) {
        if (h.release >= 1809)
            verdict(out, MODEL_OS_SUPPORTED, "marketplace image %s/%s/%s: Windows 10 %d", pub,
                    offer, sku, h.release);
        else if (h.release > 0)
            verdict(out, MODEL_OS_UNSUPPORTED,
                    "marketplace image %s/%s/%s: Windows 10 %d is older than 1809", pub, offer, sku,
                    h.release);
        else
            verdict(out, MODEL_OS_UNKNOWN,
                    "marketplace image %s/%s/%s: Windows 10 release not recognised", pub, offer,
                    sku);
        return;
    }
    if (h.server_year == 0 && ieq(pub, "MicrosoftWindowsServer") && h.release > 0) {
        /* semi-annual channel: Datacenter-Core-1809-with-Containers */
        h.server_year = h.release >= 1809 ? 2019 : 2016;
    }
    if (h.server_year >= 2019) {
        verdict(out, MODEL_OS_SUPPORTED, "marketplace image %s/%s/%s: Windows Server %d", pub,
                offer, sku, h.server_year);
        return;
    }
    if (h.server_year > 0) {
        verdict(out, MODEL_OS_UNSUPPORTED,
                "marketplace image %s/%s/%s: Windows Server %d is older than 2019", pub, offer, sku,
                h.server_year);
        return;
    }
    verdict(out, MODEL_OS_UNKNOWN, "marketplace image %s/%s/%s not recognised", pub, offer, sku);
}

/* osName like "Windows Server 2016 Datacenter" or "Windows 11 Pro", when no build is known. */
static bool judge_os_name(const char *name, struct model_os_verdict *out)
{
    const char *p;
    int year;

    if (is_empty(name))
        return false;
    p = strcasestr(name, "Windows Server ");
    if (p != NULL) {
        p += strlen("Windows Server ");
        year = token_server_year(p);
        if (year == 0)
            return false;
        verdict(out, year >= 2019 ? MODEL_OS_SUPPORTED : MODEL_OS_UNSUPPORTED,
                year >= 2019 ? "OS %s" : "OS %s is older than Windows Server 2019", name);
        return true;
    }
    if (strcasestr(name, "Windows 11") != NULL) {
        verdict(out, MODEL_OS_SUPPORTED, "OS %s", name);
        return true;
    }
    return false;
}

void model_os_support(const struct model_os_facts *f, struct model_os_verdict *out)
{
    int major;
    int minor;
    int build;

    *out = (struct model_os_verdict){0};
    if (ieq(f->os_type, "Linux")) {
        verdict(out, MODEL_OS_UNSUPPORTED, "Linux: use AADSSHLoginForLinux");
        return;
    }
    if (!is_empty(f->os_type) && !ieq(f->os_type, "Windows")) {
        verdict(out, MODEL_OS_UNSUPPORTED, "OS type %s is not Windows", f->os_type);
        return;
    }
    if (model_os_build(f->os_version, &major, &minor, &build)) {
        judge_build(major, minor, build, out);
        return;
    }
    if (judge_os_name(f->os_name, out))
        return;
    if (!is_empty(f->image_publisher) || !is_empty(f->image_offer) || !is_empty(f->image_sku)) {
        judge_image(f, out);
        return;
    }
    if (!is_empty(f->image_id)) {
        verdict(out, MODEL_OS_UNKNOWN,
                "custom image without a reported OS build: known once the VM agent reports it");
        return;
    }
    verdict(out, MODEL_OS_UNKNOWN, "no OS build and no image reference known");
}

enum model_os_edition model_os_edition(const struct model_os_facts *f)
{
    struct image_hints h = {0};

    if (!is_empty(f->os_name) && strcasestr(f->os_name, "Windows Server") != NULL)
        return MODEL_OS_EDITION_SERVER;
    if (!is_empty(f->os_name) && (strcasestr(f->os_name, "Windows 10") != NULL ||
                                  strcasestr(f->os_name, "Windows 11") != NULL))
        return MODEL_OS_EDITION_CLIENT;
    if (ieq(f->image_publisher, "MicrosoftWindowsServer") || ieq(f->image_offer, "WindowsServer"))
        return MODEL_OS_EDITION_SERVER;
    if (ieq(f->image_publisher, "MicrosoftWindowsDesktop") || ieq(f->image_offer, "Windows-10") ||
        ieq(f->image_offer, "Windows-11"))
        return MODEL_OS_EDITION_CLIENT;
    scan_hints(f->image_offer, &h);
    scan_hints(f->image_sku, &h);
    if (h.win10 || h.win11)
        return MODEL_OS_EDITION_CLIENT;
    return MODEL_OS_EDITION_UNKNOWN;
}

const char *model_os_support_str(enum model_os_support s)
{
    switch (s) {
    case MODEL_OS_SUPPORTED:
        return "supported";
    case MODEL_OS_UNSUPPORTED:
        return "unsupported";
    case MODEL_OS_UNKNOWN:
        break;
    }
    return "unknown";
}

bool model_power_running(const char *power_state)
{
    if (power_state == NULL)
        return false;
    if (strncasecmp(power_state, "PowerState/", 11) == 0)
        power_state += 11;
    return strcasecmp(power_state, "running") == 0;
}

bool model_is_aadlogin_extension(const char *publisher, const char *type)
{
    return ieq(publisher, MODEL_AADLOGIN_PUBLISHER) && ieq(type, MODEL_AADLOGIN_TYPE);
}

/* ---- login state ------------------------------------------------------------------------- */

static const char *const login_state_names[MODEL_LOGIN_STATE_COUNT] = {
    [MODEL_LOGIN_NOT_COVERED] = "notCovered",  [MODEL_LOGIN_ENABLED] = "enabled",
    [MODEL_LOGIN_PENDING] = "pending",         [MODEL_LOGIN_FAILED] = "failed",
    [MODEL_LOGIN_UNSUPPORTED] = "unsupported", [MODEL_LOGIN_EXCLUDED] = "excluded",
};

const char *model_login_state_str(enum model_login_state s)
{
    if ((int)s < 0 || (int)s >= MODEL_LOGIN_STATE_COUNT)
        return "notCovered";
    return login_state_names[s];
}

bool model_login_state_parse(const char *s, enum model_login_state *out)
{
    for (int i = 0; s != NULL && i < MODEL_LOGIN_STATE_COUNT; i++) {
        if (strcasecmp(s, login_state_names[i]) == 0) {
            *out = (enum model_login_state)i;
            return true;
        }
    }
    return false;
}

enum model_login_state model_login_state(const struct model_login_facts *f)
{
    if (f->has_extension) {
        if (ieq(f->ext_provisioning, "Succeeded"))
            return MODEL_LOGIN_ENABLED;
        if (ieq(f->ext_provisioning, "Failed") || ieq(f->ext_provisioning, "Canceled"))
            return MODEL_LOGIN_FAILED;
        return MODEL_LOGIN_PENDING;
    }
    if (!f->covered)
        return MODEL_LOGIN_NOT_COVERED;
    if (f->excluded)
        return MODEL_LOGIN_EXCLUDED;
    if (f->os == MODEL_OS_UNSUPPORTED)
        return MODEL_LOGIN_UNSUPPORTED;
    return MODEL_LOGIN_PENDING;
}

/* watch.c: what --wait and operation watch show while an operation runs: the VMs done, failed
 * and pending and the slowest step (the VM longest in its current step), as one line that a
 * terminal redraws in place and a pipe or log gets once per change. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static bool is(const char *s, const char *a, const char *b)
{
    return strcmp(s, a) == 0 || (b != NULL && strcmp(s, b) == 0);
}

/* Keeps vm as the slowest when it has been in its step longer than the one found so far. */
static void consider_slowest(struct cli_progress *p, const json_t *vm, time_t now)
{
    time_t since;
    const char *id = jstr(vm, "id"), *slash = strrchr(id, '/');

    if (!cli_time_parse(jstr(vm, "updatedAt"), &since))
        since = now;
    if (p->slowest_vm[0] != '\0' && now - since <= p->slowest_s)
        return;
    p->slowest_s = now - since < 0 ? 0 : (long long)(now - since);
    snprintf(p->slowest_vm, sizeof(p->slowest_vm), "%s", slash ? slash + 1 : id);
    snprintf(p->slowest_step, sizeof(p->slowest_step), "%s",
             jstr(vm, "step")[0] ? jstr(vm, "step") : jstr(vm, "status"));
}

void cli_progress_of(const json_t *op, time_t now, struct cli_progress *p)
{
    size_t i;
    const json_t *vm;
    time_t created;

    memset(p, 0, sizeof(*p));
    snprintf(p->status, sizeof(p->status), "%s", jstr(op, "status"));
    json_array_foreach(json_object_get(op, "virtualMachines"), i, vm)
    {
        const char *st = jstr(vm, "status");
        if (is(st, "Succeeded", "Skipped")) {
            p->done++;
        } else if (is(st, "Failed", "Canceled")) {
            p->failed++;
        } else {
            p->pending++;
            consider_slowest(p, vm, now);
        }
    }
    if (cli_time_parse(jstr(op, "createdAt"), &created) && now >= created)
        p->elapsed_s = (long long)(now - created);
}

/* "1m 05s", "2h 13m", "12s". */
static void span(long long s, char *out, size_t cap)
{
    if (s >= 3600)
        snprintf(out, cap, "%lldh %02lldm", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(out, cap, "%lldm %02llds", s / 60, s % 60);
    else
        snprintf(out, cap, "%llds", s);
}

static const char *status_color(const char *st)
{
    if (strcmp(st, "Succeeded") == 0)
        return "\033[32m";
    if (strcmp(st, "Failed") == 0 || strcmp(st, "Canceled") == 0)
        return "\033[31m";
    return "\033[33m";
}

void cli_progress_format(const struct cli_progress *p, bool color, bool with_times, char *out,
                         size_t cap)
{
    char slow[200] = "", el[40] = "";
    int n;

    if (p->slowest_vm[0] != '\0') {
        char age[32] = "";
        if (with_times)
            span(p->slowest_s, age, sizeof(age));
        snprintf(slow, sizeof(slow), ", slowest: %s %s%s%s%s", p->slowest_vm, p->slowest_step,
                 with_times ? " (" : "", age, with_times ? ")" : "");
    }
    if (with_times) {
        char t[32];
        span(p->elapsed_s, t, sizeof(t));
        snprintf(el, sizeof(el), " [%s]", t);
    }
    n = snprintf(out, cap, "%s%s%s: %d done, %d failed, %d pending%s%s",
                 color ? status_color(p->status) : "", p->status, color ? "\033[0m" : "", p->done,
                 p->failed, p->pending, slow, el);
    if (n < 0 && cap > 0)
        out[0] = '\0';
}

/* log.c: one key=value line per event on stderr, written with a single write(2) so lines from
 * different threads never interleave. It knows nothing of secrets: callers never pass them. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmlogind/clock.h"
#include "vmlogind/log.h"

static _Atomic int level = LOG_INFO;
static const char *names[] = {"debug", "info", "warn", "error", "off"};

void log_set_level(enum log_level lvl)
{
    level = lvl;
}

enum log_level log_get_level(void)
{
    return (enum log_level)level;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i <= LOG_OFF; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 1;
        }
    }
    return 0;
}

static void vlog(enum log_level lvl, const char *event, const char *fmt, va_list ap)
{
    char line[4096], ts[32];
    int n, m;

    if ((int)lvl < level || lvl >= LOG_OFF)
        return;
    clock_fmt_rfc3339(clock_now_ms(), ts, sizeof(ts));
    n = snprintf(line, sizeof(line), "ts=%s level=%s msg=%s", ts, names[lvl], event);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(line) - 2 && fmt != NULL && fmt[0] != '\0') {
        line[n++] = ' ';
        m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        if (m < 0)
            m = 0;
        n += m;
    }
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}

void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(lvl, event, fmt, ap);
    va_end(ap);
}

void fatalx(const char *event, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(LOG_ERROR, event, fmt, ap);
    va_end(ap);
    exit(1);
}

const char *log_q(char *buf, size_t cap, const char *s)
{
    size_t o = 0;

    if (cap < 3) {
        if (cap > 0)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (; s != NULL && *s != '\0' && o + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            buf[o++] = '?';
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

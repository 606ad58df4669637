/* log.h: single-line key=value logs on stderr with levels. Never pass a secret. */
#ifndef VMLOGIND_LOG_H
#define VMLOGIND_LOG_H

#include "vmlogind/err.h"

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* Parses "debug|info|warn|error|off"; returns false if unknown. */
int log_level_parse(const char *s, enum log_level *out);

/* fmt produces the key=value tail, e.g. log_info("start", "port=%d", p). The event name is
 * written as msg=. Values with spaces should be quoted by the caller with log_q(). */
void log_msg(enum log_level lvl, const char *event, const char *fmt, ...) VL_PRINTF(3, 4);
#define log_debug(ev, ...) log_msg(LOG_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...) log_msg(LOG_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...) log_msg(LOG_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_msg(LOG_ERROR, ev, __VA_ARGS__)

/* Quotes s for a log value into buf (escaping quotes, newlines and control bytes); returns buf. */
const char *log_q(char *buf, size_t cap, const char *s);

/* Logs at error level and exits 1. Only for start-up failures and broken invariants. */
__attribute__((noreturn)) void fatalx(const char *event, const char *fmt, ...) VL_PRINTF(2, 3);

#endif

/* clock.h: wall and monotonic time, and RFC 3339 formatting/parsing (UTC). */
#ifndef VMLOGIND_CLOCK_H
#define VMLOGIND_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int64_t clock_now_ms(void);  /* wall clock, ms since the epoch */
int64_t clock_mono_ms(void); /* monotonic, ms */
/* "2026-11-27T11:44:31Z" (or with .mmm when ms % 1000 != 0). buf needs 32 bytes. */
const char *clock_fmt_rfc3339(int64_t epoch_ms, char *buf, size_t cap);
/* Parses RFC 3339 with Z or +hh:mm offset, optional fraction; false if malformed. */
bool clock_parse_rfc3339(const char *s, int64_t *epoch_ms);
/* Sleeps ms milliseconds (interruptible by signals: returns early). */
void clock_sleep_ms(int64_t ms);

#endif

/* store_events.h: the bounded event log (migrations/0014_events.sql). Triggers on operations,
 * their items, login grants, per-VM login state and sync runs write it; this only reads it.
 * seq is never reused and the log keeps the newest STORE_EVENTS_KEEP rows. */
#ifndef VMLOGIND_STORE_EVENTS_H
#define VMLOGIND_STORE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "vmlogind/err.h"

struct store;

#define STORE_EVENTS_KEEP 10000 /* the trim of events_trim in 0014_events.sql */

struct store_event {
    int64_t seq;
    int64_t at;
    char *type;  /* operation.progress grant.changed login.changed sync.finished */
    char *scope; /* lowercase ARM id the event is about; NULL: fleet-wide */
    char *data;  /* a JSON object, compact (no newline) */
};
void store_event_clear(struct store_event *e);
void store_event_list_free(struct store_event *list, size_t n);

/* The oldest and newest seq kept (both 0 when the log is empty). */
enum err store_events_bounds(struct store *st, int64_t *oldest, int64_t *newest,
                             struct err_detail *d) VL_MUST_CHECK;
/* Up to limit events with seq > after, oldest first; *out is the caller's
 * (store_event_list_free). */
enum err store_events_after(struct store *st, int64_t after, size_t limit, struct store_event **out,
                            size_t *n, struct err_detail *d) VL_MUST_CHECK;

/* Writes one event no table's trigger can (type one of 0015's list; scope lowercase or NULL;
 * data a JSON object), and with it the webhook deliveries it matches. */
enum err store_events_emit(struct store *st, int64_t at, const char *type, const char *scope,
                           const char *data, struct err_detail *d) VL_MUST_CHECK;

#endif

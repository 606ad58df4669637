/* http_internal.h: what the files of server/http share and nobody else sees. */
#ifndef VMLOGIND_HTTP_INTERNAL_H
#define VMLOGIND_HTTP_INTERNAL_H

#include <microhttpd.h>

#include "vmlogind/http.h"

/* Frees the request and everything it owns. */
void http_request_release(struct http_request *req);

/* http_mhd_errors.c: turns libmicrohttpd's own HTML error answers into problem+json (call
 * once before starting a daemon). */
void http_mhd_errors_init(void);

/* http_guard.c: connection tracking against slow clients (per-IP limit, a reserve near the
 * connection limit, header and body deadlines that trickled bytes do not extend). */
enum http_guard_reason {
    HTTP_GUARD_HEADER_TIMEOUT = 0,
    HTTP_GUARD_BODY_TIMEOUT,
    HTTP_GUARD_PER_IP,
    HTTP_GUARD_RESERVE,
    HTTP_GUARD_REFUSED_PER_IP,
    HTTP_GUARD_NREASONS
};
struct http_guard;
/* Starts the sweeper thread; limits come from o. http_guard_free stops and frees it. */
struct http_guard *http_guard_new(const struct http_options *o);
void http_guard_free(struct http_guard *g);
/* The MHD_OPTION_NOTIFY_CONNECTION callback (cls: g): registers, limits and forgets. */
void http_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);
/* Phase changes of a connection's current request: headers complete (the access handler's
 * first call), body complete (the handler runs next, or an early answer is queued), request
 * completed (back to waiting for headers). */
void http_guard_headers_done(struct MHD_Connection *conn);
void http_guard_body_done(struct MHD_Connection *conn);
void http_guard_request_done(struct MHD_Connection *conn);
/* Prometheus text: open connections, and closes by reason. */
enum err http_guard_metrics(struct http_guard *g, struct buf *out) VL_MUST_CHECK;

/* http_cors.c: the allowed browser origins (cors_allowed_origins). *out is NULL when the list
 * is empty (CORS off); ERR_INVALID naming the entry that is not an exact origin. */
struct http_cors;
enum err http_cors_parse(const char *list, struct http_cors **out,
                         struct err_detail *d) VL_MUST_CHECK;
void http_cors_free(struct http_cors *c);
/* Adds the CORS headers a request from a listed Origin gets; answers a preflight (OPTIONS with
 * Access-Control-Request-Method) from the route table and returns true then. */
bool http_cors_apply(const struct http_cors *c, struct http_request *req,
                     const struct route *routes, size_t nroutes);

#endif

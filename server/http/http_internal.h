/* http_internal.h: what the files of server/http share and nobody else sees. */
#ifndef VMLOGIND_HTTP_INTERNAL_H
#define VMLOGIND_HTTP_INTERNAL_H

#include "vmlogind/http.h"

/* Frees the request and everything it owns. */
void http_request_release(struct http_request *req);

#endif

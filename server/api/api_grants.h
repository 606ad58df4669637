/* api_grants.h: what api_grants.c shares with api_access.c and api_rdp.c inside the api layer. */
#ifndef VMLOGIND_API_GRANTS_H
#define VMLOGIND_API_GRANTS_H

#include <stdbool.h>

#include "vmlogind/http.h"
#include "vmlogind/model_grant.h"

/* The scope named by the path parameters s, rg and name (rg and name optional), normalised;
 * replies 400 "invalid_scope" and returns false when they do not form one. */
bool api_grants_path_scope(struct http_request *req, struct model_scope *out);

/* Percent-encodes s for a query value (request-owned). */
char *api_grants_query_escape(struct http_request *req, const char *s);

#endif

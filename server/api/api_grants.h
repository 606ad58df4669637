/* api_grants.h: what api_grants.c shares with api_access.c and api_rdp.c inside the api layer. */
#ifndef VMLOGIND_API_GRANTS_H
#define VMLOGIND_API_GRANTS_H

#include <stdbool.h>

#include "vmlogind/http.h"
#include "vmlogind/model_grant.h"
#include "vmlogind/store_grants.h"

/* The scope named by the path parameters s, rg and name (rg and name optional), normalised;
 * replies 400 "invalid_scope" and returns false when they do not form one. */
bool api_grants_path_scope(struct http_request *req, struct model_scope *out);

/* The shared steps of POST /v1/loginGrants, which just-in-time login (api_jit.c) takes too. */

/* The principal of spec as the inventory sync knows it: fills id (UUID_STR_LEN) and *ptype, or
 * replies 4xx (guests, disabled and deleted accounts, a type mismatch) and returns false.
 * *known is false when the store has not seen it (the reconciler will ask Graph). */
bool api_grants_resolve(struct http_request *req, const struct model_grant_spec *spec, char *id,
                        const char **ptype, bool *known);
/* May the caller grant or revoke this (action)? Replies 403/400, audits a refusal and returns
 * false if not; see api_grants.c for deferred. */
bool api_grants_check_delegation(struct http_request *req, const char *action, const char *scope,
                                 const char *role, const char *principal_type,
                                 const char *principal_id, bool type_unverified, bool *deferred);
/* Inside a write: records the grant spec describes (to principal_id of type ptype, created by
 * the request's subject, linked to activation_id when not NULL) with its task and audit row, or
 * finds the live grant of the same assignment (*existing). False after replying an error. */
bool api_grants_submit(struct http_request *req, const struct model_grant_spec *spec,
                       const char *principal_id, const char *ptype, const char *payload,
                       const char *activation_id, struct store_grant *out, bool *existing);
/* Replies 400 with vs: "management_group_scope" when one of them is that, else
 * "validation_failed" with title. */
void api_grants_reply_invalid(struct http_request *req, const struct violations *vs,
                              const char *title);

/* The limit query parameter of a list: 100 when absent, else 1 to 1000; false when malformed. */
bool api_grants_query_limit(struct http_request *req, int *limit);

/* Percent-encodes s for a query value (request-owned). */
char *api_grants_query_escape(struct http_request *req, const char *s);

#endif

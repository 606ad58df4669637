/* http_problem.c: the problem registry, the one table of every code an error reply can carry,
 * with its status and title, and the one reply that uses it. The generic rows (one per enum err,
 * named by err_str) catch every failure whose own code is not registered. api/openapi.yaml
 * publishes the same rows as x-problem-codes (test_problem_registry holds them equal). */
#include <stdio.h>
#include <string.h>

#include "vmlogind/http_problem.h"
#include "vmlogind/log.h"

#define ROW(c, s, t)                                                                               \
    {                                                                                              \
        .code = (c), .status = (s), .title = (t)                                                   \
    }
/* a row whose detail (an SQLite message naming tables and statements) stays in the log */
#define INTERNAL(c, s, t)                                                                          \
    {                                                                                              \
        .code = (c), .status = (s), .title = (t), .internal = true                                 \
    }

const struct http_problem_row http_problems[] = {
    /* generic: one per enum err (err_str) */
    INTERNAL("invalid", 400, "the request is not valid"),
    ROW("unauthorized", 401, "authentication is required"),
    ROW("forbidden", 403, "the caller may not do this"),
    ROW("not_found", 404, "no such resource"),
    INTERNAL("conflict", 409, "the request conflicts with the current state"),
    INTERNAL("precondition", 412, "a precondition of the request does not hold"),
    ROW("too_large", 413, "the request is too large"),
    ROW("unsupported_media", 415, "the media type is not supported"),
    ROW("rate_limited", 429, "too many requests; retry after the time given"),
    ROW("internal", 500, "an internal error occurred"),
    ROW("cloud", 502, "Azure answered with an error"),
    ROW("store", 503, "the store is unavailable"),
    ROW("cloud_throttled", 503, "Azure is throttling requests"),
    ROW("unavailable", 503, "the service is unavailable"),
    ROW("timeout", 504, "a dependency did not answer in time"),
    INTERNAL("missing_reference", 412, "the request refers to something that does not exist"),
    /* the HTTP core */
    ROW("malformed_request", 400, "the request is not valid HTTP/1.1"),
    ROW("malformed_json", 400, "the body is not valid JSON"),
    ROW("duplicate_key", 400, "the body has a duplicate key"),
    ROW("body_required", 400, "the request needs a JSON body"),
    ROW("validation_failed", 400, "the body or a parameter is not valid (errors[] lists each)"),
    ROW("method_not_allowed", 405, "the method is not allowed on this path (see Allow)"),
    ROW("cors_origin_not_allowed", 403, "this browser origin may not call the API"),
    ROW("body_too_large", 413, "the body is larger than the limit"),
    ROW("uri_too_long", 414, "the request target is too long"),
    ROW("too_many_query_parameters", 414, "the query has too many parameters"),
    ROW("unsupported_media_type", 415, "send the body as application/json"),
    ROW("request_too_large", 431, "the request line or headers are too large"),
    ROW("headers_too_large", 431, "the request headers are too large"),
    /* authentication and authorization */
    ROW("unauthenticated", 401, "no credential was sent"),
    ROW("unsupported_scheme", 401, "the Authorization scheme is not Bearer"),
    ROW("invalid_api_key", 401, "the API key is not valid"),
    ROW("api_key_revoked", 401, "the API key was revoked"),
    ROW("jwt_not_configured", 401, "tokens are not accepted: no tenant is configured"),
    ROW("invalid_token", 401, "the token is not valid"),
    ROW("token_too_large", 401, "the token is too large"),
    ROW("unsupported_alg", 401, "the token's algorithm is not accepted"),
    ROW("unknown_kid", 401, "the token's signing key is not known"),
    ROW("invalid_signature", 401, "the token's signature does not verify"),
    ROW("invalid_issuer", 401, "the token's issuer is not accepted"),
    ROW("invalid_audience", 401, "the token's audience is not accepted"),
    ROW("invalid_tenant", 401, "the token's tenant is not accepted"),
    ROW("token_expired", 401, "the token has expired"),
    ROW("token_not_yet_valid", 401, "the token is not valid yet"),
    ROW("token_lifetime_too_long", 401, "the token's lifetime is too long"),
    ROW("insufficient_role", 403, "the caller's role does not allow this"),
    ROW("scope_forbidden", 403, "the scope is outside the caller's scopes"),
    ROW("grant_role_forbidden", 403, "the caller may not grant or revoke this login role"),
    ROW("principal_type_forbidden", 403, "the caller may not grant to this kind of principal"),
    ROW("principal_not_member", 403, "the principal is outside the caller's group"),
    ROW("auth_failed", 500, "the caller could not be checked"),
    ROW("auth_unavailable", 503, "authentication is not set up"),
    ROW("jwks_unavailable", 503, "the tenant's signing keys could not be fetched yet"),
    ROW("jwks_refreshing", 503, "the tenant's signing keys are being refreshed"),
    /* writes: Idempotency-Key and audit */
    ROW("invalid_idempotency_key", 400, "the Idempotency-Key header is malformed"),
    ROW("idempotency_in_progress", 409, "the first request with this Idempotency-Key is running"),
    ROW("idempotency_key_reused", 422, "the Idempotency-Key was used for a different request"),
    ROW("audit_unavailable", 503, "the change was not made: its audit record could not be written"),
    /* writes: If-Match and If-None-Match */
    ROW("invalid_precondition", 400, "the If-Match or If-None-Match header is malformed"),
    ROW("precondition_failed", 412,
        "the resource's ETag does not satisfy If-Match or If-None-Match"),
    /* resources */
    ROW("invalid_query", 400, "a query parameter is not valid"),
    ROW("invalid_scope", 400, "the scope is not valid"),
    ROW("invalid_limit", 400, "limit is out of range"),
    ROW("management_group_scope", 400, "management-group scopes are refused"),
    ROW("vm_not_found", 404, "no such VM in the inventory"),
    ROW("vm_not_in_inventory", 404, "the VM is not in the inventory yet; a look was queued"),
    ROW("grant_not_found", 404, "no such login grant"),
    ROW("sweep_not_found", 404, "no such sweep"),
    ROW("operation_not_found", 404, "no such operation"),
    ROW("principal_not_found", 404, "no such principal"),
    ROW("grant_changed", 409, "the grant changed while it was being updated"),
    ROW("grant_not_live", 409, "only a pending or active grant can be changed"),
    ROW("hostname_unknown", 409, "the VM's hostname is not known yet"),
    ROW("vm_not_running", 409, "the VM is not running"),
    ROW("mdm_unsupported_os", 422, "Windows Server VMs don't support MDM enrollment"),
    ROW("guest_principal", 422, "guests never receive a login grant"),
    ROW("principal_disabled", 422, "the account is disabled"),
    ROW("principal_deleted", 422, "the principal was deleted"),
    ROW("principal_type_unsupported", 422, "this kind of principal cannot receive a grant"),
    ROW("principal_type_mismatch", 422, "principal.type is not the directory's type"),
    ROW("operation_missing", 500, "the operation could not be read"),
    ROW("not_ready", 503, "the store is not open and migrated yet"),
    /* just-in-time login */
    ROW("eligibility_not_found", 404, "no such eligibility"),
    ROW("activation_not_found", 404, "no such activation"),
    ROW("not_eligible", 403, "the principal is not eligible for this role at this scope"),
    ROW("activation_needs_user", 403, "only a person activates for herself; others name her"),
    ROW("self_approval_forbidden", 403, "the requester may not approve or deny her own request"),
    ROW("not_an_approver", 403, "the caller is not an approver of this activation"),
    ROW("activation_not_pending", 409, "the activation is not waiting for approval"),
    ROW("already_active", 409, "the principal already holds this login at this scope"),
    ROW("activation_changed", 409, "the activation changed while it was being updated"),
    /* live events */
    ROW("invalid_last_event_id", 400, "the Last-Event-ID header is not an event id"),
    ROW("too_many_streams", 503, "too many event streams are open; retry after the time given"),
    /* webhooks */
    ROW("webhook_not_found", 404,
        "no webhook subscription with this id within the caller's scopes"),
    ROW("delivery_not_found", 404, "the webhook subscription has no delivery with this id"),
    ROW("webhook_host_not_allowed", 400, "the webhook URL's host is not in webhook_allowed_hosts"),
    ROW("webhook_https_required", 400,
        "the webhook URL must be https (http only to a listed loopback host)"),
    ROW("webhook_limit_reached", 409, "the most webhook subscriptions exist; delete one first"),
};

const size_t http_problems_count = sizeof(http_problems) / sizeof(http_problems[0]);

const struct http_problem_row *http_problem_find(const char *code)
{
    for (size_t i = 0; code != NULL && i < http_problems_count; i++)
        if (strcmp(http_problems[i].code, code) == 0)
            return &http_problems[i];
    return NULL;
}

void http_problem_reply(struct http_request *req, const char *code, const char *detail,
                        const struct violations *vs)
{
    const struct http_problem_row *row = http_problem_find(code);

    if (row == NULL) {
        log_error("problem_unregistered", "request_id=%s code=%s", req->request_id,
                  code ? code : "");
        http_reply_problem(req, 500, "internal", detail, NULL);
        return;
    }
    if (row->internal && detail != NULL) {
        char q[600];
        log_warn("problem_detail_withheld", "request_id=%s code=%s detail=%s", req->request_id,
                 row->code, log_q(q, sizeof(q), detail));
        detail = row->title;
    }
    http_reply_problem(req, row->status, row->code, detail, vs);
}

/* api_audit_verify.c: GET /v1/audit/verification: walks the audit hash chain now and holds it
 * to the signed checkpoints in the database (what `vmlogind audit verify` does without the
 * checkpoint file), for the dashboard's Audit view. Administrators without scope limits, like
 * the log itself. A broken chain is an answer (200, intact false), not an error. */
#include "vmlogind/api.h"
#include "vmlogind/auth.h"
#include "vmlogind/clock.h"
#include "vmlogind/store.h"

void api_audit_verify_get(struct http_request *req)
{
    struct app *app = req->app;
    const struct auth_caller *c = api_caller(req);
    struct store_audit_report r = {0};
    struct err_detail d = {{0}, {0}};
    char at[32];
    enum err rc;

    /* The chain spans every scope, so a scope-limited caller may not see it (as the log). */
    if (c == NULL || c->nscopes != 0) {
        api_audit_denied(req, "audit.verify", "/", "scope_forbidden", 403);
        http_problem_reply(req, "scope_forbidden",
                           "the audit log is for administrators without scope limits", NULL);
        return;
    }
    rc = store_audit_verify_anchored(app->store, NULL, &r, &d);
    if (rc != ERR_OK && rc != ERR_CONFLICT) {
        http_reply_error(req, rc, &d);
        return;
    }
    http_reply_json(req, 200,
                    json_pack("{s:b, s:I, s:I, s:I, s:I, s:s*, s:s*, s:s}", "intact", rc == ERR_OK,
                              "rows", (json_int_t)r.rows, "brokenSeq", (json_int_t)r.broken_seq,
                              "checkpoints", (json_int_t)r.checkpoints, "checkpointSeq",
                              (json_int_t)r.checkpoint_seq, "code", rc == ERR_OK ? NULL : d.code,
                              "message", rc == ERR_OK ? NULL : d.msg, "checkedAt",
                              clock_fmt_rfc3339(clock_now_ms(), at, sizeof(at))));
}

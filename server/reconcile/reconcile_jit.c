/* reconcile_jit.c: lapses just-in-time activations that waited for approval too long. The task
 * is durable (queued with the activation), so a restart still lapses it at its time; the write
 * is conditional on the generation read, so an approval that lands first wins. */
#include <jansson.h>

#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/model_jit.h"
#include "vmlogind/reconcile_jit.h"
#include "vmlogind/store_jit.h"

#include <string.h>

void reconcile_activation(const struct reconcile_env *env, const struct store_task *task,
                          struct reconcile_result *res)
{
    struct store_activation a;
    struct err_detail d = {{0}, {0}};
    struct store_activation_update u = {.state =
                                            model_activation_state_str(ACTIVATION_STATE_EXPIRED),
                                        .decided_by = "reconciler",
                                        .reason = "no approval in time"};
    int64_t now = clock_now_ms();
    enum err rc = store_activation_get(env->store, task->key, &a, &d);

    if (rc == ERR_NOT_FOUND) {
        reconcile_done(res);
        return;
    }
    if (rc != ERR_OK) {
        reconcile_again(res, 0, "read activation: %s", d.msg);
        return;
    }
    if (!model_activation_state_is(a.state, ACTIVATION_STATE_PENDING)) {
        reconcile_done(res);
    } else if (now < a.pending_until) {
        reconcile_again(res, a.pending_until - now, "%s", "");
    } else {
        rc = store_activation_update(env->store, a.id, a.generation, &u, now, &d);
        if (rc == ERR_OK)
            rc = reconcile_audit(
                env, "activation.expire", a.scope, "succeeded",
                json_pack("{s:s, s:s}", "activationId", a.id, "principalId", a.principal_id), &d);
        if (rc == ERR_OK) {
            log_info("activation_expired", "activation=%s principal=%s", a.id, a.principal_id);
            reconcile_done(res);
        } else if (rc == ERR_CONFLICT) {
            reconcile_again(res, 1, "%s", "the activation changed meanwhile; read it again");
        } else {
            reconcile_again(res, 0, "lapse activation: %s", d.msg);
        }
    }
    store_activation_clear(&a);
}

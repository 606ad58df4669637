/* sim_lro.c: Compute long-running operations: start, time-based completion (scaled by
 * --time-scale and the lroDurationsMs fault setting), applying the outcome to the VM lazily on
 * the next access, and the Azure-AsyncOperation status and Location result resources. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "vmlogind/clock.h"
#include "vmlogind/xalloc.h"

static const struct {
    const char *kind;
    int64_t ms;
} DURATIONS[] = {
    {"vmUpdate", 10000}, {"extension", 90000}, {"extensionDelete", 30000}, {"runCommand", 20000}};

int64_t sim_lro_duration(const char *kind)
{
    const json_t *o = json_object_get(json_object_get(S.faults, "lroDurationsMs"), kind);
    double ms = 1000;

    if (json_is_number(o))
        return (int64_t)json_number_value(o);
    for (size_t i = 0; i < sizeof(DURATIONS) / sizeof(DURATIONS[0]); i++) {
        if (strcmp(DURATIONS[i].kind, kind) == 0)
            ms = (double)DURATIONS[i].ms;
    }
    return (int64_t)(ms * S.time_scale);
}

/* Per-scope faults (sim_faults.c) that shape an operation's outcome. */
static void scope_outcome(struct sim_req *r, const struct sim_vm *vm, struct sim_op *op)
{
    const json_t *f = sim_scope_fault(vm->id, r->op, NULL);
    const char *kind = json_string_value(json_object_get(f, "kind"));
    const char *code = NULL, *msg = NULL;
    char *owned = NULL;

    if (kind == NULL)
        return;
    if (strcmp(kind, "operationPreempted") == 0) {
        /* azure-wire.md section 7: a Canceled outcome with OperationPreempted */
        code = "OperationPreempted";
        msg = "Operation execution has been preempted by a more recent operation.";
    } else if (strcmp(kind, "extensionTimeout") == 0) {
        /* Extensions have a 90-minute provisioning timeout, then the extension is Failed
         * (https://learn.microsoft.com/troubleshoot/azure/virtual-machines/windows/
         * vm-extension-provisioning-timeout); 90 min scaled by --time-scale here. */
        code = "VMExtensionProvisioningTimeout";
        owned = xasprintf("Provisioning of VM extension %s has timed out. Extension provisioning "
                          "has taken too long to complete. The extension did not report a "
                          "message.",
                          op->ext_name ? op->ext_name : "");
        msg = owned;
        op->end_ms = op->start_ms + (int64_t)(90.0 * 60000.0 * S.time_scale);
    } else if (strcmp(kind, "agentNotReady") == 0) {
        /* the VM agent does not report: https://learn.microsoft.com/troubleshoot/azure/
         * virtual-machines/windows/windows-azure-guest-agent */
        code = "VMAgentStatusCommunicationError";
        owned = xasprintf("VM '%s' has not reported status for VM agent or extensions. Verify "
                          "that the OS is up and healthy, the VM has a running VM Agent, and "
                          "that it can establish outbound connections to Azure storage.",
                          vm->name);
        msg = owned;
    } else {
        return;
    }
    free(op->err_code);
    free(op->err_message);
    op->err_code = xstrdup(code);
    op->err_message = xstrdup(msg);
    free(owned);
}

struct sim_op *sim_op_start(struct sim_req *r, enum sim_op_kind kind, struct sim_vm *vm,
                            const char *ext_name, int64_t duration_ms)
{
    struct sim_op *op = xcalloc(1, sizeof(*op));
    const char *v = sim_query(r, "api-version");
    const json_t *outcome = json_object_get(json_object_get(S.faults, "lroOutcome"), r->op);

    uuid_v4(op->id);
    op->kind = kind;
    op->sub = xstrdup(vm->sub);
    op->location = xstrdup(vm->location);
    op->vm_key = xstrdup(vm->key);
    op->ext_name = ext_name ? xstrdup(ext_name) : NULL;
    op->start_ms = clock_now_ms();
    op->end_ms = op->start_ms + (duration_ms > 0 ? duration_ms : 0);
    snprintf(op->status, sizeof(op->status), "InProgress");
    if (ext_name)
        op->resource_url =
            sim_url(r, "%s/extensions/%s?api-version=%s", vm->id, ext_name, v ? v : "2024-07-01");
    else
        op->resource_url = sim_url(r, "%s?api-version=%s", vm->id, v ? v : "2024-07-01");
    if (json_is_string(outcome) && sim_ieq(json_string_value(outcome), "Canceled")) {
        op->err_code = xstrdup("OperationPreempted");
        op->err_message = xstrdup("Operation execution has been preempted by a more recent "
                                  "operation.");
    } else if (json_is_string(outcome) && sim_ieq(json_string_value(outcome), "Failed")) {
        op->err_code = xstrdup("InternalExecutionError");
        op->err_message = xstrdup("An internal execution error occurred. Please retry later.");
    }
    scope_outcome(r, vm, op);
    if (kind == OP_IDENTITY) {
        free(vm->prov_state);
        vm->prov_state = xstrdup("Updating");
    }
    vm->busy = op;
    sim_map_put(&S.ops, op->id, op);
    return op;
}

/* An extension PUT has finished: its state, its error, and for AADLoginForWindows that
 * succeeded, the device its Entra join leaves. */
static void ext_put_settled(struct sim_vm *vm, const struct sim_op *op, struct sim_ext *e)
{
    e->state = op->err_code ? EXT_FAILED : EXT_SUCCEEDED;
    if (op->err_code && !e->fail_code) {
        e->fail_code = xstrdup("1");
        e->fail_message = xstrdup(op->err_message);
    }
    if (!op->err_code) {
        free(e->fail_code);
        free(e->fail_message);
        e->fail_code = NULL;
        e->fail_message = NULL;
        if (sim_ieq(e->type, "AADLoginForWindows"))
            sim_device_join(vm);
    }
}

static void settle_op(struct sim_op *op, struct sim_vm *vm, int64_t now)
{
    struct sim_ext *e;
    bool canceled = op->err_code && strcmp(op->err_code, "OperationPreempted") == 0;

    if (op->settled || now < op->end_ms)
        return;
    op->settled = true;
    sim_gen++; /* the VM's rendering changes */
    snprintf(op->status, sizeof(op->status), "%s",
             canceled       ? "Canceled"
             : op->err_code ? "Failed"
                            : "Succeeded");
    if (!vm)
        return;
    if (vm->busy == op)
        vm->busy = NULL;
    e = op->ext_name ? sim_vm_ext_get(vm, op->ext_name) : NULL;
    switch (op->kind) {
    case OP_IDENTITY:
        free(vm->prov_state);
        vm->prov_state = xstrdup(op->err_code ? "Failed" : "Succeeded");
        break;
    case OP_EXT_PUT:
        if (e)
            ext_put_settled(vm, op, e);
        break;
    case OP_RUN_COMMAND:
        break;
    case OP_EXT_DELETE:
        if (e && !op->err_code) {
            sim_vec_remove(&vm->exts, e);
            sim_ext_free(e);
        } else if (e) {
            e->state = EXT_FAILED;
        }
        break;
    }
}

void sim_lro_settle(struct sim_vm *vm)
{
    int64_t now = clock_now_ms();

    if (vm) {
        if (vm->busy)
            settle_op(vm->busy, vm, now);
        return;
    }
    for (size_t i = 0; i < S.ops.cap; i++) {
        const char *k;
        void *v;
        if (sim_map_at(&S.ops, i, &k, &v) && !((struct sim_op *)v)->settled) {
            struct sim_op *op = v;
            settle_op(op, sim_map_get(&S.vm_by_key, op->vm_key), now);
        }
    }
}

static int retry_after(const struct sim_op *op)
{
    int64_t left = op->end_ms - clock_now_ms();
    int64_t s = (left + 999) / 1000;

    return s < 1 ? 1 : s > 10 ? 10 : (int)s;
}

void sim_lro_headers(struct sim_req *r, struct sim_op *op)
{
    const char *v = sim_query(r, "api-version");

    sim_reply_header(r, "Azure-AsyncOperation",
                     "%s/subscriptions/%s/providers/Microsoft.Compute/locations/%s/operations/"
                     "%s?p=%s&api-version=%s",
                     r->base, op->sub, op->location, op->id, op->id, v ? v : "2024-07-01");
    sim_reply_header(r, "Location",
                     "%s/subscriptions/%s/providers/Microsoft.Compute/locations/%s/operations/"
                     "%s?monitor=true&api-version=%s",
                     r->base, op->sub, op->location, op->id, v ? v : "2024-07-01");
    sim_reply_header(r, "Retry-After", "%d", retry_after(op));
}

static struct sim_op *find_op(struct sim_req *r)
{
    char *k = sim_lc(r->segs[7]);
    struct sim_op *op = sim_map_get(&S.ops, k);

    free(k);
    if (!op || !sim_ieq(op->sub, r->segs[1])) {
        sim_arm_error(r, 404, "ResourceNotFound", "The operation '%s' could not be found.",
                      r->segs[7]);
        return NULL;
    }
    settle_op(op, sim_map_get(&S.vm_by_key, op->vm_key), clock_now_ms());
    return op;
}

void sim_lro_status(struct sim_req *r)
{
    struct sim_op *op = find_op(r);
    char t1[32], t2[32];
    json_t *body;

    if (!op)
        return;
    clock_fmt_rfc3339(op->start_ms, t1, sizeof(t1));
    body = json_pack("{s:s, s:s, s:s}", "startTime", t1, "status", op->status, "name", op->id);
    if (op->settled) {
        clock_fmt_rfc3339(op->end_ms, t2, sizeof(t2));
        json_object_set_new(body, "endTime", json_string(t2));
    } else {
        sim_reply_header(r, "Retry-After", "%d", retry_after(op));
    }
    /* Run Command's result rides on its async operation: properties.output (final-state-via
     * azure-async-operation in virtualMachine.json's VirtualMachines_RunCommand). */
    if (op->settled && !op->err_code && op->kind == OP_RUN_COMMAND)
        json_object_set_new(body, "properties",
                            json_pack("{s:o}", "output", sim_runcmd_result(op)));
    if (op->settled && op->err_code)
        json_object_set_new(
            body, "error",
            json_pack("{s:s, s:s}", "code", op->err_code, "message", op->err_message));
    sim_reply_json(r, 200, body);
}

void sim_lro_result(struct sim_req *r)
{
    struct sim_op *op = find_op(r);
    struct sim_vm *vm;
    struct sim_ext *e;

    if (!op)
        return;
    if (!op->settled) {
        sim_reply_header(r, "Location", "%s%s?monitor=true&api-version=%s", r->base, r->url,
                         sim_query(r, "api-version"));
        sim_reply_header(r, "Retry-After", "%d", retry_after(op));
        sim_reply_json(r, 202, NULL);
        return;
    }
    if (op->err_code) {
        sim_arm_error(r, 400, op->err_code, "%s", op->err_message);
        return;
    }
    vm = sim_map_get(&S.vm_by_key, op->vm_key);
    e = vm && op->ext_name ? sim_vm_ext_get(vm, op->ext_name) : NULL;
    if (op->kind == OP_RUN_COMMAND)
        sim_reply_json(r, 200, sim_runcmd_result(op));
    else if (op->kind == OP_EXT_DELETE || !vm)
        sim_reply_json(r, 200, NULL);
    else if (op->kind == OP_EXT_PUT && e)
        sim_reply_json(r, 200, sim_ext_to_json(vm, e, false));
    else
        sim_reply_json(r, 200, sim_vm_to_json(vm, false));
}

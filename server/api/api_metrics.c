/* api_metrics.c: the store's share of /metrics, read at scrape time: the reconciler's queue
 * (depth, age of the oldest due task, dead tasks), operations by status, VMs by Entra login
 * state per subscription (the same tally as GET /v1/compliance, unfiltered), whether the audit
 * chain verifies (walked again at most every API_METRICS_AUDIT_EVERY_MS, by the scrape that
 * finds the last walk too old), and when the configured certificates and client secret
 * expire. */
#include <pthread.h>

#include "vmlogind/api.h"
#include "vmlogind/cert.h"
#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/store.h"
#include "vmlogind/store_metrics.h"

#define API_METRICS_AUDIT_EVERY_MS (5 * 60 * 1000)

static pthread_mutex_t audit_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t audit_checked_ms; /* under audit_mu; 0: never */
static int audit_intact = -1;    /* 1 intact, 0 broken, -1 not known (could not walk) */

static enum err audit_metrics(const struct app *app, struct buf *out)
{
    int64_t now = clock_now_ms(), rows = 0, broken = 0, at;
    struct err_detail d;
    int intact;

    pthread_mutex_lock(&audit_mu);
    if (audit_checked_ms == 0 || now - audit_checked_ms >= API_METRICS_AUDIT_EVERY_MS) {
        enum err e = store_audit_verify(app->store, &rows, &broken, &d);
        audit_intact = e == ERR_OK ? 1 : e == ERR_CONFLICT ? 0 : -1;
        audit_checked_ms = now;
        if (e != ERR_OK)
            log_warn("audit_verify_failed", "broken_seq=%lld error=\"%s\"", (long long)broken,
                     d.msg);
    }
    intact = audit_intact;
    at = audit_checked_ms;
    pthread_mutex_unlock(&audit_mu);
    return buf_printf(out,
                      "# HELP vmlogind_audit_chain_intact 1 when the audit hash chain verified, 0 "
                      "when it is broken, -1 when it could not be walked.\n"
                      "# TYPE vmlogind_audit_chain_intact gauge\n"
                      "vmlogind_audit_chain_intact %d\n"
                      "# HELP vmlogind_audit_chain_verified_timestamp_seconds When the chain was "
                      "last walked.\n"
                      "# TYPE vmlogind_audit_chain_verified_timestamp_seconds gauge\n"
                      "vmlogind_audit_chain_verified_timestamp_seconds %lld\n",
                      intact, (long long)(at / 1000));
}

static enum err cert_metrics(const struct app *app, struct buf *out)
{
    const struct {
        const char *which;
        const char *path;
    } certs[] = {{"tls", app->cfg->tls_cert_file}, {"client", app->cfg->client_certificate_file}};
    enum err rc = buf_appends(out, "# HELP vmlogind_certificate_expiry_timestamp_seconds notAfter "
                                   "of a configured certificate (tls: HTTPS; client: the "
                                   "credential to Entra).\n"
                                   "# TYPE vmlogind_certificate_expiry_timestamp_seconds gauge\n");

    for (size_t i = 0; rc == ERR_OK && i < sizeof(certs) / sizeof(certs[0]); i++) {
        int64_t t;
        if (certs[i].path[0] == '\0' || cert_not_after(certs[i].path, &t) != ERR_OK)
            continue;
        rc = buf_printf(out, "vmlogind_certificate_expiry_timestamp_seconds{which=\"%s\"} %lld\n",
                        certs[i].which, (long long)t);
    }
    return rc;
}

/* A client secret's expiry cannot be read from the secret itself: the configuration says it
 * (client_secret_expires_at, the "Expires" the app registration shows). */
static enum err secret_metrics(const struct app *app, struct buf *out)
{
    int64_t at_ms;
    enum err rc =
        buf_appends(out, "# HELP vmlogind_client_secret_expiry_timestamp_seconds When the "
                         "client secret vmlogind signs in to Entra with expires "
                         "(client_secret_expires_at).\n"
                         "# TYPE vmlogind_client_secret_expiry_timestamp_seconds gauge\n");

    if (rc == ERR_OK && app->cfg->client_secret_expires_at[0] != '\0' &&
        clock_parse_rfc3339(app->cfg->client_secret_expires_at, &at_ms))
        rc = buf_printf(out, "vmlogind_client_secret_expiry_timestamp_seconds %lld\n",
                        (long long)(at_ms / 1000));
    return rc;
}

enum err api_metrics_store(const struct app *app, struct buf *out)
{
    struct store_metrics m;
    struct err_detail d;
    int64_t now = clock_now_ms();
    enum err rc = store_metrics_read(app->store, now, &m, &d);

    if (rc != ERR_OK)
        return rc;
    rc = buf_printf(out,
                    "# HELP vmlogind_reconcile_queue_due Tasks due now (the reconciler's queue).\n"
                    "# TYPE vmlogind_reconcile_queue_due gauge\n"
                    "vmlogind_reconcile_queue_due %lld\n"
                    "# HELP vmlogind_reconcile_queue_oldest_due_seconds How long the oldest due "
                    "task has waited.\n"
                    "# TYPE vmlogind_reconcile_queue_oldest_due_seconds gauge\n"
                    "vmlogind_reconcile_queue_oldest_due_seconds %.3f\n"
                    "# HELP vmlogind_reconcile_tasks_dead Tasks that gave up.\n"
                    "# TYPE vmlogind_reconcile_tasks_dead gauge\n"
                    "vmlogind_reconcile_tasks_dead %lld\n"
                    "# HELP vmlogind_operations Operations by status.\n"
                    "# TYPE vmlogind_operations gauge\n",
                    (long long)m.tasks_due,
                    m.tasks_oldest_due > 0 ? (double)(now - m.tasks_oldest_due) / 1000.0 : 0.0,
                    (long long)m.tasks_dead);
    for (int i = 0; rc == ERR_OK && i < STORE_METRICS_OP_STATES; i++)
        rc = buf_printf(out, "vmlogind_operations{status=\"%s\"} %lld\n",
                        store_metrics_op_states[i], (long long)m.operations[i]);
    if (rc == ERR_OK)
        rc = api_compliance_metrics(app, out);
    if (rc == ERR_OK)
        rc = audit_metrics(app, out);
    if (rc == ERR_OK)
        rc = cert_metrics(app, out);
    if (rc == ERR_OK)
        rc = secret_metrics(app, out);
    return rc;
}

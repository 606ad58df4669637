/* azure_metrics.c: process-wide counters per Azure operation label (calls, retries, 429s,
 * errors, latency) and their Prometheus text rendering. Labels are the static strings the
 * typed calls pass; the table is small and fixed. */
#include <pthread.h>
#include <string.h>

#include "azure/azure_internal.h"

#define METRICS_MAX_OPS 96
#define METRICS_OP_MAX 48

struct op_row {
    char op[METRICS_OP_MAX];
    struct azure_metrics_op m;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct op_row rows[METRICS_MAX_OPS];
static size_t n_rows;

/* Called with mu held; the last row collects overflow labels as "other". */
static struct op_row *row_for(const char *op)
{
    if (op == NULL || op[0] == '\0')
        op = "other";
    for (size_t i = 0; i < n_rows; i++) {
        if (strcmp(rows[i].op, op) == 0)
            return &rows[i];
    }
    if (n_rows == METRICS_MAX_OPS)
        return &rows[METRICS_MAX_OPS - 1];
    azure_strlcpy(rows[n_rows].op, op, sizeof(rows[n_rows].op));
    return &rows[n_rows++];
}

void azure_metrics_record(const char *op, int attempts, int throttled, bool error,
                          int64_t latency_ms)
{
    struct op_row *r;

    pthread_mutex_lock(&mu);
    r = row_for(op);
    r->m.calls++;
    r->m.retries += attempts > 1 ? attempts - 1 : 0;
    r->m.throttled += throttled;
    r->m.errors += error ? 1 : 0;
    r->m.latency_sum_s += (double)latency_ms / 1000.0;
    r->m.latency_count++;
    pthread_mutex_unlock(&mu);
}

void azure_metrics_get(const char *op, struct azure_metrics_op *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < n_rows; i++) {
        if (strcmp(rows[i].op, op) == 0)
            *out = rows[i].m;
    }
    pthread_mutex_unlock(&mu);
}

void azure_metrics_reset(void)
{
    pthread_mutex_lock(&mu);
    memset(rows, 0, sizeof(rows));
    n_rows = 0;
    pthread_mutex_unlock(&mu);
}

enum err azure_metrics_render(struct buf *out)
{
    static const struct {
        const char *name;
        const char *type;
        const char *help;
    } fam[] = {
        {"vmlogind_azure_requests_total", "counter", "Logical Azure calls per operation."},
        {"vmlogind_azure_retries_total", "counter", "Retried Azure requests per operation."},
        {"vmlogind_azure_throttled_total", "counter", "HTTP 429 responses per operation."},
        {"vmlogind_azure_errors_total", "counter", "Azure calls that ended in an error."},
        {"vmlogind_azure_request_duration_seconds_sum", "counter", "Total call latency."},
        {"vmlogind_azure_request_duration_seconds_count", "counter", "Calls timed."},
    };
    enum err rc = ERR_OK;

    pthread_mutex_lock(&mu);
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]) && rc == ERR_OK; f++) {
        rc = buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help, fam[f].name,
                        fam[f].type);
        for (size_t i = 0; i < n_rows && rc == ERR_OK; i++) {
            const struct azure_metrics_op *m = &rows[i].m;

            if (f == 4)
                rc = buf_printf(out, "%s{op=\"%s\"} %.6f\n", fam[f].name, rows[i].op,
                                m->latency_sum_s);
            else
                rc = buf_printf(out, "%s{op=\"%s\"} %ld\n", fam[f].name, rows[i].op,
                                f == 0   ? m->calls
                                : f == 1 ? m->retries
                                : f == 2 ? m->throttled
                                : f == 3 ? m->errors
                                         : m->latency_count);
        }
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

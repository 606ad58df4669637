/* store_rate.c: the shared token buckets of store_rate.h. One statement takes a token: an
 * upsert that refills the bucket by the time since its last take (the database's clock) and
 * takes up to the tokens asked for, whole ones, when one is there; a caller whose bucket is
 * empty changes no row, and a
 * second statement reads when its next token is due. Both run apart from the request's read
 * transaction (store_stmt_apart): autocommit on a pooled connection, so a take waits for nothing
 * but a concurrent take of the same caller and never fails on the transaction's snapshot. */
#include <math.h>
#include <stdlib.h>

#include "store/store_int.h"
#include "vmlogind/store_rate.h"

#define NOW_MS "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
#define REFILLED                                                                                   \
    "LEAST(CAST(:burst AS double precision), b.tokens + GREATEST(0, EXCLUDED.at_ms - b.at_ms)"     \
    " * CAST(:rps AS double precision) / 1000)"

static const char SQL_TAKE[] =
    "INSERT INTO rate_buckets AS b (subject, tokens, at_ms, taken)"
    " SELECT :subject, CAST(:burst AS double precision) - :want, " NOW_MS ", :want"
    " ON CONFLICT (subject) DO UPDATE SET tokens = " REFILLED " - LEAST(:want, floor(" REFILLED
    ")), taken = LEAST(:want, floor(" REFILLED ")), at_ms = GREATEST(b.at_ms, EXCLUDED.at_ms)"
    " WHERE " REFILLED " >= 1 RETURNING taken";
/* The tokens the bucket holds now (after its refill since the last take). */
static const char SQL_LEVEL[] =
    "SELECT LEAST(CAST(:burst AS double precision), tokens + GREATEST(0, " NOW_MS " - at_ms)"
    " * CAST(:rps AS double precision) / 1000) FROM rate_buckets WHERE subject = :subject";
static const char SQL_TRIM[] = "DELETE FROM rate_buckets WHERE at_ms < " NOW_MS " - :idle_ms";

static void bind_bucket(struct store_q *s, const char *subject, double rps, double burst)
{
    bind_text(s, ":subject", subject);
    bind_int64(s, ":rps", (int64_t)rps);
    bind_int64(s, ":burst", (int64_t)burst);
}

/* When the next token is due, from the bucket's level now. */
static enum err retry_after(struct store *st, const char *subject, double rps, double burst,
                            int64_t *ms, struct err_detail *d)
{
    struct store_q *s;
    double level = 0;
    enum err e = store_stmt_apart(st, SQL_LEVEL, &s, d);

    *ms = 1000;
    if (e != ERR_OK)
        return e;
    bind_bucket(s, subject, rps, burst);
    e = store_step_one(s, d, "rate bucket level");
    if (e == ERR_NOT_FOUND)
        return ERR_OK;
    if (e != ERR_OK)
        return e;
    level = strtod(col_view(s, 0), NULL);
    store_reset(s);
    if (level < 1.0)
        *ms = (int64_t)ceil((1.0 - level) * 1000.0 / rps);
    return ERR_OK;
}

enum err store_rate_take(struct store *st, const char *subject, double rps, double burst,
                         int64_t want, int64_t *taken, int64_t *retry_after_ms,
                         struct err_detail *d)
{
    struct store_q *s;
    enum err e;

    *taken = 0;
    *retry_after_ms = 0;
    rps = rps > 0 ? rps : 1;
    burst = burst >= 1 ? burst : 1;
    want = want < 1 ? 1 : want > (int64_t)burst ? (int64_t)burst : want;
    if (store_pg_pool(st) == NULL)
        return err_set(d, ERR_INTERNAL, "rate_backend", "shared rate buckets need PostgreSQL");
    e = store_stmt_apart(st, SQL_TAKE, &s, d);
    if (e != ERR_OK)
        return e;
    bind_bucket(s, subject, rps, burst);
    bind_int64(s, ":want", want);
    e = store_step_one(s, d, "rate bucket take");
    if (e == ERR_OK) {
        *taken = col_int64(s, 0);
        store_reset(s);
        return ERR_OK;
    }
    if (e != ERR_NOT_FOUND)
        return e;
    return retry_after(st, subject, rps, burst, retry_after_ms, d);
}

enum err store_rate_trim(struct store *st, int64_t idle_ms, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_TRIM, &s, d);

    if (e != ERR_OK)
        return e;
    bind_int64(s, ":idle_ms", idle_ms);
    return store_exec_stmt(s, d, "rate buckets trim");
}

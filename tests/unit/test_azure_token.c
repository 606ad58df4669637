/* test_azure_token.c: the token cache against a scripted token endpoint on 127.0.0.1 that can
 * be switched to failing (503, retries off): a refresh that fails inside the refresh-ahead
 * window hands out the cached token while it is valid; a failed fetch is remembered for a
 * short time, so concurrent waiters cause one request at the endpoint, not one each; an
 * expired token with a failing endpoint is an error. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "azure/azure_internal.h"
#include "test_azure_fake.h"
#include "vmlogind/xalloc.h"

#define TOKEN_PATH "/t1/oauth2/v2.0/token"
#define WAITERS 8

enum mode { GIVE_HOUR = 0, GIVE_EXPIRED, FAIL, FAIL_SLOWLY };

static struct fake F;
static atomic_int MODE;

static void handler(struct fake *f, const struct fake_req *rq, int n, struct fake_resp *out)
{
    char body[256];

    (void)f;
    if (strncmp(rq->path, TOKEN_PATH, strlen(TOKEN_PATH)) != 0) {
        fake_resp_json(out, 404, "{}");
        return;
    }
    switch (atomic_load(&MODE)) {
    case FAIL_SLOWLY:
        clock_sleep_ms(300); /* a slow endpoint: the other callers come while it answers */
        /* fall through */
    case FAIL:
        fake_header(out, "Retry-After: 1");
        fake_resp_json(out, 503,
                       "{\"error\":\"temporarily_unavailable\",\"error_description\":"
                       "\"AADSTS90033: A transient error has occurred.\",\"error_codes\":[90033]}");
        return;
    default:
        snprintf(body, sizeof(body),
                 "{\"token_type\":\"Bearer\",\"expires_in\":%d,\"access_token\":\"tok-%d\"}",
                 atomic_load(&MODE) == GIVE_EXPIRED ? 0 : 3600, n);
        fake_resp_json(out, 200, body);
    }
}

static struct azure_client *client(long refresh_before_ms, long failure_cache_ms)
{
    struct azure_config cfg = {.credential = AZURE_CRED_SECRET,
                               .client_secret = "s3cret",
                               .tenant_id = "t1",
                               .client_id = "c1",
                               .cloud = "custom",
                               .retry_max_attempts = 1,
                               .timeout_ms = 5000,
                               .token_refresh_before_ms = refresh_before_ms,
                               .token_failure_cache_ms = failure_cache_ms};
    struct azure_client *c = NULL;
    struct err_detail d;

    memset(&d, 0, sizeof(d));
    cfg.arm_url = cfg.login_url = cfg.graph_url = F.url;
    if (azure_client_new(&cfg, &c, &d) != ERR_OK)
        fail_msg("client: %s %s", d.code, d.msg);
    return c;
}

static int requests(void)
{
    return fake_count(&F, "POST", TOKEN_PATH);
}

/* (a) The refresh ahead of expiry fails: the cached token is still valid, so it is used; the
 * failure is not retried on every call, but is once the failure has been remembered long
 * enough. */
static void test_failed_refresh_keeps_valid_token(void **state)
{
    /* every call is inside the refresh-ahead window of a one-hour token */
    struct azure_client *c = client(3600L * 1000, 1000);
    struct azure_error ae;
    char *tok = NULL;
    char first[64];
    int64_t exp = 0;
    int64_t deadline;
    int n0;

    (void)state;
    atomic_store(&MODE, GIVE_HOUR);
    assert_int_equal(azure_token_get(c, "s/.default", &tok, &exp, &ae), ERR_OK);
    snprintf(first, sizeof(first), "%s", tok);
    free(tok);
    atomic_store(&MODE, FAIL);
    n0 = requests();
    tok = NULL;
    assert_int_equal(azure_token_get(c, "s/.default", &tok, NULL, &ae), ERR_OK);
    assert_int_equal(requests(), n0 + 1); /* the refresh was tried... */
    assert_non_null(tok);
    assert_string_equal(tok, first); /* ...and the valid token used */
    free(tok);
    /* right after, the failure is remembered: the token is handed out without a request */
    assert_int_equal(azure_token_get(c, "s/.default", &tok, NULL, &ae), ERR_OK);
    assert_string_equal(tok, first);
    free(tok);
    assert_int_equal(requests(), n0 + 1);
    /* the endpoint is back: a later call refreshes */
    atomic_store(&MODE, GIVE_HOUR);
    deadline = clock_mono_ms() + 60000;
    while (azure_token_fetch_count(c) < 2 && clock_mono_ms() < deadline) {
        assert_int_equal(azure_token_get(c, "s/.default", &tok, NULL, &ae), ERR_OK);
        free(tok);
    }
    assert_int_equal(azure_token_fetch_count(c), 2);
    assert_int_equal(azure_token_get(c, "s/.default", &tok, NULL, &ae), ERR_OK);
    assert_string_not_equal(tok, first);
    free(tok);
    azure_client_free(c);
}

struct waiter {
    struct azure_client *c;
    pthread_barrier_t *start;
    enum err rc;
    long status;
};

static void *wait_for_token(void *arg)
{
    struct waiter *w = arg;
    struct azure_error ae;
    char *tok = NULL;

    pthread_barrier_wait(w->start);
    w->rc = azure_token_get(w->c, "w/.default", &tok, NULL, &ae);
    w->status = ae.status;
    free(tok);
    return NULL;
}

/* (b) Many callers need a token while the endpoint fails: one request, one shared failure. */
static void test_failed_fetch_shared_by_waiters(void **state)
{
    struct azure_client *c = client(0, 0); /* default: failures remembered for 5 s */
    struct waiter w[WAITERS];
    pthread_t th[WAITERS];
    pthread_barrier_t start;
    int n0 = requests();

    (void)state;
    atomic_store(&MODE, FAIL_SLOWLY);
    pthread_barrier_init(&start, NULL, WAITERS);
    for (int i = 0; i < WAITERS; i++) {
        w[i] = (struct waiter){.c = c, .start = &start, .rc = ERR_OK};
        assert_int_equal(pthread_create(&th[i], NULL, wait_for_token, &w[i]), 0);
    }
    for (int i = 0; i < WAITERS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    print_message("%d callers, %d token requests\n", WAITERS, requests() - n0);
    for (int i = 0; i < WAITERS; i++) {
        assert_int_not_equal(w[i].rc, ERR_OK);
        assert_int_equal(w[i].status, 503); /* each got the fetch's error */
    }
    assert_int_equal(requests(), n0 + 1);
    assert_int_equal(azure_token_fetch_count(c), 0);
    azure_client_free(c);
}

/* (c) The cached token has expired and the endpoint fails: an error, never the stale token. */
static void test_expired_token_and_failing_endpoint(void **state)
{
    struct azure_client *c = client(0, 0);
    struct azure_error ae;
    char *tok = NULL;
    int n0;

    (void)state;
    atomic_store(&MODE, GIVE_EXPIRED);
    assert_int_equal(azure_token_get(c, "e/.default", &tok, NULL, &ae), ERR_OK);
    free(tok);
    tok = NULL;
    atomic_store(&MODE, FAIL);
    n0 = requests();
    assert_int_equal(azure_token_get(c, "e/.default", &tok, NULL, &ae), ERR_CLOUD);
    assert_null(tok);
    assert_int_equal(ae.status, 503);
    assert_string_equal(ae.code, "temporarily_unavailable");
    assert_int_equal(requests(), n0 + 1);
    /* asked again at once: the same error, remembered, without a request */
    memset(&ae, 0, sizeof(ae));
    assert_int_equal(azure_token_get(c, "e/.default", &tok, NULL, &ae), ERR_CLOUD);
    assert_null(tok);
    assert_int_equal(ae.status, 503);
    assert_true(azure_error_has_aadsts(&ae, 90033));
    assert_int_equal(requests(), n0 + 1);
    azure_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_refresh_keeps_valid_token),
        cmocka_unit_test(test_failed_fetch_shared_by_waiters),
        cmocka_unit_test(test_expired_token_and_failing_endpoint),
    };
    int failed;

    xalloc_init_json();
    azure_global_init();
    fake_start(&F, handler, NULL);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    fake_stop(&F);
    return failed;
}

/* The problem registry: the table and api/openapi.yaml's x-problem-codes list the same codes
 * with the same status and title (both directions); every enum err has a generic row; every code
 * the server's sources reply with literally is registered; a store failure's detail (an SQLite
 * message naming tables) never reaches the client, 4xx included; an unregistered code is never
 * sent. */
#include <ctype.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "vmlogind/api.h"
#include "vmlogind/http_problem.h"

#define DOC_MAX 256

struct doc_row {
    char code[64];
    int status;
    char title[200];
};

/* The x-problem-codes rows of the embedded api/openapi.yaml. */
static size_t doc_rows(struct doc_row *out, size_t cap)
{
    const char *p = strstr(vl_openapi_yaml, "\n      x-problem-codes:\n");
    size_t n = 0;

    assert_non_null(p);
    p = strchr(p + 1, '\n') + 1;
    while (n < cap && strncmp(p, "        - {code: ", 17) == 0) {
        const char *end = strchr(p, '\n');
        char line[400];
        snprintf(line, sizeof(line), "%.*s", (int)(end - p), p);
        if (sscanf(line, "        - {code: %63[a-z_], status: %d, title: \"%199[^\"]\"}",
                   out[n].code, &out[n].status, out[n].title) != 3)
            fail_msg("x-problem-codes: cannot read %s", line);
        n++;
        p = end + 1;
    }
    return n;
}

static void test_registry_equals_document(void **state)
{
    static struct doc_row doc[DOC_MAX];
    size_t n = doc_rows(doc, DOC_MAX);
    (void)state;

    for (size_t i = 0; i < http_problems_count; i++) {
        const struct http_problem_row *r = &http_problems[i];
        size_t j = 0;
        while (j < n && strcmp(doc[j].code, r->code) != 0)
            j++;
        if (j == n)
            fail_msg("%s is in the registry but not in openapi.yaml x-problem-codes", r->code);
        assert_int_equal(doc[j].status, r->status);
        assert_string_equal(doc[j].title, r->title);
        assert_ptr_equal(http_problem_find(r->code), r); /* codes are unique */
    }
    for (size_t j = 0; j < n; j++)
        if (http_problem_find(doc[j].code) == NULL)
            fail_msg("%s is in openapi.yaml x-problem-codes but not in the registry", doc[j].code);
    assert_int_equal(n, http_problems_count);
}

static void test_every_err_has_a_row(void **state)
{
    (void)state;
    for (int e = ERR_INVALID; e <= ERR_INTERNAL; e++) {
        const struct http_problem_row *r = http_problem_find(err_str((enum err)e));
        if (r == NULL)
            fail_msg("no row for %s", err_str((enum err)e));
        assert_int_equal(r->status, http_status_for((enum err)e));
    }
}

/* Codes named literally in a reply: http_problem_reply(req, "code", ...), an early code. */
static void check_file(const char *path, int *checked)
{
    static const char *const marks[] = {"http_problem_reply(req, \"", "early_code = \"", "? \"",
                                        ": \""};
    FILE *f = fopen(path, "r");
    char line[512];
    bool open_call = false; /* the previous line ended "http_problem_reply(" */

    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        bool wrapped = open_call;
        open_call = strstr(line, "http_problem_reply(\n") != NULL;
        if (!wrapped && strstr(line, "http_problem_reply(") == NULL &&
            strstr(line, "early_code =") == NULL)
            continue;
        for (size_t m = 0; m < sizeof(marks) / sizeof(marks[0]); m++) {
            const char *mark = wrapped && m == 0 ? "req, \"" : marks[m];
            const char *p = strstr(line, mark);
            char code[64];
            size_t k = 0;
            if (p == NULL)
                continue;
            p += strlen(mark);
            while (k + 1 < sizeof(code) && (islower((unsigned char)p[k]) || p[k] == '_')) {
                code[k] = p[k];
                k++;
            }
            code[k] = '\0';
            if (k == 0 || p[k] != '"')
                continue;
            if (http_problem_find(code) == NULL)
                fail_msg("%s replies with %s, which is not registered", path, code);
            (*checked)++;
        }
    }
    fclose(f);
}

static void test_literal_codes_registered(void **state)
{
    static const char *const dirs[] = {"api", "http", "auth"};
    char root[512], path[1024];
    int checked = 0;
    (void)state;

    snprintf(root, sizeof(root), "%s", __FILE__);
    assert_non_null(strstr(root, "/tests/unit/"));
    strstr(root, "/tests/unit/")[0] = '\0';
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        DIR *d;
        struct dirent *e;
        snprintf(path, sizeof(path), "%s/server/%s", root, dirs[i]);
        d = opendir(path);
        assert_non_null(d);
        while ((e = readdir(d)) != NULL) {
            size_t n = strlen(e->d_name);
            if (n < 3 || strcmp(e->d_name + n - 2, ".c") != 0)
                continue;
            snprintf(path, sizeof(path), "%s/server/%s/%s", root, dirs[i], e->d_name);
            check_file(path, &checked);
        }
        closedir(d);
    }
    assert_true(checked > 40); /* the scan found the replies */
}

static json_t *reply_of(struct http_request *req)
{
    json_t *j = json_loads(req->resp, 0, NULL);
    assert_non_null(j);
    return j;
}

/* A unique-constraint failure is a 409, and its SQLite message stays in the log. */
static void test_store_detail_withheld(void **state)
{
    struct http_request req = {.request_id = "req-409"};
    struct err_detail d = {.code = "conflict"};
    json_t *j;
    (void)state;

    snprintf(d.msg, sizeof(d.msg),
             "grant insert: UNIQUE constraint failed: grants.assignment_name");
    http_reply_error(&req, ERR_CONFLICT, &d);
    assert_int_equal(req.status, 409);
    assert_null(strstr(req.resp, "UNIQUE"));
    assert_null(strstr(req.resp, "grants"));
    j = reply_of(&req);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "conflict");
    assert_string_equal(json_string_value(json_object_get(j, "instance")), "req-409");
    json_decref(j);
    free(req.resp);
}

/* req's reply has status and code; its body is freed and req cleared for the next reply. */
static void expect(struct http_request *req, int status, const char *code)
{
    json_t *j = reply_of(req);

    assert_int_equal(req->status, status);
    assert_string_equal(json_string_value(json_object_get(j, "code")), code);
    json_decref(j);
    free(req->resp);
    memset(req, 0, sizeof(*req));
}

/* A failure's own code is sent when it is registered with that status, else its enum's. */
static void test_unregistered_never_sent(void **state)
{
    struct http_request req = {.request_id = "req-x"};
    struct err_detail d = {.code = "lease_lost", .msg = "task lease lost"};
    (void)state;

    http_reply_error(&req, ERR_CONFLICT, &d);
    expect(&req, 409, "conflict");
    snprintf(d.code, sizeof(d.code), "token_expired");
    http_reply_error(&req, ERR_UNAUTHORIZED, &d);
    expect(&req, 401, "token_expired");
    snprintf(d.code, sizeof(d.code), "scope_forbidden"); /* registered, but as 403 */
    http_reply_error(&req, ERR_NOT_FOUND, &d);
    expect(&req, 404, "not_found");
    http_problem_reply(&req, "no_such_code", "x", NULL);
    expect(&req, 500, "internal");
    http_problem_reply(&req, "grant_not_live", "the grant is revoked", NULL);
    assert_non_null(strstr(req.resp, "the grant is revoked"));
    expect(&req, 409, "grant_not_live");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_equals_document),
        cmocka_unit_test(test_every_err_has_a_row),
        cmocka_unit_test(test_literal_codes_registered),
        cmocka_unit_test(test_store_detail_withheld),
        cmocka_unit_test(test_unregistered_never_sent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

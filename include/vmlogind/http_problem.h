/* http_problem.h: the problem registry (Taler's TALER_EC): every code an error reply can carry
 * is one row {code, status, title}, published as x-problem-codes in api/openapi.yaml (a test
 * holds the two equal). Replies name a code; the status comes from its row. */
#ifndef VMLOGIND_HTTP_PROBLEM_H
#define VMLOGIND_HTTP_PROBLEM_H

#include <stdbool.h>
#include <stddef.h>

#include "vmlogind/http.h"

struct http_problem_row {
    const char *code;
    int status;
    const char *title; /* one line for the contract and for a detail that must stay inside */
    bool internal;     /* its detail is internal (an SQLite message): never sent, only logged */
};

extern const struct http_problem_row http_problems[];
extern const size_t http_problems_count;

/* The row of code, or NULL when it is not registered. */
const struct http_problem_row *http_problem_find(const char *code);

/* Replies the registered problem code with detail (may be NULL) and violations (may be NULL).
 * An unregistered code is a programmer error: logged, and answered 500 "internal". */
void http_problem_reply(struct http_request *req, const char *code, const char *detail,
                        const struct violations *vs);

#endif

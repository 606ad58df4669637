/* test_store_fixture.h: a migrated store per test for the test_store_*.c files, on a
 * temporary file (so several connections share it) or on :memory:. */
#ifndef TEST_STORE_FIXTURE_H
#define TEST_STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "vmlogind/store.h"

struct fixture {
    struct store *st;
    char path[64];
};

static inline int fixture_setup_at(void **state, bool on_file)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct err_detail d = {0};
    int fd;

    if (f == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), ":memory:");
    if (on_file) {
        snprintf(f->path, sizeof(f->path), "/tmp/test_store_XXXXXX");
        fd = mkstemp(f->path);
        if (fd < 0)
            return -1;
        close(fd);
    }
    if (store_open(f->path, &f->st, &d) != ERR_OK || store_migrate(f->st, &d) != ERR_OK) {
        fprintf(stderr, "fixture: %s\n", d.msg);
        return -1;
    }
    if (on_file) { /* a random audit key made now, in a file beside the database */
        char key[96];
        snprintf(key, sizeof(key), "%s.audit-key", f->path);
        if (store_audit_key_load(f->st, key, true, NULL, &d) != ERR_OK) {
            fprintf(stderr, "fixture: %s\n", d.msg);
            return -1;
        }
    }
    *state = f;
    return 0;
}

static inline int fixture_setup(void **state)
{
    return fixture_setup_at(state, false);
}

static inline int fixture_setup_file(void **state)
{
    return fixture_setup_at(state, true);
}

static inline int fixture_teardown(void **state)
{
    struct fixture *f = *state;
    char p[96];

    store_close(f->st);
    if (f->path[0] == '/') {
        unlink(f->path);
        snprintf(p, sizeof(p), "%s-wal", f->path);
        unlink(p);
        snprintf(p, sizeof(p), "%s-shm", f->path);
        unlink(p);
        snprintf(p, sizeof(p), "%s.audit-key", f->path);
        unlink(p);
        snprintf(p, sizeof(p), "%s.audit-checkpoints", f->path);
        unlink(p);
    }
    free(f);
    return 0;
}

#define ST(state) (((struct fixture *)*(state))->st)

#endif

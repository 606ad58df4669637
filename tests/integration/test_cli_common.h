/* test_cli_common.h: running the real vmloginctl from integration tests: in the foreground
 * with stdout/stderr captured, or in the background with its stderr in a file that the test
 * polls (with a deadline) while it acts on azsim. */
#ifndef TEST_CLI_COMMON_H
#define TEST_CLI_COMMON_H

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* Runs the shell command cmd with stdout and stderr to files in dir; returns its exit code,
 * with stdout and stderr in *out / *err (caller frees; may be NULL). */
static inline int cli_sh(const char *dir, const char *cmd, char **out, char **err)
{
    char errf[512], outf[512];
    int st;

    snprintf(outf, sizeof(outf), "%s/ctl.out", dir);
    snprintf(errf, sizeof(errf), "%s/ctl.err", dir);
    /* Sized from its parts: callers build cmd in buffers of their own size. */
    size_t n = strlen(cmd) + strlen(outf) + strlen(errf) + sizeof(" >'' 2>''");
    char *full = malloc(n);
    assert_non_null(full);
    snprintf(full, n, "%s >'%s' 2>'%s'", cmd, outf, errf);
    st = system(full);
    free(full);
    assert_true(st != -1 && WIFEXITED(st));
    char *o = h_read_file(outf), *e = h_read_file(errf);
    if (out != NULL)
        *out = o;
    else
        free(o);
    if (err != NULL)
        *err = e;
    else
        free(e);
    return WEXITSTATUS(st);
}

/* vmloginctl with argv (NULL-terminated, without the program) in the background, stdout and
 * stderr to out_path/err_path, stdin from /dev/null. */
static inline pid_t cli_spawn(const char *const argv[], const char *out_path, const char *err_path)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *args[32];
        int n = 0;
        args[n++] = (char *)VMLOGINCTL_BIN;
        for (int i = 0; argv[i] != NULL && n < 31; i++)
            args[n++] = (char *)argv[i];
        args[n] = NULL;
        int in = open("/dev/null", O_RDONLY);
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || o < 0 || e < 0)
            _exit(127);
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        execv(VMLOGINCTL_BIN, args);
        _exit(127);
    }
    return pid;
}

struct cli_file_has {
    const char *path;
    const char *needle;
};

static inline bool cli_file_has_pred(void *arg)
{
    const struct cli_file_has *f = arg;
    char *text = h_read_file(f->path);
    bool ok = text != NULL && strstr(text, f->needle) != NULL;
    free(text);
    return ok;
}

/* Polls path until it contains needle (deadline timeout_ms, scaled); its text (caller frees). */
static inline char *cli_wait_file(const char *path, const char *needle, int timeout_ms)
{
    struct cli_file_has f = {path, needle};
    char *text;

    if (!h_poll(cli_file_has_pred, &f, timeout_ms)) {
        text = h_read_file(path);
        fail_msg("%s never showed \"%s\"; it has:\n%s", path, needle, text ? text : "(nothing)");
    }
    return h_read_file(path);
}

struct cli_child {
    pid_t pid;
    int status;
};

static inline bool cli_child_done(void *arg)
{
    struct cli_child *c = arg;
    return waitpid(c->pid, &c->status, WNOHANG) == c->pid;
}

/* Waits (deadline, scaled) for pid to exit and returns its exit code; kills it on timeout. */
static inline int cli_wait_exit(pid_t pid, int timeout_ms)
{
    struct cli_child c = {pid, 0};
    if (!h_poll(cli_child_done, &c, timeout_ms)) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("vmloginctl (pid %ld) did not exit in time", (long)pid);
    }
    assert_true(WIFEXITED(c.status));
    return WEXITSTATUS(c.status);
}

/* A control call to azsim; fails unless the status is want. */
static inline void cli_sim_call(const struct sim *s, const char *method, const char *path,
                                const char *body, long want)
{
    char url[512];
    struct resp r;

    snprintf(url, sizeof(url), "%s%s", s->p.url, path);
    assert_int_equal(h_http(method, url, body, NULL, &r), want);
    h_resp_cleanup(&r);
}

#endif

/* vmloginctl on a real terminal (a tmux pane on a private tmux server), against the real
 * vmlogind and azsim: --wait redraws one progress line in place (VMs done/failed/pending) and
 * ends with the table of the operation; Ctrl-C typed in the pane stops the watching (exit 130)
 * and says how to follow the operation; vm list draws a table with coloured states, and none
 * with NO_COLOR. Every check polls capture-pane with a deadline. Skipped without tmux. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_cli_common.h"

#define SUB "5d0f6e8a-0000-4000-8000-00000000bbbb"

static struct sim S;
static struct daemon D;
static char DIR_[256];
static char SOCK[64];

static void tmux(const char *args, char **out)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "tmux -L '%s' -f /dev/null %s", SOCK, args);
    if (cli_sh(DIR_, cmd, out, NULL) != 0)
        fail_msg("%s failed", cmd);
}

/* Types line into the pane and presses Enter. */
static void type(const char *line)
{
    char path[512], args[600];
    /* through a tmux buffer, so the shell sees the line exactly (no key or token is ever
     * typed: they come from the environment the tmux server inherits) */
    snprintf(path, sizeof(path), "%s/line", DIR_);
    h_write_file(path, line);
    snprintf(args, sizeof(args),
             "load-buffer -b cmd '%s' \\; paste-buffer -b cmd -t t -d \\; "
             "send-keys -t t Enter",
             path);
    tmux(args, NULL);
}

struct pane_has {
    const char *needle;
    bool escapes;
    char *text;
};

static bool pane_has(void *arg)
{
    struct pane_has *p = arg;
    free(p->text);
    tmux(p->escapes ? "capture-pane -p -e -J -S -200 -t t" : "capture-pane -p -J -S -200 -t t",
         &p->text);
    return p->text != NULL && strstr(p->text, p->needle) != NULL;
}

/* Polls the pane (with a deadline) until it shows needle; returns the pane (caller frees). */
static char *wait_pane(const char *needle, bool escapes, int timeout_ms)
{
    struct pane_has p = {needle, escapes, NULL};
    if (!h_poll(pane_has, &p, timeout_ms))
        fail_msg("the pane never showed \"%s\"; it shows:\n%s", needle, p.text ? p.text : "");
    return p.text;
}

static void add_vm(const char *rg, const char *name)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"subscriptionId\":\"" SUB "\",\"resourceGroup\":\"%s\",\"name\":\"%s\","
             "\"location\":\"westeurope\"}",
             rg, name);
    cli_sim_call(&S, "POST", "/_sim/vms", body, 201);
}

static int setup(void **state)
{
    const char *args[] = {"--time-scale", "0.02", NULL};
    char key[128], cmd[1200];
    (void)state;
    if (system("command -v tmux >/dev/null 2>&1") != 0)
        return 0;
    h_tmpdir(DIR_, sizeof(DIR_));
    snprintf(SOCK, sizeof(SOCK), "vmloginctl-test-%ld", (long)getpid());
    if (!h_sim_start(&S, H_DEMO_SCENARIO, args) ||
        !h_daemon_start_for_sim(&D, &S,
                                "login_recheck_s = 1\ntask_lease_s = 5\n"
                                "lro_poll_max_ms = 200\nreconcile_workers = 4\n"))
        return -1;
    h_daemon_key(&D, "administrator", NULL, key, sizeof(key));
    add_vm("rg-tty", "tty-a");
    add_vm("rg-tty2", "tty-b");
    /* the pane's shell inherits this environment from the tmux server */
    setenv("VMLOGIND_URL", D.p.url, 1);
    setenv("VMLOGIND_API_KEY", key, 1);
    setenv("TERM", "xterm-256color", 1);
    setenv("XDG_CONFIG_HOME", DIR_, 1);
    unsetenv("NO_COLOR");
    unsetenv("VMLOGIND_SUBSCRIPTION");
    tmux("new-session -d -s t -x 220 -y 50 sh", NULL);
    snprintf(cmd, sizeof(cmd), "PS1='$ '; export PS1; alias ctl='%s'", VMLOGINCTL_BIN);
    type(cmd);
    type("ctl sync --wait -o json >/dev/null; echo SYNC=$?");
    free(wait_pane("SYNC=0", false, 20000));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (SOCK[0] == '\0')
        return 0;
    tmux("kill-server", NULL);
    h_daemon_stop(&D);
    h_sim_stop(&S);
    return 0;
}

static bool have_tmux(void)
{
    if (SOCK[0] != '\0')
        return true;
    print_message("tmux is not installed: the terminal test is SKIPPED "
                  "(scripts/install-deps.sh installs tmux)\n");
    return false;
}

/* --wait on a terminal: the progress line is redrawn in place (one line, not one per poll), it
 * ends in the final count, then the operation's table follows on stdout. */
static void test_progress_line(void **state)
{
    char *pane;
    (void)state;
    if (!have_tmux())
        return;
    cli_sim_call(&S, "PUT", "/_sim/config", "{\"timeScale\":0.2}", 200);
    type("clear; ctl login enable rg-tty --wait; echo EXIT=$?");
    pane = wait_pane(" 1 pending", false, 20000);
    assert_non_null(strstr(pane, ": 0 done, 0 failed, 1 pending"));
    free(pane);
    pane = wait_pane("EXIT=0", false, 60000);
    cli_sim_call(&S, "PUT", "/_sim/config", "{\"timeScale\":0.02}", 200);
    assert_non_null(strstr(pane, "Succeeded: 1 done, 0 failed, 0 pending"));
    /* redrawn in place: exactly one progress line is left on the screen */
    int lines = 0;
    for (const char *p = pane; (p = strstr(p, " pending")) != NULL; p++)
        lines++;
    assert_int_equal(lines, 1);
    /* then the operation as a table, its VMs below */
    assert_non_null(strstr(pane, "\nSTATUS "));
    assert_non_null(strstr(pane, "\nVM "));
    assert_non_null(strstr(pane, "/virtualMachines/tty-a"));
    free(pane);
}

/* Ctrl-C typed in the pane while waiting: exit 130 and the way to follow it again. */
static void test_ctrl_c(void **state)
{
    char *pane;
    (void)state;
    if (!have_tmux())
        return;
    cli_sim_call(&S, "PUT", "/_sim/config", "{\"timeScale\":0.5}", 200);
    type("clear; ctl login enable rg-tty2 --wait; echo EXIT=$?");
    free(wait_pane(" 1 pending", false, 20000));
    tmux("send-keys -t t C-c", NULL);
    pane = wait_pane("EXIT=130", false, 10000);
    cli_sim_call(&S, "PUT", "/_sim/config", "{\"timeScale\":0.02}", 200);
    assert_non_null(strstr(pane, "stopped watching (Ctrl-C); operation "));
    assert_non_null(strstr(pane, "follow it again: vmloginctl operation watch "));
    free(pane);
}

/* vm list on a terminal: a table by default (not JSON), states coloured; NO_COLOR: none. */
static void test_table(void **state)
{
    char *pane;
    (void)state;
    if (!have_tmux())
        return;
    type("clear; ctl vm list --subscription " SUB " --resource-group rg-tty; echo LIST=$?");
    pane = wait_pane("LIST=0", true, 10000);
    assert_non_null(strstr(pane, "NAME"));
    assert_non_null(strstr(pane, "RESOURCE GROUP"));
    assert_non_null(strstr(pane, "tty-a"));
    assert_null(strstr(pane, "\"value\""));
    assert_non_null(strstr(pane, "\033[32menabled"));
    free(pane);
    type("clear; NO_COLOR=1 ctl vm list --subscription " SUB " --resource-group rg-tty; "
         "echo PLAIN=$?");
    pane = wait_pane("PLAIN=0", true, 10000);
    assert_non_null(strstr(pane, "tty-a"));
    assert_null(strstr(pane, "\033[32m"));
    assert_null(strstr(pane, "\033[31m"));
    free(pane);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress_line),
        cmocka_unit_test(test_ctrl_c),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

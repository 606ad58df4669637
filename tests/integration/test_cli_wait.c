/* vmloginctl --wait and operation watch against the real vmlogind and azsim: followed to the
 * end with one progress line per change when stderr is not a terminal (exit 0 succeeded,
 * 1 failed, 3 partly succeeded); Ctrl-C stops the watching, not the operation (exit 130, a
 * message saying it continues and how to follow it), and operation watch picks it up again;
 * audit --follow until Ctrl-C. */
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

static int ctl(const char *args, char **out, char **err)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' %s", VMLOGINCTL_BIN, args);
    return cli_sh(DIR_, cmd, out, err);
}

static void add_vm(const char *rg, const char *name, const char *extra)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"subscriptionId\":\"" SUB "\",\"resourceGroup\":\"%s\",\"name\":\"%s\","
             "\"location\":\"westeurope\"%s}",
             rg, name, extra);
    cli_sim_call(&S, "POST", "/_sim/vms", body, 201);
}

#define LEGACY_OS                                                                                  \
    ",\"imageReference\":{\"publisher\":\"MicrosoftWindowsServer\",\"offer\":\"WindowsServer\","   \
    "\"sku\":\"2016-Datacenter\",\"version\":\"latest\"},\"osName\":\"Windows Server 2016 "        \
    "Datacenter\",\"osVersion\":\"10.0.14393.7428\",\"osType\":\"Windows\""

static int setup(void **state)
{
    const char *args[] = {"--time-scale", "0.02", NULL};
    char key[128];
    (void)state;
    h_tmpdir(DIR_, sizeof(DIR_));
    if (!h_sim_start(&S, H_DEMO_SCENARIO, args) ||
        !h_daemon_start_for_sim(&D, &S,
                                "login_recheck_s = 1\ntask_lease_s = 5\n"
                                "lro_poll_max_ms = 200\nreconcile_workers = 4\n"
                                "login_max_attempts = 2\n"))
        return -1;
    h_daemon_key(&D, "administrator", NULL, key, sizeof(key));
    setenv("VMLOGIND_URL", D.p.url, 1);
    setenv("VMLOGIND_API_KEY", key, 1);
    unsetenv("VMLOGIND_SUBSCRIPTION");
    add_vm("rg-wait", "wait-a", "");
    add_vm("rg-wait", "wait-b", "");
    add_vm("rg-mix", "mix-good", "");
    add_vm("rg-mix", "mix-bad", "");
    add_vm("rg-legacy", "legacy", LEGACY_OS);
    /* mix-bad's IMDS has no identity: the extension fails with 1007 (DSREG_E_MSI_TENANTID_...) */
    cli_sim_call(&S, "PATCH",
                 "/_sim/vms?id=/subscriptions/" SUB "/resourceGroups/rg-mix/providers/"
                 "Microsoft.Compute/virtualMachines/mix-bad",
                 "{\"facts\":{\"imdsIdentityUnavailable\":true}}", 200);
    add_vm("rg-slow", "slow-a", "");
    char *err;
    int rc = ctl("sync --wait -o json", NULL, &err);
    if (rc != 0)
        print_error("sync --wait: exit %d: %s\n", rc, err ? err : "");
    free(err);
    return rc == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    h_daemon_stop(&D);
    h_sim_stop(&S);
    return 0;
}

/* Succeeded: exit 0, the operation's JSON on stdout, and on stderr (not a terminal) one line
 * per change ending in the final count, no carriage returns or colours. */
static void test_wait_succeeded(void **state)
{
    char *out, *err;
    json_t *j;
    (void)state;

    assert_int_equal(ctl("login enable rg-wait --wait -o json", &out, &err), 0);
    j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(h_jstr(j, "status"), "Succeeded");
    assert_non_null(strstr(err, "Succeeded: 2 done, 0 failed, 0 pending\n"));
    assert_non_null(strstr(err, h_jstr(j, "id")));
    assert_null(strchr(err, '\r'));
    assert_null(strchr(err, '\033'));
    /* no line repeats: one per change */
    for (char *line = err, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        char *next = nl + 1, *nl2 = strchr(next, '\n');
        if (nl2 != NULL)
            assert_false((size_t)(nl2 - next) == (size_t)(nl - line) &&
                         strncmp(line, next, (size_t)(nl - line)) == 0);
    }
    json_decref(j);
    free(out);
    free(err);
}

/* A VM on an unsupported OS fails (exit 1); a group with a good VM and one whose extension
 * fails partly succeeds (exit 3). */
static void test_wait_failed_and_partial(void **state)
{
    char *out, *err;
    (void)state;

    assert_int_equal(ctl("login enable rg-legacy/legacy --wait -o json", &out, &err), 1);
    assert_non_null(strstr(out, "\"Failed\""));
    assert_non_null(strstr(err, "Failed: 0 done, 1 failed, 0 pending"));
    free(out);
    free(err);
    assert_int_equal(ctl("login enable rg-mix --wait -o json", &out, &err), 3);
    assert_non_null(strstr(out, "\"PartiallySucceeded\""));
    assert_non_null(strstr(err, "PartiallySucceeded: 1 done, 1 failed, 0 pending"));
    free(out);
    free(err);
}

/* Ctrl-C while waiting: exit 130, "continues" and the command to follow it; the operation is
 * not canceled, and operation watch follows it to the end. */
static void test_wait_ctrl_c(void **state)
{
    const char *argv[] = {"login", "enable", "rg-slow", "--wait", "-o", "json", NULL};
    char outf[512], errf[512], id[64], args[256], *text, *at, *out;
    json_t *j;
    pid_t pid;
    (void)state;

    cli_sim_call(&S, "PUT", "/_sim/config", "{\"timeScale\":0.5}", 200); /* a slow install */
    snprintf(outf, sizeof(outf), "%s/slow.out", DIR_);
    snprintf(errf, sizeof(errf), "%s/slow.err", DIR_);
    pid = cli_spawn(argv, outf, errf);
    text = cli_wait_file(errf, " pending", 20000);
    at = strstr(text, "operation ");
    assert_non_null(at);
    at += strlen("operation ");
    snprintf(id, sizeof(id), "%.*s", (int)strcspn(at, " "), at);
    free(text);
    assert_int_equal(kill(pid, SIGINT), 0);
    assert_int_equal(cli_wait_exit(pid, 10000), 130);
    text = h_read_file(errf);
    assert_non_null(strstr(text, "stopped watching (Ctrl-C); operation "));
    assert_non_null(strstr(text, "continues on the server"));
    snprintf(args, sizeof(args), "vmloginctl operation watch %s", id);
    assert_non_null(strstr(text, args));
    free(text);
    snprintf(args, sizeof(args), "operation show %s -o json", id);
    assert_int_equal(ctl(args, &out, NULL), 0);
    j = json_loads(out, 0, NULL);
    assert_string_not_equal(h_jstr(j, "status"), "Canceled");
    json_decref(j);
    free(out);
    cli_sim_call(&S, "PUT", "/_sim/config", "{\"timeScale\":0.02}", 200);
    snprintf(args, sizeof(args), "operation watch %s -o json", id);
    assert_int_equal(ctl(args, &out, NULL), 0);
    assert_non_null(strstr(out, "\"Succeeded\""));
    free(out);
}

/* audit --follow: prints the rows there are, then each new one as it is written (found by
 * polling the audit cursor), one JSON object per line; Ctrl-C ends it with exit 0. */
static void test_audit_follow(void **state)
{
    const char *argv[] = {"audit", "--follow", "-o", "json", NULL};
    char outf[512], errf[512], *text;
    pid_t pid;
    (void)state;

    snprintf(outf, sizeof(outf), "%s/audit.out", DIR_);
    snprintf(errf, sizeof(errf), "%s/audit.err", DIR_);
    pid = cli_spawn(argv, outf, errf);
    free(cli_wait_file(outf, "\"action\":\"entraLogin.put\"", 10000));
    assert_int_equal(ctl("grant create --scope rg-wait/wait-a --role user --principal "
                         "bob@contoso.example --for 1h --justification follow -o json",
                         NULL, NULL),
                     0);
    text = cli_wait_file(outf, "\"action\":\"loginGrant.create\"", 10000);
    for (char *line = text, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        json_t *j = json_loadb(line, (size_t)(nl - line), 0, NULL);
        assert_non_null(j); /* every line is one JSON object */
        assert_true(json_is_integer(json_object_get(j, "seq")));
        json_decref(j);
    }
    free(text);
    assert_int_equal(kill(pid, SIGINT), 0);
    assert_int_equal(cli_wait_exit(pid, 10000), 0);
    assert_int_equal(ctl("audit --limit 0", NULL, NULL), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wait_succeeded),
        cmocka_unit_test(test_wait_failed_and_partial),
        cmocka_unit_test(test_wait_ctrl_c),
        cmocka_unit_test(test_audit_follow),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

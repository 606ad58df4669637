/* A tour of the real vmloginctl binary against azsim and vmlogind: sync --wait, vm list in
 * json and tsv, login enable --wait on a resource group (exit 0), grant create and list,
 * access of a VM, and the exit codes of a 404 (5), a bad key (4) and bad usage (2) with the
 * problem printed on stderr; login preflight (json, yaml) and rdp; and the completion scripts
 * loaded in bash and zsh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "harness.h"

#define SUB "5d0f6e8a-0000-4000-8000-00000000bbbb"

struct tour {
    struct sim s;
    struct daemon d;
    char key[128];
    char dir[256];
};

/* Runs the shell command cmd with stdout and stderr to files in dir; returns its exit code,
 * with stdout and stderr in *out / *err (caller frees; may be NULL). */
static int sh(const char *dir, const char *cmd, char **out, char **err)
{
    char full[4096], errf[512], outf[512];
    int st;

    snprintf(outf, sizeof(outf), "%s/ctl.out", dir);
    snprintf(errf, sizeof(errf), "%s/ctl.err", dir);
    snprintf(full, sizeof(full), "%s >'%s' 2>'%s'", cmd, outf, errf);
    st = system(full);
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

/* Runs vmloginctl with args (single-quote free) and the environment of the process. */
static int ctl(struct tour *t, const char *args, char **out, char **err)
{
    char cmd[2048];

    snprintf(cmd, sizeof(cmd), "'%s' %s", VMLOGINCTL_BIN, args);
    return sh(t->dir, cmd, out, err);
}

/* Runs vmloginctl; fails unless it exits want (any exit when want < 0) with JSON on stdout. */
static json_t *ctl_json(struct tour *t, const char *args, int want)
{
    char *out, *err;
    int rc = ctl(t, args, &out, &err);
    json_t *j;

    if (want >= 0 && rc != want)
        fail_msg("vmloginctl %s: exit %d, want %d\nstdout: %s\nstderr: %s", args, rc, want,
                 out ? out : "", err ? err : "");
    j = json_loads(out ? out : "", 0, NULL);
    if (j == NULL)
        fail_msg("vmloginctl %s: not JSON: %s", args, out ? out : "");
    free(out);
    free(err);
    return j;
}

static void add_vm(struct tour *t, const char *rg, const char *name)
{
    char url[512], body[512];
    struct resp r;

    snprintf(url, sizeof(url), "%s/_sim/vms", t->s.p.url);
    snprintf(body, sizeof(body),
             "{\"subscriptionId\":\"" SUB "\",\"resourceGroup\":\"%s\",\"name\":\"%s\","
             "\"location\":\"westeurope\"}",
             rg, name);
    assert_int_equal(h_http("POST", url, body, NULL, &r) / 100, 2);
    h_resp_cleanup(&r);
}

static bool has_name(const json_t *page, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(page, "value"), i, v)
    {
        if (strcmp(h_jstr(v, "name"), name) == 0)
            return true;
    }
    return false;
}

static void test_tour(void **state)
{
    const char *args[] = {"--time-scale", "0.02", NULL};
    struct tour t;
    json_t *j;
    char *out, *err;
    (void)state;

    memset(&t, 0, sizeof(t));
    h_tmpdir(t.dir, sizeof(t.dir));
    assert_true(h_sim_start(&t.s, H_DEMO_SCENARIO, args));
    assert_true(h_daemon_start_for_sim(&t.d, &t.s,
                                       "login_recheck_s = 1\ntask_lease_s = 5\n"
                                       "lro_poll_max_ms = 200\nreconcile_workers = 4\n"));
    h_daemon_key(&t.d, "administrator", NULL, t.key, sizeof(t.key));
    setenv("VMLOGIND_URL", t.d.p.url, 1);
    setenv("VMLOGIND_API_KEY", t.key, 1);
    unsetenv("VMLOGIND_SUBSCRIPTION");
    add_vm(&t, "rg-cli", "cli-a");

    /* the inventory */
    json_decref(ctl_json(&t, "sync --wait -o json", 0));
    j = ctl_json(&t, "vm list -o json", 0);
    assert_true(has_name(j, "cli-a"));
    assert_true(has_name(j, "win-vm-01"));
    json_decref(j);
    assert_int_equal(
        ctl(&t, "vm list -o tsv --subscription " SUB " --resource-group rg-cli", &out, NULL), 0);
    assert_non_null(strstr(out, "cli-a\trg-cli\t" SUB "\t"));
    assert_null(strstr(out, "win-vm-01"));
    free(out);
    j = ctl_json(&t, "vm show rg-cli/cli-a -o json", 0);
    assert_string_equal(h_jstr(j, "resourceGroup"), "rg-cli");
    json_decref(j);

    /* login enable on a resource group given by name, followed to the end */
    j = ctl_json(&t, "login enable rg-cli --wait -o json", 0);
    assert_string_equal(h_jstr(j, "status"), "Succeeded");
    json_decref(j);
    assert_int_equal(ctl(&t, "login status rg-cli -o table", &out, NULL), 0);
    assert_non_null(strstr(out, "/resourceGroups/rg-cli"));
    free(out);

    /* a grant on the VM by RG/NAME, then listed */
    j = ctl_json(&t,
                 "grant create --scope rg-cli/cli-a --role user --principal "
                 "alice@contoso.example --for 8h --justification tour -o json",
                 0);
    char id[64];
    snprintf(id, sizeof(id), "%s", h_jstr(j, "id"));
    assert_true(id[0] != '\0');
    assert_non_null(strstr(h_jstr(j, "scope"), "/virtualMachines/cli-a"));
    json_decref(j);
    assert_int_equal(ctl(&t, "grant list -o tsv", &out, NULL), 0);
    assert_non_null(strstr(out, id));
    free(out);

    /* who can sign in to the VM */
    j = ctl_json(&t, "access cli-a -o json", 0);
    assert_non_null(json_object_get(j, "vm"));
    assert_true(json_is_array(json_object_get(j, "value")));
    json_decref(j);

    /* preflight of the VM: the checks, and exit 1 exactly when the result is fail; as yaml */
    j = ctl_json(&t, "login preflight cli-a -o json", -1);
    assert_non_null(strstr(h_jstr(j, "virtualMachine"), "/virtualMachines/cli-a"));
    assert_true(json_array_size(json_object_get(j, "checks")) > 0);
    int want = strcmp(h_jstr(j, "result"), "fail") == 0 ? 1 : 0;
    json_decref(j);
    assert_int_equal(ctl(&t, "login preflight rg-cli/cli-a -o yaml", &out, NULL), want);
    assert_non_null(strstr(out, "\nchecks:\n  - name: "));
    assert_non_null(strstr(out, "virtualMachine: /subscriptions/" SUB "/resourceGroups/rg-cli/"));
    free(out);

    /* an .rdp file for the VM with the user hint, in a file and on stdout */
    char rdp[600], rdp_args[800];
    snprintf(rdp, sizeof(rdp), "%s/cli-a.rdp", t.dir);
    snprintf(rdp_args, sizeof(rdp_args), "rdp cli-a --upn alice@contoso.example -f '%s'", rdp);
    assert_int_equal(ctl(&t, rdp_args, NULL, NULL), 0);
    out = h_read_file(rdp);
    assert_non_null(out);
    assert_non_null(strstr(out, "username:s:alice@contoso.example\r\n"));
    assert_non_null(strstr(out, "enablerdsaadauth:i:1\r\n"));
    free(out);
    assert_int_equal(ctl(&t, "rdp rg-cli/cli-a --upn alice@contoso.example --azuread", &out, NULL),
                     0);
    assert_non_null(strstr(out, "username:s:AzureAD\\alice@contoso.example\r\n"));
    free(out);
    assert_int_equal(ctl(&t, "rdp cli-a", NULL, NULL), 2);
    assert_int_equal(ctl(&t, "rdp cli-a --upn not-a-upn", NULL, &err), 1);
    assert_non_null(strstr(err, "upn"));
    free(err);

    /* not found: 5, with the problem on stderr; a VM not in the inventory too */
    assert_int_equal(ctl(&t, "operation show 00000000-0000-4000-8000-000000000000", NULL, &err), 5);
    assert_non_null(strstr(err, "error: "));
    assert_non_null(strstr(err, "HTTP 404"));
    assert_non_null(strstr(err, "request id: "));
    free(err);
    assert_int_equal(ctl(&t, "vm show rg-cli/no-such-vm", NULL, &err), 5);
    assert_non_null(strstr(err, "no VM rg-cli/no-such-vm"));
    free(err);

    /* a bad key: 4 */
    setenv("VMLOGIND_API_KEY", "vlk_not-a-real-key", 1);
    assert_int_equal(ctl(&t, "vm list -o json", NULL, &err), 4);
    assert_non_null(strstr(err, "HTTP 401"));
    free(err);
    setenv("VMLOGIND_API_KEY", t.key, 1);

    /* bad usage: 2, before any request */
    assert_int_equal(ctl(&t, "vm list --bogus", NULL, NULL), 2);
    assert_int_equal(ctl(&t, "grant create --scope rg-cli", NULL, NULL), 2);
    assert_int_equal(ctl(&t, "vm list -o xml", NULL, NULL), 2);
    assert_int_equal(ctl(&t, "nosuch", NULL, NULL), 2);
    /* --help per command, with an example */
    assert_int_equal(ctl(&t, "login enable --help", &out, NULL), 0);
    assert_non_null(strstr(out, "Example:\n  vmloginctl login enable"));
    free(out);

    /* --debug shows the exchange but never the key */
    assert_int_equal(ctl(&t, "vm list -o json --debug", NULL, &err), 0);
    assert_non_null(strstr(err, "Authorization: [redacted]"));
    assert_null(strstr(err, t.key));
    free(err);

    h_daemon_stop(&t.d);
    h_sim_stop(&t.s);
}

/* Runs a shell (bash or zsh) on script; fails unless it exits 0 with nothing on stderr, and
 * returns its stdout. */
static char *shell_ok(const char *dir, const char *shell, const char *script)
{
    char cmd[4096], *out, *err;
    int rc;

    snprintf(cmd, sizeof(cmd), "%s -c \"%s\"", shell, script);
    rc = sh(dir, cmd, &out, &err);
    if (rc != 0 || (err != NULL && err[0] != '\0'))
        fail_msg("%s: exit %d\nstdout: %s\nstderr: %s", cmd, rc, out ? out : "", err ? err : "");
    free(err);
    return out;
}

/* completion bash|zsh|fish: the scripts load without errors in bash and zsh and complete a
 * group's verbs; an unknown shell is a usage error. */
static void test_completion(void **state)
{
    char dir[256], script[2048], *out;
    (void)state;

    h_tmpdir(dir, sizeof(dir));
    snprintf(script, sizeof(script),
             "source <('%s' completion bash) && complete -p vmloginctl && "
             "COMP_WORDS=(vmloginctl grant ''); COMP_CWORD=2; _vmloginctl; "
             "echo words: \\${COMPREPLY[*]}",
             VMLOGINCTL_BIN);
    out = shell_ok(dir, "bash", script);
    assert_non_null(strstr(out, "complete -F _vmloginctl vmloginctl"));
    assert_non_null(strstr(out, "words: create list show extend revoke"));
    free(out);

    if (system("command -v zsh >/dev/null 2>&1") != 0) {
        print_message("zsh is not installed: the zsh completion check is SKIPPED "
                      "(scripts/install-deps.sh installs zsh)\n");
    } else {
        snprintf(script, sizeof(script),
                 "autoload -Uz compinit && compinit -u -d '%s/zcompdump' && "
                 "source <('%s' completion zsh) && whence -w _vmloginctl && "
                 "print comps: \\$_comps[vmloginctl]",
                 dir, VMLOGINCTL_BIN);
        out = shell_ok(dir, "zsh", script);
        assert_non_null(strstr(out, "_vmloginctl: function"));
        assert_non_null(strstr(out, "comps: _vmloginctl"));
        free(out);
    }

    snprintf(script, sizeof(script), "'%s' completion fish", VMLOGINCTL_BIN);
    assert_int_equal(sh(dir, script, &out, NULL), 0);
    assert_non_null(strstr(out, "complete -c vmloginctl -n '__fish_seen_subcommand_from vm; and "
                                "not __fish_seen_subcommand_from list show' -a 'list show'\n"));
    assert_non_null(strstr(out, "-l output -x -a 'table wide json yaml tsv'"));
    free(out);
    snprintf(script, sizeof(script), "'%s' completion tcsh", VMLOGINCTL_BIN);
    assert_int_equal(sh(dir, script, NULL, NULL), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_completion),
                                       cmocka_unit_test(test_tour)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

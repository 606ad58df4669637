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

#include "test_cli_common.h"

#define SUB "5d0f6e8a-0000-4000-8000-00000000bbbb"

struct tour {
    struct sim s;
    struct daemon d;
    char key[128];
    char dir[256];
};

/* Runs vmloginctl with args (single-quote free) and the environment of the process. */
static int ctl(struct tour *t, const char *args, char **out, char **err)
{
    char cmd[2048];

    snprintf(cmd, sizeof(cmd), "'%s' %s", VMLOGINCTL_BIN, args);
    return cli_sh(t->dir, cmd, out, err);
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

    /* why can't she sign in: a guest cannot (exit 1, the guest check fails with its reason);
     * --wait follows the directory read the first question schedules */
    j = ctl_json(&t,
                 "signin cli-a --principal 'dave_fabrikam.example#EXT#@contoso.example' --wait "
                 "-o json",
                 1);
    assert_string_equal(h_jstr(j, "verdict"), "cannotSignIn");
    assert_string_equal(h_jstr(json_object_get(j, "directory"), "state"), "checked");
    {
        size_t i;
        json_t *c;
        bool guest = false;
        json_array_foreach(json_object_get(j, "checks"), i, c)
        {
            guest |= strcmp(h_jstr(c, "id"), "memberNotGuest") == 0 &&
                     strcmp(h_jstr(c, "status"), "fail") == 0;
        }
        assert_true(guest);
    }
    json_decref(j);
    assert_int_equal(ctl(&t,
                         "signin cli-a --principal 'dave_fabrikam.example#EXT#@contoso.example'",
                         &out, NULL),
                     1);
    assert_non_null(strstr(out, "cannotSignIn"));
    assert_non_null(strstr(out, "memberNotGuest"));
    free(out);
    assert_int_equal(ctl(&t, "signin cli-a", NULL, NULL), 2); /* no --principal */

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
    rc = cli_sh(dir, cmd, &out, &err);
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
    assert_int_equal(cli_sh(dir, script, &out, NULL), 0);
    assert_non_null(strstr(out, "complete -c vmloginctl -n '__fish_seen_subcommand_from vm; and "
                                "not __fish_seen_subcommand_from list show' -a 'list show'\n"));
    assert_non_null(strstr(out, "-l output -x -a 'table wide json yaml tsv'"));
    free(out);
    snprintf(script, sizeof(script), "'%s' completion tcsh", VMLOGINCTL_BIN);
    assert_int_equal(cli_sh(dir, script, NULL, NULL), 2);
}

/* The README's vmloginctl tour, line by line, as the README has it: the key file and the URL
 * are this test's, <id> is the operation login enable answered, and audit --follow runs until
 * a row shows and then gets Ctrl-C. Credentials come from the profile the tour's login wrote
 * (VMLOGIND_API_KEY and VMLOGIND_URL are unset). */
static char *readme_tour(void)
{
    char *readme = h_read_file(SOURCE_DIR "/README.md");
    const char *mark = "### A tour (the curl tour above, with vmloginctl)\n\n```sh\n";
    char *start, *end, *tour;

    assert_non_null(readme);
    start = strstr(readme, mark);
    assert_non_null(start);
    start += strlen(mark);
    end = strstr(start, "```");
    assert_non_null(end);
    tour = strndup(start, (size_t)(end - start));
    free(readme);
    return tour;
}

/* One logical line of the tour: continuations joined, the trailing comment dropped. */
static bool next_line(char **p, char *out, size_t cap)
{
    size_t n = 0;

    while (**p != '\0') {
        char *nl = strchr(*p, '\n');
        size_t len = nl ? (size_t)(nl - *p) : strlen(*p);
        bool cont = len > 0 && (*p)[len - 1] == '\\';
        snprintf(out + n, cap - n, "%.*s", (int)(cont ? len - 1 : len), *p);
        n = strlen(out);
        *p += len + (nl != NULL);
        if (!cont)
            break;
    }
    char *hash = strstr(out, "  #");
    if (hash != NULL)
        *hash = '\0';
    for (n = strlen(out); n > 0 && out[n - 1] == ' '; n--)
        out[n - 1] = '\0';
    return out[0] != '\0';
}

/* s with every from replaced by to (caller frees). */
static char *replace(const char *s, const char *from, const char *to)
{
    char *out = calloc(1, strlen(s) * 2 + strlen(to) * 4 + 1);
    const char *at;
    assert_non_null(out);
    while ((at = strstr(s, from)) != NULL) {
        strncat(out, s, (size_t)(at - s));
        strcat(out, to);
        s = at + strlen(from);
    }
    strcat(out, s);
    return out;
}

static void tour_follow(struct tour *t, const char *line)
{
    const char *argv[] = {"audit", "--follow", NULL};
    char outf[512], errf[512];
    pid_t pid;

    assert_string_equal(line, "vmloginctl audit --follow");
    snprintf(outf, sizeof(outf), "%s/follow.out", t->dir);
    snprintf(errf, sizeof(errf), "%s/follow.err", t->dir);
    pid = cli_spawn(argv, outf, errf);
    free(cli_wait_file(outf, "\"action\":\"loginGrant.create\"", 10000));
    kill(pid, SIGINT);
    assert_int_equal(cli_wait_exit(pid, 10000), 0);
}

static void test_readme_tour(void **state)
{
    const char *args[] = {"--time-scale", "0.02", NULL};
    char line[1024], keyf[512], xdg[512], op[64] = "";
    struct tour t;
    char *tour, *p;
    int ran = 0;
    (void)state;

    memset(&t, 0, sizeof(t));
    h_tmpdir(t.dir, sizeof(t.dir));
    assert_true(h_sim_start(&t.s, H_DEMO_SCENARIO, args));
    assert_true(h_daemon_start_for_sim(&t.d, &t.s,
                                       "login_recheck_s = 1\ntask_lease_s = 5\n"
                                       "lro_poll_max_ms = 200\nreconcile_workers = 4\n"
                                       "login_max_attempts = 2\n"));
    h_daemon_key(&t.d, "administrator", NULL, t.key, sizeof(t.key));
    snprintf(keyf, sizeof(keyf), "%s/vmlogind-key", t.dir);
    h_write_file(keyf, t.key);
    snprintf(xdg, sizeof(xdg), "%s/xdg", t.dir);
    setenv("XDG_CONFIG_HOME", xdg, 1);
    unsetenv("VMLOGIND_URL");
    unsetenv("VMLOGIND_API_KEY");
    unsetenv("VMLOGINCTL_PROFILE");

    tour = readme_tour();
    p = tour;
    while (*p != '\0') {
        char *out, *err, *a, *b, *c;
        if (!next_line(&p, line, sizeof(line)) || strncmp(line, "vmlogind keys create", 20) == 0)
            continue; /* the key is in keyf already */
        if (strncmp(line, "vmloginctl audit --follow", 25) == 0) {
            tour_follow(&t, line);
            ran++;
            continue;
        }
        assert_true(strncmp(line, "vmloginctl ", 11) == 0);
        a = replace(line + 11, "~/.vmlogind-key", keyf);
        b = replace(a, "http://127.0.0.1:8080", t.d.p.url);
        c = replace(b, "<id>", op);
        char cmd[2048];
        snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' %s", t.dir, VMLOGINCTL_BIN, c);
        int rc = cli_sh(t.dir, cmd, &out, &err); /* in t.dir: rdp -f writes its file there */
        bool enable = strncmp(c, "login enable ", 13) == 0 && strstr(c, "--wait") != NULL;
        if (rc != 0)
            fail_msg("README tour: vmloginctl %s: exit %d\n%s%s", c, rc, out ? out : "",
                     err ? err : "");
        if (enable) {
            json_t *j = json_loads(out, 0, NULL);
            snprintf(op, sizeof(op), "%s", h_jstr(j, "id"));
            json_decref(j);
            assert_true(op[0] != '\0');
        }
        free(out);
        free(err);
        free(a);
        free(b);
        free(c);
        ran++;
    }
    assert_true(ran >= 10);
    free(tour);
    unsetenv("XDG_CONFIG_HOME");
    h_daemon_stop(&t.d);
    h_sim_stop(&t.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_completion),
                                       cmocka_unit_test(test_tour),
                                       cmocka_unit_test(test_readme_tour)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* vmloginctl's sign-in against the real vmlogind and azsim: login --entra by the device-code
 * flow (the code approved through azsim's control call as a scenario user), the token cache
 * (directory 0700, file 0600 under XDG_CONFIG_HOME) and its refresh; a declined code exits 4
 * and stores nothing; login --api-key from stdin and from --key-file (a bad key exits 4);
 * named profiles; VMLOGIND_API_KEY and VMLOGIND_URL override the profile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "test_cli_common.h"

#define OPERATOR_ROLE "VmLogin.Operator"
#define CLI_CLIENT "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

struct env {
    struct sim s;
    struct daemon d;
    char dir[256];
    char xdg[320];
    char key[128];
};

static struct env E;

static int ctl(const char *args, char **out, char **err)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' %s", VMLOGINCTL_BIN, args);
    return cli_sh(E.dir, cmd, out, err);
}

static void ctl_ok(const char *args)
{
    char *out, *err;
    int rc = ctl(args, &out, &err);
    if (rc != 0)
        fail_msg("vmloginctl %s: exit %d\n%s%s", args, rc, out ? out : "", err ? err : "");
    free(out);
    free(err);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static int setup(void **state)
{
    (void)state;
    memset(&E, 0, sizeof(E));
    h_tmpdir(E.dir, sizeof(E.dir));
    snprintf(E.xdg, sizeof(E.xdg), "%s/xdg", E.dir);
    if (!h_sim_start(&E.s, H_DEMO_SCENARIO, NULL) || !h_daemon_start_for_sim(&E.d, &E.s, NULL))
        return -1;
    h_daemon_key(&E.d, "reader", NULL, E.key, sizeof(E.key));
    setenv("XDG_CONFIG_HOME", E.xdg, 1);
    setenv("VMLOGIND_URL", E.d.p.url, 1);
    unsetenv("VMLOGIND_API_KEY");
    unsetenv("VMLOGINCTL_PROFILE");
    cli_sim_call(&E.s, "PUT", "/_sim/config", "{\"deviceCodeIntervalSeconds\":1}", 200);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_daemon_stop(&E.d);
    h_sim_stop(&E.s);
    return 0;
}

/* The settings a profile needs for login --entra against azsim. */
static void entra_profile(const char *profile)
{
    char args[1024];
    snprintf(args, sizeof(args), "--profile %s config set tenant " H_DEMO_TENANT, profile);
    ctl_ok(args);
    snprintf(args, sizeof(args), "--profile %s config set client-id " CLI_CLIENT, profile);
    ctl_ok(args);
    snprintf(args, sizeof(args), "--profile %s config set login-url %s", profile, E.s.p.url);
    ctl_ok(args);
    snprintf(args, sizeof(args),
             "--profile %s config set scope '" H_API_AUDIENCE "/.default offline_access'", profile);
    ctl_ok(args);
    snprintf(args, sizeof(args), "--profile %s config set ca-bundle '%s'", profile, E.s.cert);
    ctl_ok(args);
}

/* Starts login --entra for profile in the background and returns its pid; *code gets the
 * user code it shows. */
static pid_t start_entra(const char *profile, char *code, size_t cap, char *errf, size_t ecap)
{
    char outf[512];
    const char *argv[] = {"--profile", profile, "login", "--entra", NULL};
    const char *mark = "enter the code ";
    char *text, *at;
    pid_t pid;

    snprintf(outf, sizeof(outf), "%s/%s.login.out", E.dir, profile);
    snprintf(errf, ecap, "%s/%s.login.err", E.dir, profile);
    pid = cli_spawn(argv, outf, errf);
    text = cli_wait_file(errf, " to authenticate.", 10000);
    at = strstr(text, mark);
    assert_non_null(at);
    at += strlen(mark);
    snprintf(code, cap, "%.*s", (int)strcspn(at, " \n"), at);
    free(text);
    assert_true(code[0] != '\0');
    return pid;
}

static void approve(const char *code, const char *extra)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"userCode\":\"%s\",\"upn\":\"carol@contoso.example\",\"roles\":[\"" OPERATOR_ROLE
             "\"]%s}",
             code, extra);
    cli_sim_call(&E.s, "POST", "/_sim/deviceCodes/approve", body, 200);
}

static json_t *cred(const char *profile)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/vmloginctl/%s.cred.json", E.xdg, profile);
    return json_load_file(path, 0, NULL);
}

/* Device code approved as carol with the operator role: exit 0, the cache is private, and
 * vmlogind takes the token (she may read the inventory). */
static void test_entra_device_code(void **state)
{
    char code[32], errf[512], path[512], *out, *err;
    json_t *c;
    (void)state;

    entra_profile("entra");
    pid_t pid = start_entra("entra", code, sizeof(code), errf, sizeof(errf));
    approve(code, "");
    assert_int_equal(cli_wait_exit(pid, 15000), 0);
    err = h_read_file(errf);
    assert_non_null(strstr(err, "signed in to profile entra as carol@contoso.example"));
    free(err);

    snprintf(path, sizeof(path), "%s/vmloginctl", E.xdg);
    assert_int_equal(mode_of(path), 0700);
    snprintf(path, sizeof(path), "%s/vmloginctl/entra.cred.json", E.xdg);
    assert_int_equal(mode_of(path), 0600);
    snprintf(path, sizeof(path), "%s/vmloginctl/config.json", E.xdg);
    assert_int_equal(mode_of(path), 0600);
    c = cred("entra");
    assert_string_equal(h_jstr(c, "kind"), "entra");
    assert_true(h_jstr(c, "refreshToken")[0] != '\0');
    json_decref(c);

    assert_int_equal(ctl("--profile entra vm list -o json", &out, &err), 0);
    assert_non_null(strstr(out, "\"value\""));
    free(out);
    free(err);
    /* config list shows who and until when, never the token */
    assert_int_equal(ctl("--profile entra config list -o json", &out, NULL), 0);
    assert_non_null(strstr(out, "carol@contoso.example"));
    assert_null(strstr(out, "accessToken"));
    assert_null(strstr(out, "refreshToken"));
    free(out);
}

/* A token that expires within a minute is refreshed before the call; the refresh token
 * rotates; a refresh token azsim no longer knows means exit 4 and "sign in again". */
static void test_entra_refresh(void **state)
{
    char code[32], errf[512], *err;
    char before[4096];
    json_t *c;
    (void)state;

    entra_profile("short");
    pid_t pid = start_entra("short", code, sizeof(code), errf, sizeof(errf));
    approve(code, ",\"expiresIn\":30");
    assert_int_equal(cli_wait_exit(pid, 15000), 0);
    c = cred("short");
    snprintf(before, sizeof(before), "%s", h_jstr(c, "refreshToken"));
    json_decref(c);

    ctl_ok("--profile short vm list -o json");
    c = cred("short");
    assert_string_not_equal(h_jstr(c, "refreshToken"), before);
    assert_true(h_jstr(c, "accessToken")[0] != '\0');
    json_decref(c);

    cli_sim_call(&E.s, "POST", "/_sim/reset", "{}", 200); /* azsim forgets its refresh tokens */
    cli_sim_call(&E.s, "PUT", "/_sim/config", "{\"deviceCodeIntervalSeconds\":1}", 200);
    assert_int_equal(ctl("--profile short vm list -o json", NULL, &err), 4);
    assert_non_null(strstr(err, "invalid_grant"));
    assert_non_null(strstr(err, "vmloginctl login --entra"));
    free(err);
}

/* A declined code: exit 4 with Entra's reason, and no credential stored. */
static void test_entra_declined(void **state)
{
    char code[32], errf[512], body[256], *err;
    json_t *c;
    (void)state;

    entra_profile("declined");
    pid_t pid = start_entra("declined", code, sizeof(code), errf, sizeof(errf));
    snprintf(body, sizeof(body), "{\"userCode\":\"%s\"}", code);
    cli_sim_call(&E.s, "POST", "/_sim/deviceCodes/decline", body, 200);
    assert_int_equal(cli_wait_exit(pid, 15000), 4);
    err = h_read_file(errf);
    assert_non_null(strstr(err, "authorization_declined"));
    free(err);
    c = cred("declined");
    assert_null(c);
    /* and login --entra without a tenant is a usage error naming the settings */
    assert_int_equal(ctl("--profile bare login --entra", NULL, &err), 2);
    assert_non_null(strstr(err, "config set tenant"));
    free(err);
}

/* login --api-key: from stdin and from a file; never argv; a bad key exits 4 and is not kept;
 * VMLOGIND_API_KEY overrides the profile's key; config use switches the current profile. */
static void test_api_key(void **state)
{
    char keyf[512], bad[512], args[1200], path[512], *err, *out;
    json_t *c;
    (void)state;

    snprintf(keyf, sizeof(keyf), "%s/key", E.dir);
    h_write_file(keyf, E.key);
    snprintf(bad, sizeof(bad), "%s/bad", E.dir);
    h_write_file(bad, "vlk_not-a-real-key\n");

    snprintf(args, sizeof(args), "--profile keyed login --api-key < '%s'", keyf);
    ctl_ok(args);
    snprintf(path, sizeof(path), "%s/vmloginctl/keyed.cred.json", E.xdg);
    assert_int_equal(mode_of(path), 0600);
    c = cred("keyed");
    assert_string_equal(h_jstr(c, "apiKey"), E.key);
    json_decref(c);
    ctl_ok("--profile keyed vm list -o json");

    snprintf(args, sizeof(args), "--profile filed login --api-key --key-file '%s'", keyf);
    ctl_ok(args);
    snprintf(args, sizeof(args), "--profile badkey login --api-key --key-file '%s'", bad);
    assert_int_equal(ctl(args, NULL, &err), 4);
    assert_non_null(strstr(err, "HTTP 401"));
    free(err);
    assert_null(cred("badkey"));
    assert_int_equal(ctl("--profile empty login --api-key < /dev/null", NULL, NULL), 2);
    assert_int_equal(ctl("login --api-key vlk_in_argv", NULL, NULL), 2);

    /* the environment wins over the profile */
    setenv("VMLOGIND_API_KEY", "vlk_not-a-real-key", 1);
    assert_int_equal(ctl("--profile keyed vm list -o json", NULL, NULL), 4);
    unsetenv("VMLOGIND_API_KEY");
    /* profiles: url per profile (VMLOGIND_URL unset), config use, config get */
    unsetenv("VMLOGIND_URL");
    snprintf(args, sizeof(args), "--profile keyed config set url %s", E.d.p.url);
    ctl_ok(args);
    ctl_ok("config use keyed");
    assert_int_equal(ctl("config get url", &out, NULL), 0);
    assert_non_null(strstr(out, E.d.p.url));
    free(out);
    ctl_ok("vm list -o json");
    assert_int_equal(ctl("config get tenant", NULL, NULL), 5);
    assert_int_equal(ctl("config set no-such-thing x", NULL, NULL), 2);
    assert_int_equal(ctl("--profile '../x' config list", NULL, NULL), 2);
    ctl_ok("logout");
    assert_null(cred("keyed"));
    assert_int_equal(ctl("vm list -o json", NULL, &err), 4); /* signed out: 401, and a hint */
    assert_non_null(strstr(err, "no credential: vmloginctl login --api-key"));
    free(err);
    ctl_ok("config use default");
    setenv("VMLOGIND_URL", E.d.p.url, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entra_device_code),
        cmocka_unit_test(test_entra_refresh),
        cmocka_unit_test(test_entra_declined),
        cmocka_unit_test(test_api_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

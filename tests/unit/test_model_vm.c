/* model_vm: OS support judged from builds, OS names and marketplace images; power state; the
 * login extension matcher; login states and their spellings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "vmlogind/model.h"

struct os_case {
    const char *os_type, *pub, *offer, *sku, *image_id, *os_name, *os_version;
    enum model_os_support want;
    const char *reason_has;
};

#define S MODEL_OS_SUPPORTED
#define U MODEL_OS_UNSUPPORTED
#define K MODEL_OS_UNKNOWN

static const struct os_case os_cases[] = {
    /* the build decides when the VM agent reported it */
    {"Windows", NULL, NULL, NULL, NULL, NULL, "10.0.17763", S, "17763"},
    {"Windows", NULL, NULL, NULL, NULL, NULL, "Microsoft Windows NT 10.0.17763.0", S, "17763"},
    {"Windows", NULL, NULL, NULL, NULL, NULL, "10.0.20348.2227", S, "20348"},
    {"Windows", NULL, NULL, NULL, NULL, NULL, "10.0.22000", S, "22000"},
    {"Windows", NULL, NULL, NULL, NULL, NULL, "Microsoft Windows NT 10.0.14393.0", U, "14393"},
    {"Windows", NULL, NULL, NULL, NULL, NULL, "10.0.17134", U, "older"},
    {"Windows", NULL, NULL, NULL, NULL, NULL, "6.3.9600", U, "9600"},
    /* the build beats a misleading image */
    {"Windows", "MicrosoftWindowsServer", "WindowsServer", "2016-Datacenter", NULL, NULL,
     "10.0.17763", S, "17763"},
    {"Windows", "MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-azure-edition", NULL,
     NULL, "10.0.14393", U, "14393"},
    /* custom image: the build or nothing */
    {"Windows", NULL, NULL, NULL,
     "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/"
     "galleries/gal/images/win/versions/1.0.0",
     NULL, NULL, K, "custom image"},
    {"Windows", NULL, NULL, NULL,
     "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/"
     "images/golden",
     NULL, "10.0.19045", S, "19045"},
    {"", NULL, NULL, NULL, NULL, NULL, NULL, K, "no OS build"},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, K, "no OS build"},
    /* marketplace images when no build is known */
    {"Windows", "MicrosoftWindowsServer", "WindowsServer", "2019-Datacenter", NULL, NULL, NULL, S,
     "Windows Server 2019"},
    {"Windows", "MicrosoftWindowsServer", "WindowsServer", "2019-datacenter-gensecond", NULL, NULL,
     "", S, "2019"},
    {"Windows", "MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-azure-edition", NULL,
     NULL, NULL, S, "2022"},
    {"Windows", "MicrosoftWindowsServer", "WindowsServer", "2025-datacenter", NULL, NULL, NULL, S,
     "2025"},
    {"Windows", "MicrosoftWindowsServer", "WindowsServer", "2016-Datacenter", NULL, NULL, NULL, U,
     "2016"},
    {"Windows", "MicrosoftWindowsServer", "WindowsServer", "2012-R2-Datacenter", NULL, NULL, NULL,
     U, "2012"},
    {"Windows", "MicrosoftWindowsServer", "WindowsServerSemiAnnual",
     "Datacenter-Core-1809-with-Containers-smalldisk", NULL, NULL, NULL, S, "2019"},
    {"Windows", "MicrosoftWindowsServer", "WindowsServerSemiAnnual",
     "Datacenter-Core-1803-with-Containers-smalldisk", NULL, NULL, NULL, U, "2016"},
    {"Windows", "MicrosoftWindowsDesktop", "Windows-10", "20h2-pro", NULL, NULL, NULL, S, "2009"},
    {"Windows", "MicrosoftWindowsDesktop", "Windows-10", "win10-22h2-pro", NULL, NULL, NULL, S,
     "Windows 10"},
    {"Windows", "MicrosoftWindowsDesktop", "Windows-10", "rs5-pro", NULL, NULL, NULL, S, "1809"},
    {"Windows", "MicrosoftWindowsDesktop", "Windows-10", "rs4-pro", NULL, NULL, NULL, U, "1803"},
    {"Windows", "MicrosoftWindowsDesktop", "Windows-10", "19h1-ent", NULL, NULL, NULL, S, "1903"},
    {"Windows", "MicrosoftWindowsDesktop", "Windows-10", "mystery-pro", NULL, NULL, NULL, K,
     "not recognised"},
    {"Windows", "MicrosoftWindowsDesktop", "Windows-11", "win11-21h2-pro", NULL, NULL, NULL, S,
     "Windows 11"},
    {"Windows", "MicrosoftWindowsDesktop", "Windows-11", "win11-24h2-avd", NULL, NULL, NULL, S,
     "Windows 11"},
    {"Windows", "MicrosoftWindowsDesktop", "office-365", "win11-23h2-avd-m365", NULL, NULL, NULL, S,
     "Windows 11"},
    {"Windows", "MicrosoftSQLServer", "sql2019-ws2019", "enterprise", NULL, NULL, NULL, S, "2019"},
    {"Windows", "MicrosoftSQLServer", "sql2017-ws2016", "standard", NULL, NULL, NULL, U, "2016"},
    {"Windows", "SomeVendor", "appliance", "v1", NULL, NULL, NULL, K, "not recognised"},
    /* the OS name when there is no build */
    {"Windows", NULL, NULL, NULL, "/img", "Windows Server 2016 Datacenter", NULL, U, "2016"},
    {"Windows", NULL, NULL, NULL, "/img", "Windows Server 2022 Datacenter", NULL, S, "2022"},
    {"Windows", NULL, NULL, NULL, "/img", "Windows 11 Enterprise", NULL, S, "Windows 11"},
    /* Linux and others */
    {"Linux", "Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts", NULL, NULL, NULL, U,
     "Linux: use AADSSHLoginForLinux"},
    {"linux", NULL, NULL, NULL, NULL, NULL, "10.0.17763", U, "AADSSHLoginForLinux"},
    {"Plan9", NULL, NULL, NULL, NULL, NULL, NULL, U, "not Windows"},
};

static void test_os_support_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(os_cases) / sizeof(os_cases[0]); i++) {
        const struct os_case *c = &os_cases[i];
        struct model_os_facts f = {.os_type = c->os_type,
                                   .image_publisher = c->pub,
                                   .image_offer = c->offer,
                                   .image_sku = c->sku,
                                   .image_id = c->image_id,
                                   .os_name = c->os_name,
                                   .os_version = c->os_version};
        struct model_os_verdict v;

        model_os_support(&f, &v);
        if (v.support != c->want || strstr(v.reason, c->reason_has) == NULL) {
            print_error("case %zu: got %s (%s), want %s with '%s'\n", i,
                        model_os_support_str(v.support), v.reason, model_os_support_str(c->want),
                        c->reason_has);
            fail();
        }
    }
}

static void test_os_build_parse(void **state)
{
    int a, b, c;
    (void)state;
    assert_true(model_os_build("Microsoft Windows NT 10.0.17763.0", &a, &b, &c));
    assert_int_equal(a, 10);
    assert_int_equal(b, 0);
    assert_int_equal(c, 17763);
    assert_true(model_os_build("10.0.22631", &a, &b, &c));
    assert_int_equal(c, 22631);
    assert_false(model_os_build("10.0", &a, &b, &c));
    assert_false(model_os_build("", &a, &b, &c));
    assert_false(model_os_build(NULL, &a, &b, &c));
    assert_false(model_os_build("1234567890123.0.1", &a, &b, &c));
    assert_false(model_os_build("windows", &a, &b, &c));
}

/* Client or Server: the OS name first, then the marketplace image. */
static void test_os_edition(void **state)
{
    static const struct {
        struct model_os_facts f;
        enum model_os_edition want;
    } rows[] = {
        {{.os_name = "Windows Server 2022 Datacenter Azure Edition"}, MODEL_OS_EDITION_SERVER},
        {{.os_name = "Windows 10 Pro"}, MODEL_OS_EDITION_CLIENT},
        {{.os_name = "Windows 11 Enterprise multi-session"}, MODEL_OS_EDITION_CLIENT},
        {{.image_publisher = "MicrosoftWindowsServer",
          .image_offer = "WindowsServer",
          .image_sku = "2019-Datacenter"},
         MODEL_OS_EDITION_SERVER},
        {{.image_publisher = "MicrosoftWindowsDesktop",
          .image_offer = "Windows-11",
          .image_sku = "win11-23h2-pro"},
         MODEL_OS_EDITION_CLIENT},
        {{.image_publisher = "contoso", .image_offer = "golden", .image_sku = "win10-22h2"},
         MODEL_OS_EDITION_CLIENT},
        /* Server 2019 and Windows 10 1809 share build 17763: a build alone tells nothing */
        {{.os_version = "10.0.17763.1"}, MODEL_OS_EDITION_UNKNOWN},
        {{.image_id = "/subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/images/z"},
         MODEL_OS_EDITION_UNKNOWN},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(model_os_edition(&rows[i].f), rows[i].want);
}

static void test_power_and_extension(void **state)
{
    (void)state;
    assert_true(model_power_running("running"));
    assert_true(model_power_running("PowerState/running"));
    assert_true(model_power_running("Running"));
    assert_false(model_power_running("deallocated"));
    assert_false(model_power_running("PowerState/stopped"));
    assert_false(model_power_running(""));
    assert_false(model_power_running(NULL));

    assert_true(
        model_is_aadlogin_extension("Microsoft.Azure.ActiveDirectory", "AADLoginForWindows"));
    assert_true(
        model_is_aadlogin_extension("microsoft.azure.activedirectory", "aadloginforwindows"));
    assert_false(
        model_is_aadlogin_extension("Microsoft.Azure.ActiveDirectory", "AADSSHLoginForLinux"));
    assert_false(model_is_aadlogin_extension("Contoso", "AADLoginForWindows"));
    assert_false(model_is_aadlogin_extension(NULL, "AADLoginForWindows"));
}

static void test_login_state(void **state)
{
    struct model_login_facts f = {0};
    enum model_login_state s;
    (void)state;

    assert_int_equal(model_login_state(&f), MODEL_LOGIN_NOT_COVERED);
    f.has_extension = true;
    f.ext_provisioning = "Succeeded";
    assert_int_equal(model_login_state(&f), MODEL_LOGIN_ENABLED);
    f.ext_provisioning = "failed";
    assert_int_equal(model_login_state(&f), MODEL_LOGIN_FAILED);
    f.ext_provisioning = "Creating";
    assert_int_equal(model_login_state(&f), MODEL_LOGIN_PENDING);
    f.ext_provisioning = NULL;
    assert_int_equal(model_login_state(&f), MODEL_LOGIN_PENDING);
    f = (struct model_login_facts){.covered = true, .os = MODEL_OS_SUPPORTED};
    assert_int_equal(model_login_state(&f), MODEL_LOGIN_PENDING);
    f.os = MODEL_OS_UNSUPPORTED;
    assert_int_equal(model_login_state(&f), MODEL_LOGIN_UNSUPPORTED);
    f.excluded = true;
    assert_int_equal(model_login_state(&f), MODEL_LOGIN_EXCLUDED);

    for (int i = 0; i < MODEL_LOGIN_STATE_COUNT; i++) {
        assert_true(model_login_state_parse(model_login_state_str((enum model_login_state)i), &s));
        assert_int_equal(s, i);
    }
    assert_string_equal(model_login_state_str(MODEL_LOGIN_NOT_COVERED), "notCovered");
    assert_true(model_login_state_parse("NOTCOVERED", &s));
    assert_int_equal(s, MODEL_LOGIN_NOT_COVERED);
    assert_false(model_login_state_parse("bogus", &s));
    assert_false(model_login_state_parse(NULL, &s));
    assert_string_equal(model_login_state_str((enum model_login_state)99), "notCovered");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_os_support_table), cmocka_unit_test(test_os_build_parse),
        cmocka_unit_test(test_os_edition),       cmocka_unit_test(test_power_and_extension),
        cmocka_unit_test(test_login_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

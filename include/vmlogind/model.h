/* model.h: pure domain logic, no I/O: what vmlogind judges about the things it observes and
 * desires. Every function here is deterministic on its arguments and unit-tested with tables.
 * Sections are owned by the file named in their heading. */
#ifndef VMLOGIND_MODEL_H
#define VMLOGIND_MODEL_H

#include <stdbool.h>
#include <stddef.h>

/* ---- VMs (model_vm.c) -------------------------------------------------------------------- */

/* The first OS build AADLoginForWindows supports: Windows Server 2019 and Windows 10 1809
 * are both 10.0.17763; Server 2022 is 20348; Windows 11 21H2 is 22000. */
#define MODEL_MIN_WINDOWS_BUILD 17763

#define MODEL_AADLOGIN_PUBLISHER "Microsoft.Azure.ActiveDirectory"
#define MODEL_AADLOGIN_TYPE "AADLoginForWindows"

enum model_os_support {
    MODEL_OS_UNKNOWN = 0, /* not enough facts yet (custom image, VM agent silent) */
    MODEL_OS_SUPPORTED,
    MODEL_OS_UNSUPPORTED,
};

/* What the OS judgement reads about a VM; borrowed strings, NULL means unknown/"". */
struct model_os_facts {
    const char *os_type; /* storageProfile.osDisk.osType: Windows | Linux */
    const char *image_publisher;
    const char *image_offer;
    const char *image_sku;
    const char *image_id;   /* custom or gallery image id (no marketplace reference) */
    const char *os_name;    /* instanceView.osName, "Windows Server 2019 Datacenter" */
    const char *os_version; /* instanceView.osVersion, "10.0.17763" or "Microsoft Windows NT
                               10.0.17763.0" */
};

struct model_os_verdict {
    enum model_os_support support;
    char reason[160]; /* one line for people: why */
};

/* Judges whether AADLoginForWindows can run on the VM (seed: Windows Server 2019 Datacenter
 * and later, Windows 10 1809 and later, Windows 11 21H2 and later). Linux is unsupported
 * ("Linux: use AADSSHLoginForLinux"). The OS build from the instance view decides when known;
 * otherwise the marketplace image; a custom image without a build is unknown. */
void model_os_support(const struct model_os_facts *f, struct model_os_verdict *out);
const char *model_os_support_str(enum model_os_support s); /* supported|unsupported|unknown */
/* Parses "10.0.17763", "10.0.17763.1234" or "Microsoft Windows NT 10.0.17763.0". False when
 * no major.minor.build triple is found. */
bool model_os_build(const char *os_version, int *major, int *minor, int *build);

/* Client or Server edition of Windows, for what only one of them supports (MDM enrollment:
 * "Windows Server VMs don't support MDM enrollment", seed). The OS name decides when known
 * ("Windows Server 2022 ...", "Windows 10 Pro"), then the marketplace image (publisher
 * MicrosoftWindowsServer or offer WindowsServer; MicrosoftWindowsDesktop or offer
 * Windows-10/Windows-11); else unknown (a custom image before the VM agent reports). */
enum model_os_edition {
    MODEL_OS_EDITION_UNKNOWN = 0,
    MODEL_OS_EDITION_CLIENT,
    MODEL_OS_EDITION_SERVER,
};
enum model_os_edition model_os_edition(const struct model_os_facts *f);

/* True when the instance view power state (the part after "PowerState/", or the whole code)
 * is "running". */
bool model_power_running(const char *power_state);

/* The AADLoginForWindows extension is matched by publisher and type, case-insensitively,
 * never by its resource name. */
bool model_is_aadlogin_extension(const char *publisher, const char *type);

/* ---- login state (model_vm.c) ------------------------------------------------------------ */

enum model_login_state {
    MODEL_LOGIN_NOT_COVERED = 0, /* no desired setting covers the VM and no extension */
    MODEL_LOGIN_ENABLED,         /* the extension is installed and Succeeded */
    MODEL_LOGIN_PENDING,         /* covered or installing, not yet Succeeded */
    MODEL_LOGIN_FAILED,          /* the extension failed */
    MODEL_LOGIN_UNSUPPORTED,     /* covered, but the OS cannot run it */
    MODEL_LOGIN_EXCLUDED,        /* covered, but excluded (tag) */
};
#define MODEL_LOGIN_STATE_COUNT 6

const char *model_login_state_str(enum model_login_state s); /* enabled, notCovered, ... */
/* Parses the API spelling (case-insensitive); false if unknown. */
bool model_login_state_parse(const char *s, enum model_login_state *out);

/* The facts the login state is computed from; grows as desired state lands. */
struct model_login_facts {
    enum model_os_support os;
    bool has_extension;           /* an AADLoginForWindows extension is present */
    const char *ext_provisioning; /* its provisioningState: Succeeded, Failed, Creating, ... */
    bool covered;                 /* a desired login setting (enabled) covers the VM */
    bool excluded;                /* covered, but an exclusion applies */
};

/* Observed extension state first (enabled/failed/pending), then desired coverage. */
enum model_login_state model_login_state(const struct model_login_facts *f);

#endif

/* config.c: vmloginctl's profiles and credential cache under $XDG_CONFIG_HOME/vmloginctl (else
 * ~/.config/vmloginctl): config.json holds the named profiles' settings, <profile>.cred.json
 * the profile's credential (an API key, or Entra tokens). The directory is 0700 and every file
 * 0600, written whole to a temporary file and renamed, so a reader never sees half a file. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "vmlogind/xalloc.h"

/* The settings a profile may hold, with what each means (config list, the man page). */
const struct cli_setting cli_settings[] = {
    {"url", "vmlogind's base URL (VMLOGIND_URL overrides)"},
    {"subscription", "subscription id used to resolve RG/NAME and names"},
    {"tenant", "Entra tenant id or domain for login --entra"},
    {"client-id", "application (client) id of the public client that signs in"},
    {"login-url", "Entra authority host (default https://login.microsoftonline.com)"},
    {"scope", "scopes to request (default: the API's /.default plus offline_access)"},
    {"ca-bundle", "PEM file of CAs to trust for vmlogind and the authority"},
    {NULL, NULL},
};

bool cli_setting_known(const char *key)
{
    for (const struct cli_setting *s = cli_settings; s->key != NULL; s++)
        if (strcmp(s->key, key) == 0)
            return true;
    return false;
}

bool cli_config_dir(char *out, size_t cap)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int n;

    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(out, cap, "%s/vmloginctl", xdg);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(out, cap, "%s/.config/vmloginctl", home);
    else
        return false;
    return n > 0 && (size_t)n < cap;
}

/* Makes dir (and its parent) if missing; the last level with mode 0700. */
static bool make_dir(const char *dir)
{
    char parent[512];
    const char *slash = strrchr(dir, '/');

    if (mkdir(dir, 0700) == 0 || errno == EEXIST)
        return true;
    if (errno != ENOENT || slash == NULL || slash == dir || (size_t)(slash - dir) >= sizeof(parent))
        return false;
    snprintf(parent, sizeof(parent), "%.*s", (int)(slash - dir), dir);
    if (mkdir(parent, 0700) != 0 && errno != EEXIST)
        return false;
    return mkdir(dir, 0700) == 0 || errno == EEXIST;
}

/* A directory made before (by hand, or an older version) is narrowed to 0700. */
static bool private_dir(const char *dir)
{
    struct stat st;

    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return false;
    return (st.st_mode & 077) == 0 || chmod(dir, 0700) == 0;
}

static char *config_path(const char *name)
{
    char dir[400];
    if (!cli_config_dir(dir, sizeof(dir)))
        return NULL;
    return xasprintf("%s/%s", dir, name);
}

json_t *cli_config_read(const char *name)
{
    char *path = config_path(name);
    json_t *j = path ? json_load_file(path, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(path);
    return j;
}

/* Writes all of text to fd; false on a short write. */
static bool write_all(int fd, const char *text)
{
    size_t n = strlen(text);
    while (n > 0) {
        ssize_t w = write(fd, text, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        text += w;
        n -= (size_t)w;
    }
    return true;
}

bool cli_config_write(const char *name, const json_t *j)
{
    char dir[400];
    char *path, *tmp, *text;
    int fd;
    bool ok;

    if (!cli_config_dir(dir, sizeof(dir)) || !make_dir(dir) || !private_dir(dir))
        return false;
    path = xasprintf("%s/%s", dir, name);
    tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
    text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ok = fd >= 0 && text != NULL && write_all(fd, text) && write_all(fd, "\n") && fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    if (ok)
        ok = rename(tmp, path) == 0;
    if (!ok && fd >= 0)
        unlink(tmp);
    if (text != NULL) {
        memset(text, 0, strlen(text));
        free(text);
    }
    free(tmp);
    free(path);
    return ok;
}

bool cli_config_remove(const char *name)
{
    char *path = config_path(name);
    bool ok = path != NULL && (unlink(path) == 0 || errno == ENOENT);
    free(path);
    return ok;
}

const char *cli_profile_name(const char *given)
{
    static char current[64];
    const char *env = getenv("VMLOGINCTL_PROFILE");
    json_t *cfg;

    if (given != NULL && given[0] != '\0')
        return given;
    if (env != NULL && env[0] != '\0')
        return env;
    cfg = cli_config_read("config.json");
    snprintf(current, sizeof(current), "%s",
             json_string_value(json_object_get(cfg, "current"))
                 ? json_string_value(json_object_get(cfg, "current"))
                 : "default");
    json_decref(cfg);
    return current;
}

bool cli_profile_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 40)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

char *cli_profile_get(const char *profile, const char *key)
{
    json_t *cfg = cli_config_read("config.json");
    const json_t *p = json_object_get(json_object_get(cfg, "profiles"), profile);
    const char *v = json_string_value(json_object_get(p, key));
    char *out = v ? xstrdup(v) : NULL;
    json_decref(cfg);
    return out;
}

bool cli_profile_set(const char *profile, const char *key, const char *value)
{
    json_t *cfg = cli_config_read("config.json");
    json_t *profiles, *p;
    bool ok;

    if (!json_is_object(cfg)) {
        json_decref(cfg);
        cfg = json_object();
    }
    profiles = json_object_get(cfg, "profiles");
    if (!json_is_object(profiles)) {
        profiles = json_object();
        json_object_set_new(cfg, "profiles", profiles);
    }
    p = json_object_get(profiles, profile);
    if (!json_is_object(p)) {
        p = json_object();
        json_object_set_new(profiles, profile, p);
    }
    if (value == NULL)
        json_object_del(p, key);
    else
        json_object_set_new(p, key, json_string(value));
    ok = cli_config_write("config.json", cfg);
    json_decref(cfg);
    return ok;
}

bool cli_profile_use(const char *profile)
{
    json_t *cfg = cli_config_read("config.json");
    bool ok;

    if (!json_is_object(cfg)) {
        json_decref(cfg);
        cfg = json_object();
    }
    json_object_set_new(cfg, "current", json_string(profile));
    ok = cli_config_write("config.json", cfg);
    json_decref(cfg);
    return ok;
}

char *cli_cred_file(const char *profile)
{
    return xasprintf("%s.cred.json", profile);
}

/* azure_cloud.c: the endpoint table of each cloud and the URL builders. Pure functions: no I/O.
 * The hosts below are data for URL construction; tests never send anything to them. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/azure_cloud.h"

struct cloud_row {
    const char *name;
    const char *arm;
    const char *login;
    const char *graph;
    const char *device_reg;
    const char *pas;
};

static const struct cloud_row clouds[] = {
    {.name = "AzureCloud",
     .arm = "https://management.azure.com",
     .login = "https://login.microsoftonline.com",
     .graph = "https://graph.microsoft.com",
     .device_reg = "https://enterpriseregistration.windows.net",
     .pas = "https://pas.windows.net"},
    {.name = "AzureUSGovernment",
     .arm = "https://management.usgovcloudapi.net",
     .login = "https://login.microsoftonline.us",
     .graph = "https://graph.microsoft.us",
     .device_reg = "https://enterpriseregistration.microsoftonline.us",
     .pas = "https://pasff.usgovcloudapi.net"},
    {.name = "AzureChinaCloud",
     .arm = "https://management.chinacloudapi.cn",
     .login = "https://login.chinacloudapi.cn",
     .graph = "https://microsoftgraph.chinacloudapi.cn",
     .device_reg = "https://enterpriseregistration.partner.microsoftonline.cn",
     .pas = "https://pas.chinacloudapi.cn"},
};

#define IMDS_DEFAULT "http://169.254.169.254"

/* Copies url without trailing slashes; false if it does not fit or is not http(s). */
static bool set_url(char *dst, size_t cap, const char *url)
{
    size_t n = strlen(url);

    while (n > 0 && url[n - 1] == '/')
        n--;
    if (n == 0 || n >= cap)
        return false;
    if (strncasecmp(url, "https://", 8) != 0 && strncasecmp(url, "http://", 7) != 0)
        return false;
    memcpy(dst, url, n);
    dst[n] = '\0';
    return true;
}

static bool set_scope(char *dst, size_t cap, const char *url)
{
    int n = snprintf(dst, cap, "%s/.default", url);

    return n > 0 && (size_t)n < cap;
}

static const struct cloud_row *find(const char *name)
{
    for (size_t i = 0; i < sizeof(clouds) / sizeof(clouds[0]); i++) {
        if (strcasecmp(clouds[i].name, name) == 0)
            return &clouds[i];
    }
    return NULL;
}

static bool given(const char *s)
{
    return s != NULL && s[0] != '\0';
}

enum err azure_cloud_init(struct azure_cloud *c, const char *name, const char *arm_url,
                          const char *login_url, const char *graph_url, struct err_detail *d)
{
    /* a custom cloud names every URL itself and has no device registration or PAS defaults */
    static const struct cloud_row custom_row = {
        .name = "custom", .arm = "", .login = "", .graph = "", .device_reg = "", .pas = ""};
    const struct cloud_row *row = &custom_row;
    bool custom;

    memset(c, 0, sizeof(*c));
    if (!given(name))
        name = "AzureCloud";
    custom = strcasecmp(name, "custom") == 0;
    if (!custom) {
        row = find(name);
        if (row == NULL)
            return err_set(d, ERR_INVALID, "UnknownCloud", "unknown cloud '%.64s'", name);
    } else if (!given(arm_url) || !given(login_url) || !given(graph_url)) {
        return err_set(d, ERR_INVALID, "CustomCloudIncomplete",
                       "cloud custom needs arm_url, login_url and graph_url");
    }
    snprintf(c->name, sizeof(c->name), "%s", row->name);
    if (!set_url(c->arm_url, sizeof(c->arm_url), given(arm_url) ? arm_url : row->arm) ||
        !set_url(c->login_url, sizeof(c->login_url), given(login_url) ? login_url : row->login) ||
        !set_url(c->graph_url, sizeof(c->graph_url), given(graph_url) ? graph_url : row->graph))
        return err_set(d, ERR_INVALID, "BadCloudUrl", "a cloud URL is not an http(s) URL");
    /* A custom cloud (azsim, a private endpoint) answers for the public cloud's audiences
     * unless arm_scope / graph_scope say otherwise. */
    if (!set_scope(c->arm_scope, sizeof(c->arm_scope), custom ? clouds[0].arm : c->arm_url) ||
        !set_scope(c->graph_scope, sizeof(c->graph_scope), custom ? clouds[0].graph : c->graph_url))
        return err_set(d, ERR_INVALID, "BadCloudUrl", "a cloud URL is too long");
    snprintf(c->device_reg_url, sizeof(c->device_reg_url), "%s", row->device_reg);
    snprintf(c->pas_url, sizeof(c->pas_url), "%s", row->pas);
    snprintf(c->imds_url, sizeof(c->imds_url), "%s", IMDS_DEFAULT);
    return ERR_OK;
}

void azure_cloud_set_imds(struct azure_cloud *c, const char *imds_url)
{
    if (given(imds_url) && !set_url(c->imds_url, sizeof(c->imds_url), imds_url))
        snprintf(c->imds_url, sizeof(c->imds_url), "%s", IMDS_DEFAULT);
}

static bool unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

static enum err encode(struct buf *out, const char *s, const char *keep)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        enum err rc;

        if (unreserved(*p) || (keep != NULL && strchr(keep, *p) != NULL))
            rc = buf_append(out, p, 1);
        else
            rc = buf_append(out, esc, 3);
        if (rc != ERR_OK)
            return rc;
    }
    return ERR_OK;
}

enum err azure_url_encode(struct buf *out, const char *s)
{
    return encode(out, s, NULL);
}

enum err azure_url_encode_segment(struct buf *out, const char *s)
{
    return encode(out, s, "@!$'()*+,;=:");
}

enum err azure_cloud_token_url(const struct azure_cloud *c, const char *tenant, struct buf *out)
{
    enum err rc = buf_printf(out, "%s/", c->login_url);

    if (rc == ERR_OK)
        rc = azure_url_encode_segment(out, tenant);
    if (rc == ERR_OK)
        rc = buf_appends(out, "/oauth2/v2.0/token");
    return rc;
}

enum err azure_cloud_arm_url(const struct azure_cloud *c, const char *path, const char *api_version,
                             const char *query_tail, struct buf *out)
{
    const char *sep = strchr(path, '?') != NULL ? "&" : "?";
    enum err rc = buf_printf(out, "%s%s%sapi-version=%s", c->arm_url, path, sep, api_version);

    if (rc == ERR_OK && query_tail != NULL)
        rc = buf_appends(out, query_tail);
    return rc;
}

enum err azure_cloud_graph_url(const struct azure_cloud *c, const char *path, struct buf *out)
{
    return buf_printf(out, "%s/v1.0%s", c->graph_url, path);
}

enum err azure_cloud_imds_token_url(const struct azure_cloud *c, const char *scope,
                                    const char *client_id, struct buf *out)
{
    static const char suffix[] = "/.default";
    size_t n = strlen(scope);
    char resource[AZURE_CLOUD_URL_MAX + 16];
    enum err rc;

    if (n >= sizeof(suffix) - 1 && strcmp(scope + n - (sizeof(suffix) - 1), suffix) == 0)
        n -= sizeof(suffix) - 2; /* keep the '/' */
    if (n >= sizeof(resource))
        return ERR_TOO_LARGE;
    memcpy(resource, scope, n);
    resource[n] = '\0';
    rc = buf_printf(
        out, "%s/metadata/identity/oauth2/token?api-version=2018-02-01&resource=", c->imds_url);
    if (rc == ERR_OK)
        rc = azure_url_encode(out, resource);
    if (rc == ERR_OK && given(client_id)) {
        rc = buf_appends(out, "&client_id=");
        if (rc == ERR_OK)
            rc = azure_url_encode(out, client_id);
    }
    return rc;
}

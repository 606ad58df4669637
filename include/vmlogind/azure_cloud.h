/* azure_cloud.h: per-cloud endpoint tables (Global, US Government, China, custom) and the pure
 * URL builders every outbound call uses. No host is hard-coded anywhere else. */
#ifndef VMLOGIND_AZURE_CLOUD_H
#define VMLOGIND_AZURE_CLOUD_H

#include "vmlogind/buf.h"
#include "vmlogind/err.h"

#define AZURE_CLOUD_URL_MAX 256
#define AZURE_URL_MAX_BYTES 16384

/* All URLs without a trailing slash. */
struct azure_cloud {
    char name[32]; /* "AzureCloud", "AzureUSGovernment", "AzureChinaCloud" or "custom" */
    char arm_url[AZURE_CLOUD_URL_MAX];
    char arm_scope[AZURE_CLOUD_URL_MAX]; /* "<arm>/.default" */
    char login_url[AZURE_CLOUD_URL_MAX];
    char graph_url[AZURE_CLOUD_URL_MAX];
    char graph_scope[AZURE_CLOUD_URL_MAX];
    char device_reg_url[AZURE_CLOUD_URL_MAX]; /* VM side, diagnostics only */
    char pas_url[AZURE_CLOUD_URL_MAX];        /* VM side, diagnostics only */
    char imds_url[AZURE_CLOUD_URL_MAX];
};

/* Fills c for the named cloud (case-insensitive; NULL or "" means AzureCloud). arm_url,
 * login_url and graph_url (each may be NULL) override the table; "custom" requires all three,
 * and its token scopes are the public cloud's (override them with azure_config.arm_scope /
 * graph_scope). ERR_INVALID for an unknown name or a missing URL. */
enum err azure_cloud_init(struct azure_cloud *c, const char *name, const char *arm_url,
                          const char *login_url, const char *graph_url,
                          struct err_detail *d) VL_MUST_CHECK;
/* Overrides the IMDS base URL (default http://169.254.169.254). */
void azure_cloud_set_imds(struct azure_cloud *c, const char *imds_url);

/* Appends s percent-encoded (RFC 3986 unreserved kept, everything else %XX). */
enum err azure_url_encode(struct buf *out, const char *s) VL_MUST_CHECK;
/* Appends s encoded for a URL path segment: like azure_url_encode but also keeps '@' (UPNs)
 * and encodes '#' as %23. */
enum err azure_url_encode_segment(struct buf *out, const char *s) VL_MUST_CHECK;

/* "{login}/{tenant}/oauth2/v2.0/token": also the client-assertion aud. */
enum err azure_cloud_token_url(const struct azure_cloud *c, const char *tenant,
                               struct buf *out) VL_MUST_CHECK;
/* "{arm}{path}?api-version=V" (path starts with '/'); path may already hold a query, then
 * "&api-version=" is used. query_tail (may be NULL) is appended verbatim after it ("&$x=..."). */
enum err azure_cloud_arm_url(const struct azure_cloud *c, const char *path, const char *api_version,
                             const char *query_tail, struct buf *out) VL_MUST_CHECK;
/* "{graph}/v1.0{path}" (path starts with '/', may carry a query). */
enum err azure_cloud_graph_url(const struct azure_cloud *c, const char *path,
                               struct buf *out) VL_MUST_CHECK;
/* "{imds}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=R[&client_id=ID]"
 * where R is scope without "/.default" (plus '/', as IMDS expects); client_id may be NULL. */
enum err azure_cloud_imds_token_url(const struct azure_cloud *c, const char *scope,
                                    const char *client_id, struct buf *out) VL_MUST_CHECK;

#endif

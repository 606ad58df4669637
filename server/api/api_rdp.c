/* api_rdp.c: GET /v1{vm}/rdp, a .rdp file for Microsoft Entra sign-in. It connects by the VM's
 * hostname (its computer name, plus rdp_dns_suffix when set), never by IP: Entra sign-in
 * needs the name to match the Entra device. "Use a web account" (enablerdsaadauth:i:1) is on;
 * ?upn= adds the user hint, and ?form=azuread writes it as AzureAD\UPN for clients that are
 * Entra registered rather than joined. Lines end in CRLF, as mstsc writes them. */
#include <stdlib.h>
#include <string.h>

#include "api/api_grants.h"
#include "vmlogind/api.h"
#include "vmlogind/buf.h"
#include "vmlogind/model_grant.h"
#include "vmlogind/store.h"

#define RDP_HOST_MAX 253

/* A host name label set: letters, digits, '-' and '.'; false for anything else. */
static bool host_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > RDP_HOST_MAX || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* A UPN safe to put on one line of an .rdp file. */
static bool upn_ok(const char *s)
{
    size_t n = strlen(s);
    const char *at = strchr(s, '@');

    if (n == 0 || n > MODEL_GRANT_UPN_MAX || at == NULL || at == s || at[1] == '\0')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c == 0x7f || c == '\\' || c == ':' || c == '"')
            return false;
    }
    return true;
}

/* Checks the query; replies 400 and returns false when bad. */
static bool rdp_query(struct http_request *req, const char **upn, bool *azuread)
{
    struct violations vs;
    const char *form = http_query(req, "form");

    violations_init(&vs);
    *upn = http_query(req, "upn");
    *azuread = form != NULL && strcmp(form, "azuread") == 0;
    if (*upn != NULL && !upn_ok(*upn))
        violations_add(&vs, "upn", "invalid_upn", "upn is a user principal name, name@domain");
    if (form != NULL && strcmp(form, "azuread") != 0 && strcmp(form, "web") != 0)
        violations_add(&vs, "form", "invalid_form",
                       "form is web (the default: Entra web account sign-in) or azuread "
                       "(the user hint as AzureAD\\UPN)");
    if (*azuread && *upn == NULL)
        violations_add(&vs, "upn", "required", "form=azuread needs upn");
    if (vs.n == 0)
        return true;
    http_problem_reply(req, "invalid_query", "the query is not valid", &vs);
    return false;
}

void api_rdp_get(struct http_request *req)
{
    struct app *app = req->app;
    struct model_scope vm;
    struct store_vm row;
    struct buf b;
    const char *upn, *suffix = app->cfg->rdp_dns_suffix;
    char host[RDP_HOST_MAX + 2];
    bool azuread;
    enum err rc;

    if (!api_grants_path_scope(req, &vm))
        return;
    if (!rdp_query(req, &upn, &azuread))
        return;
    if (!api_vm_present(req, vm.arm, &row))
        return;
    int w = snprintf(host, sizeof(host), "%s%s%s", row.computer_name ? row.computer_name : "",
                     suffix[0] != '\0' ? "." : "", suffix);
    store_vm_clear(&row);
    if (w < 0 || (size_t)w >= sizeof(host) || host[0] == '.' || host[0] == '\0' || !host_ok(host)) {
        http_problem_reply(req, "hostname_unknown",
                           "the VM's computer name is not known (yet), and an RDP file for "
                           "Entra sign-in must connect by hostname, never by IP",
                           NULL);
        return;
    }
    buf_init(&b, 4096);
    rc = buf_printf(&b,
                    "full address:s:%s\r\n"
                    "enablerdsaadauth:i:1\r\n"
                    "prompt for credentials:i:1\r\n"
                    "authentication level:i:2\r\n"
                    "screen mode id:i:2\r\n",
                    host);
    if (rc == ERR_OK && upn != NULL)
        rc = buf_printf(&b, "username:s:%s%s\r\n", azuread ? "AzureAD\\" : "", upn);
    if (rc == ERR_OK && azuread)
        rc = buf_printf(&b, "targetisaadjoined:i:1\r\n");
    if (rc != ERR_OK) {
        buf_cleanup(&b);
        http_reply_error(req, rc, NULL);
        return;
    }
    http_add_header(req, "Content-Disposition",
                    http_printf(req, "attachment; filename=\"%s.rdp\"", vm.vm));
    http_add_header(req, "Cache-Control", "no-store");
    http_reply_raw(req, 200, "application/x-rdp", b.data, b.len);
    buf_cleanup(&b);
}

/* azure_error.c: turns every error body shape the cloud sends into one struct azure_error:
 * ARM {"error":{code,message,details}}, ARM unwrapped {code,message,details} (Compute
 * throttling), Graph {"error":{code,message,innerError}}, OAuth/AADSTS {error,
 * error_description, error_codes} and IMDS {error, error_description}. */
#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azure/azure_internal.h"

void azure_error_clear(struct azure_error *e)
{
    memset(e, 0, sizeof(*e));
    e->retry_after_ms = -1;
}

static void add_aadsts(struct azure_error *e, long code)
{
    for (size_t i = 0; i < e->n_aadsts; i++) {
        if (e->aadsts[i] == code)
            return;
    }
    if (e->n_aadsts < AZURE_MAX_AADSTS)
        e->aadsts[e->n_aadsts++] = code;
}

/* "AADSTS7000215: Invalid client secret..." -> 7000215, for each occurrence. */
static void scan_aadsts(struct azure_error *e, const char *s)
{
    const char *p = s;

    while (p != NULL && (p = strstr(p, "AADSTS")) != NULL) {
        char *end;
        long v;

        p += 6;
        if (!isdigit((unsigned char)*p))
            continue;
        v = strtol(p, &end, 10);
        add_aadsts(e, v);
        p = end;
    }
}

/* Copies the message without control characters, so it is safe to log and show. */
static void set_message(struct azure_error *e, const char *s)
{
    size_t j = 0;

    for (size_t i = 0; s[i] != '\0' && j + 1 < sizeof(e->message); i++)
        e->message[j++] = iscntrl((unsigned char)s[i]) ? ' ' : s[i];
    e->message[j] = '\0';
}

/* {code, message, details[]|innerError} */
/* ARM's ErrorResponse.additionalInfo[] (type "PolicyViolation", info.policyAssignmentId) names
 * the assignment behind RequestDisallowedByPolicy
 * (https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/error-policy-requestdisallowedbypolicy;
 * ErrorAdditionalInfo in specification/common-types/resource-management/v5/types.json). */
static void policy_assignment(struct azure_error *e, const json_t *info)
{
    for (size_t i = 0; i < json_array_size(info) && e->policy_assignment[0] == '\0'; i++)
        azure_strlcpy(
            e->policy_assignment,
            azure_json_str(json_object_get(json_array_get(info, i), "info"), "policyAssignmentId"),
            sizeof(e->policy_assignment));
}

static void parse_object(struct azure_error *e, const json_t *o)
{
    const json_t *details = json_object_get(o, "details");
    const json_t *inner = json_object_get(o, "innerError");
    const char *s;

    if (inner == NULL)
        inner = json_object_get(o, "innererror");
    azure_strlcpy(e->code, azure_json_str(o, "code"), sizeof(e->code));
    s = azure_json_str(o, "message");
    if (s != NULL) {
        set_message(e, s);
        scan_aadsts(e, s);
    }
    policy_assignment(e, json_object_get(o, "additionalInfo"));
    if (json_is_array(details) && json_array_size(details) > 0)
        azure_strlcpy(e->inner, azure_json_str(json_array_get(details, 0), "code"),
                      sizeof(e->inner));
    else if (json_is_object(inner))
        azure_strlcpy(e->inner, azure_json_str(inner, "code"), sizeof(e->inner));
}

/* {error: "invalid_client", error_description: "AADSTS...", error_codes: [..]} */
static void parse_oauth(struct azure_error *e, const json_t *root)
{
    const json_t *codes = json_object_get(root, "error_codes");
    const char *desc = azure_json_str(root, "error_description");
    size_t i;
    const json_t *v;

    azure_strlcpy(e->code, azure_json_str(root, "error"), sizeof(e->code));
    if (desc != NULL) {
        set_message(e, desc);
        scan_aadsts(e, desc);
    }
    json_array_foreach(codes, i, v)
    {
        if (json_is_integer(v))
            add_aadsts(e, (long)json_integer_value(v));
    }
}

void azure_error_parse(struct azure_error *e, long status, const char *body, size_t len)
{
    json_error_t jerr;
    json_t *root = NULL;
    const json_t *err;

    e->status = status;
    e->code[0] = e->inner[0] = e->message[0] = e->policy_assignment[0] = '\0';
    e->n_aadsts = 0;
    if (body != NULL && len > 0)
        root = json_loadb(body, len, 0, &jerr);
    if (!json_is_object(root)) {
        if (body != NULL && len > 0)
            set_message(e, body);
        json_decref(root);
        return;
    }
    err = json_object_get(root, "error");
    if (json_is_object(err))
        parse_object(e, err);
    else if (json_is_string(err))
        parse_oauth(e, root);
    else if (json_is_string(json_object_get(root, "code")))
        parse_object(e, root);
    json_decref(root);
}

bool azure_error_is(const struct azure_error *e, const char *code)
{
    return e != NULL && code != NULL &&
           (strcasecmp(e->code, code) == 0 || strcasecmp(e->inner, code) == 0);
}

bool azure_error_has_aadsts(const struct azure_error *e, long code)
{
    for (size_t i = 0; e != NULL && i < e->n_aadsts; i++) {
        if (e->aadsts[i] == code)
            return true;
    }
    return false;
}

enum err azure_error_to_err(const struct azure_error *e)
{
    if (e->status == 0) {
        if (e->transport == CURLE_OPERATION_TIMEDOUT)
            return ERR_TIMEOUT;
        return e->transport == CURLE_WRITE_ERROR ? ERR_TOO_LARGE : ERR_CLOUD;
    }
    switch (e->status) {
    case 401:
        return ERR_UNAUTHORIZED;
    case 403:
        return ERR_FORBIDDEN;
    case 404:
        return ERR_NOT_FOUND;
    case 409:
        return ERR_CONFLICT;
    case 429:
        return ERR_CLOUD_THROTTLED;
    default:
        return ERR_CLOUD;
    }
}

void azure_error_to_detail(const struct azure_error *e, struct err_detail *d)
{
    if (d == NULL || e == NULL)
        return;
    if (e->code[0] != '\0')
        azure_strlcpy(d->code, e->code, sizeof(d->code));
    else if (e->status == 0)
        snprintf(d->code, sizeof(d->code), "Transport%d", e->transport);
    else
        snprintf(d->code, sizeof(d->code), "Http%ld", e->status);
    snprintf(d->msg, sizeof(d->msg), "status=%ld %.200s", e->status, e->message);
}

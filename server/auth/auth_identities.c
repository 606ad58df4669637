/* auth_identities.c: limits on Entra callers. A JWT caller's role comes from its app roles;
 * an administrator can also hold a given user or application to scopes and grant limits, the
 * same ones an API key carries (identity_limits table; applied by auth.c on every request). */
#include <stdlib.h>
#include <string.h>

#include "vmlogind/auth.h"
#include "vmlogind/clock.h"
#include "vmlogind/store.h"
#include "vmlogind/uuid.h"

/* "user:<guid>" or "app:<guid>" */
static enum err check_subject(const char *subject, struct err_detail *d)
{
    const char *id = NULL;

    if (subject != NULL && strncmp(subject, "user:", 5) == 0)
        id = subject + 5;
    else if (subject != NULL && strncmp(subject, "app:", 4) == 0)
        id = subject + 4;
    if (id == NULL || !uuid_is_valid(id))
        return err_set(d, ERR_INVALID, "invalid_subject",
                       "the subject is user:<object id> or app:<application id>");
    return ERR_OK;
}

enum err auth_identity_limit(struct store *st, const struct auth_identity_spec *s,
                             struct err_detail *d)
{
    json_t *scopes = NULL, *details = NULL;
    char *scopes_text = NULL, *limits_text = NULL;
    struct store_identity_limits l;
    enum err rc = check_subject(s->subject, d);

    if (rc == ERR_OK)
        rc = auth_limits_encode(s->scopes, s->nscopes, &s->limits, &scopes, &limits_text, d);
    if (rc != ERR_OK)
        return rc;
    scopes_text = json_dumps(scopes, JSON_COMPACT);
    l = (struct store_identity_limits){
        .subject = (char *)s->subject,
        .scopes = scopes_text,
        .grant_limits = limits_text,
        .created_by = (char *)(s->actor ? s->actor : "cli"),
    };
    details =
        json_pack("{s:O, s:o}", "scopes", scopes, "grantLimits", json_loads(limits_text, 0, NULL));
    rc = store_tx_begin(st, d);
    if (rc != ERR_OK)
        goto out;
    rc = store_identity_limits_put(st, &l, clock_now_ms(), d);
    rc = auth_audit_commit(st, rc, s->actor, "identity.limit", s->subject, details, d);
out:
    json_decref(details);
    json_decref(scopes);
    free(scopes_text);
    free(limits_text);
    return rc;
}

enum err auth_identity_unlimit(struct store *st, const char *subject, const char *actor,
                               struct err_detail *d)
{
    json_t *details = json_object();
    enum err rc = check_subject(subject, d);

    if (rc == ERR_OK)
        rc = store_tx_begin(st, d);
    if (rc != ERR_OK)
        goto out;
    rc = store_identity_limits_delete(st, subject, d);
    rc = auth_audit_commit(st, rc, actor, "identity.unlimit", subject, details, d);
out:
    json_decref(details);
    return rc;
}

/* azure_arm_compute.c: Microsoft.Compute (and the subscription list): VMs listed, read and
 * PATCHed for their system-assigned identity; extensions listed, read, PUT and DELETEd. JSON is
 * turned into struct azure_vm / azure_extension here and goes no further. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azure/azure_internal.h"
#include "vmlogind/azure_arm.h"
#include "vmlogind/log.h"
#include "vmlogind/xalloc.h"

#define SUBSCRIPTIONS_API "2022-12-01"
#define ID_PART_MAX 256

/* ---- parsing ----------------------------------------------------------------------------- */

static struct azure_status *statuses_parse(const json_t *arr, size_t *n)
{
    size_t count = json_is_array(arr) ? json_array_size(arr) : 0;
    struct azure_status *s = xcalloc(count > 0 ? count : 1, sizeof(*s));
    size_t i;
    const json_t *v;

    *n = 0;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_object(v))
            continue;
        s[*n].code = azure_json_dup(v, "code");
        s[*n].level = azure_json_dup(v, "level");
        s[*n].display_status = azure_json_dup(v, "displayStatus");
        s[*n].message = azure_json_dup(v, "message");
        s[*n].time = azure_json_dup(v, "time");
        (*n)++;
    }
    return s;
}

static void statuses_free(struct azure_status *s, size_t n)
{
    for (size_t i = 0; s != NULL && i < n; i++) {
        free(s[i].code);
        free(s[i].level);
        free(s[i].display_status);
        free(s[i].message);
        free(s[i].time);
    }
    free(s);
}

void azure_extension_parse(const json_t *o, void *out)
{
    struct azure_extension *e = out;
    const json_t *props = json_object_get(o, "properties");
    const json_t *iv = json_object_get(props, "instanceView");

    e->id = azure_json_dup(o, "id");
    e->name = azure_json_dup(o, "name");
    e->location = azure_json_dup(o, "location");
    e->publisher = azure_json_dup(props, "publisher");
    e->type = azure_json_dup(props, "type");
    e->type_handler_version = azure_json_dup(props, "typeHandlerVersion");
    e->auto_upgrade_minor_version = json_is_true(json_object_get(props, "autoUpgradeMinorVersion"));
    e->provisioning_state = azure_json_dup(props, "provisioningState");
    e->mdm_id = azure_json_dup(json_object_get(props, "settings"), "mdmId");
    e->iv_type_handler_version = azure_json_dup(iv, "typeHandlerVersion");
    e->statuses = statuses_parse(json_object_get(iv, "statuses"), &e->n_statuses);
    e->substatuses = statuses_parse(json_object_get(iv, "substatuses"), &e->n_substatuses);
}

void azure_extension_cleanup(struct azure_extension *e)
{
    if (e == NULL)
        return;
    free(e->id);
    free(e->name);
    free(e->location);
    free(e->publisher);
    free(e->type);
    free(e->type_handler_version);
    free(e->provisioning_state);
    free(e->mdm_id);
    free(e->iv_type_handler_version);
    statuses_free(e->statuses, e->n_statuses);
    statuses_free(e->substatuses, e->n_substatuses);
    memset(e, 0, sizeof(*e));
}

static void extension_cleanup_v(void *p)
{
    azure_extension_cleanup(p);
}

static const struct azure_typed_page extension_type = {
    .size = sizeof(struct azure_extension),
    .parse = azure_extension_parse,
    .cleanup = extension_cleanup_v,
};

void azure_extensions_free(struct azure_extension *e, size_t n)
{
    azure_typed_free_array(&extension_type, e, n);
}

const struct azure_extension *azure_extension_find(const struct azure_extension *e, size_t n,
                                                   const char *publisher, const char *type)
{
    for (size_t i = 0; i < n; i++) {
        if (e[i].publisher != NULL && e[i].type != NULL &&
            strcasecmp(e[i].publisher, publisher) == 0 && strcasecmp(e[i].type, type) == 0)
            return &e[i];
    }
    return NULL;
}

static void tags_parse(const json_t *tags, struct azure_vm *vm)
{
    const char *k;
    const json_t *v;

    vm->tags = xcalloc(json_object_size(tags) + 1, sizeof(*vm->tags));
    json_object_foreach((json_t *)tags, k, v)
    {
        vm->tags[vm->n_tags].key = xstrdup(k);
        vm->tags[vm->n_tags].value = xstrdup(json_is_string(v) ? json_string_value(v) : "");
        vm->n_tags++;
    }
}

static void identity_parse(const json_t *id, struct azure_vm *vm)
{
    const json_t *ua = json_object_get(id, "userAssignedIdentities");
    const char *k;
    const json_t *v;

    vm->identity_type = azure_json_dup(id, "type");
    vm->identity_principal_id = azure_json_dup(id, "principalId");
    vm->identity_tenant_id = azure_json_dup(id, "tenantId");
    vm->user_assigned_ids = xcalloc(json_object_size(ua) + 1, sizeof(char *));
    json_object_foreach((json_t *)ua, k, v)
    {
        (void)v;
        vm->user_assigned_ids[vm->n_user_assigned++] = xstrdup(k);
    }
}

static void image_parse(const json_t *img, struct azure_vm *vm)
{
    const char *version = azure_json_str(img, "version");
    const char *exact = azure_json_str(img, "exactVersion");

    vm->image_publisher = azure_json_dup(img, "publisher");
    vm->image_offer = azure_json_dup(img, "offer");
    vm->image_sku = azure_json_dup(img, "sku");
    if (version != NULL && strcasecmp(version, "latest") == 0 && exact != NULL)
        version = exact;
    vm->image_version = version != NULL ? xstrdup(version) : NULL;
    vm->image_id = azure_json_dup(img, "id");
    if (vm->image_id == NULL)
        vm->image_id = azure_json_dup(img, "sharedGalleryImageId");
    if (vm->image_id == NULL)
        vm->image_id = azure_json_dup(img, "communityGalleryImageId");
}

/* An item of instanceView.extensions (VirtualMachineExtensionInstanceView in
 * virtualMachine.json 2024-07-01): name, type ("Publisher.Type"), typeHandlerVersion,
 * statuses, substatuses. */
static void iv_extension_parse(const json_t *o, void *out)
{
    struct azure_extension *e = out;

    e->name = azure_json_dup(o, "name");
    e->type = azure_json_dup(o, "type");
    e->iv_type_handler_version = azure_json_dup(o, "typeHandlerVersion");
    e->statuses = statuses_parse(json_object_get(o, "statuses"), &e->n_statuses);
    e->substatuses = statuses_parse(json_object_get(o, "substatuses"), &e->n_substatuses);
}

static const struct azure_typed_page iv_extension_type = {
    .size = sizeof(struct azure_extension),
    .parse = iv_extension_parse,
    .cleanup = extension_cleanup_v,
};

static struct azure_extension *extension_named(struct azure_extension *e, size_t n,
                                               const char *name)
{
    for (size_t i = 0; name != NULL && i < n; i++) {
        if (e[i].name != NULL && strcasecmp(e[i].name, name) == 0)
            return &e[i];
    }
    return NULL;
}

static void swap_statuses(struct azure_status **a, size_t *na, struct azure_status **b, size_t *nb)
{
    struct azure_status *t = *a;
    size_t tn = *na;

    *a = *b;
    *na = *nb;
    *b = t;
    *nb = tn;
}

/* Joins instanceView.extensions (iv, n; taken) to the VM's resources[] by name. ARM embeds no
 * instance view in resources[] (VirtualMachine_Get.json 2025-04-01), so a resource takes its
 * statuses from there; an instance-view extension without a resource (a statusOnly list has
 * no resources[]) is added with its type "Publisher.Type" split at the last dot. */
static void iv_extensions_merge(struct azure_vm *vm, struct azure_extension *iv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct azure_extension *e = extension_named(vm->extensions, vm->n_extensions, iv[i].name);
        const char *dot;

        if (e != NULL) {
            if (e->n_statuses == 0)
                swap_statuses(&e->statuses, &e->n_statuses, &iv[i].statuses, &iv[i].n_statuses);
            if (e->n_substatuses == 0)
                swap_statuses(&e->substatuses, &e->n_substatuses, &iv[i].substatuses,
                              &iv[i].n_substatuses);
            if (e->iv_type_handler_version == NULL) {
                e->iv_type_handler_version = iv[i].iv_type_handler_version;
                iv[i].iv_type_handler_version = NULL;
            }
            azure_extension_cleanup(&iv[i]);
            continue;
        }
        dot = iv[i].type != NULL ? strrchr(iv[i].type, '.') : NULL;
        if (dot != NULL) {
            char *full = iv[i].type;

            iv[i].publisher = xstrndup(full, (size_t)(dot - full));
            iv[i].type = xstrdup(dot + 1);
            free(full);
        }
        vm->extensions =
            xreallocarray(vm->extensions, vm->n_extensions + 2, sizeof(*vm->extensions));
        vm->extensions[vm->n_extensions++] = iv[i];
        vm->extensions[vm->n_extensions] = (struct azure_extension){0};
    }
    free(iv);
}

/* instanceView: OS facts, statuses, power state ("PowerState/running" -> "running"). */
static void instance_view_parse(const json_t *iv, struct azure_vm *vm)
{
    vm->os_name = azure_json_dup(iv, "osName");
    vm->os_version = azure_json_dup(iv, "osVersion");
    if (vm->computer_name == NULL)
        vm->computer_name = azure_json_dup(iv, "computerName");
    vm->statuses = statuses_parse(json_object_get(iv, "statuses"), &vm->n_statuses);
    for (size_t i = 0; i < vm->n_statuses; i++) {
        const char *code = vm->statuses[i].code;

        if (code != NULL && strncasecmp(code, "PowerState/", 11) == 0 && vm->power_state == NULL)
            vm->power_state = xstrdup(code + 11);
    }
}

static char *id_part(const char *id, const char *key)
{
    char part[ID_PART_MAX];

    return id != NULL && azure_id_segment(id, key, part, sizeof(part)) ? xstrdup(part) : NULL;
}

void azure_vm_parse(const json_t *o, void *out)
{
    struct azure_vm *vm = out;
    const json_t *props = json_object_get(o, "properties");
    const json_t *res = json_object_get(o, "resources");
    struct azure_extension *iv;
    size_t n_iv = 0;

    vm->id = azure_json_dup(o, "id");
    vm->name = azure_json_dup(o, "name");
    vm->subscription_id = id_part(vm->id, "subscriptions");
    vm->resource_group = id_part(vm->id, "resourceGroups");
    vm->location = azure_json_dup(o, "location");
    vm->etag = azure_json_dup(o, "etag");
    vm->vm_id = azure_json_dup(props, "vmId");
    vm->provisioning_state = azure_json_dup(props, "provisioningState");
    vm->computer_name = azure_json_path_dup(props, "osProfile.computerName");
    vm->os_type = azure_json_path_dup(props, "storageProfile.osDisk.osType");
    image_parse(azure_json_path(props, "storageProfile.imageReference"), vm);
    instance_view_parse(json_object_get(props, "instanceView"), vm);
    identity_parse(json_object_get(o, "identity"), vm);
    tags_parse(json_object_get(o, "tags"), vm);
    vm->has_resources = res != NULL;
    vm->extensions = azure_typed_parse_array(&extension_type, res, &vm->n_extensions);
    iv = azure_typed_parse_array(&iv_extension_type,
                                 azure_json_path(props, "instanceView.extensions"), &n_iv);
    iv_extensions_merge(vm, iv, n_iv);
}

/* ---- the same from a scanner (list pages: no tree) ---------------------------------------- *
 * Each scan_* function is called inside its object (after azure_scan_object) and reads it to
 * its end, keeping what the json_t parser above keeps. A repeated member replaces the earlier
 * value (jansson keeps the last too); a repeated object member is merged into, where jansson
 * would keep only the last one (ARM never repeats a member). */

#define F(type, name, field)                                                                       \
    {                                                                                              \
        name, offsetof(type, field)                                                                \
    }

static const struct azure_scan_field STATUS_FIELDS[] = {
    F(struct azure_status, "code", code),
    F(struct azure_status, "level", level),
    F(struct azure_status, "displayStatus", display_status),
    F(struct azure_status, "message", message),
    F(struct azure_status, "time", time),
    {NULL, 0},
};

static void scan_status(struct azure_scan *s, struct azure_status *st)
{
    azure_scan_str_object(s, st, STATUS_FIELDS);
}

/* An array of statuses (anything else: none), replacing *st. */
static void scan_statuses(struct azure_scan *s, struct azure_status **st, size_t *n)
{
    size_t cap = 4;

    statuses_free(*st, *n);
    *n = 0;
    *st = xcalloc(cap, sizeof(**st));
    if (!azure_scan_array(s))
        return;
    while (azure_scan_element(s)) {
        if (!azure_scan_object(s))
            continue;
        if (*n == cap) {
            cap *= 2;
            *st = xreallocarray(*st, cap, sizeof(**st));
        }
        (*st)[*n] = (struct azure_status){0};
        scan_status(s, &(*st)[(*n)++]);
    }
}

/* A member of an extension's instance view, if it is one read; false: not read. */
static bool scan_ext_iv_member(struct azure_scan *s, struct azure_extension *e)
{
    if (azure_scan_key_is(s, "typeHandlerVersion"))
        azure_scan_take(&e->iv_type_handler_version, azure_scan_str(s));
    else if (azure_scan_key_is(s, "statuses"))
        scan_statuses(s, &e->statuses, &e->n_statuses);
    else if (azure_scan_key_is(s, "substatuses"))
        scan_statuses(s, &e->substatuses, &e->n_substatuses);
    else
        return false;
    return true;
}

static void ext_arrays_alloc(struct azure_extension *e)
{
    /* json_t parsing always allocates these */
    if (e->statuses == NULL)
        e->statuses = xcalloc(1, sizeof(*e->statuses));
    if (e->substatuses == NULL)
        e->substatuses = xcalloc(1, sizeof(*e->substatuses));
}

static void scan_ext_instance_view(struct azure_scan *s, struct azure_extension *e)
{
    while (azure_scan_member(s)) {
        if (!scan_ext_iv_member(s, e))
            (void)azure_scan_skip(s);
    }
}

static const struct azure_scan_field IV_EXT_FIELDS[] = {
    F(struct azure_extension, "name", name),
    F(struct azure_extension, "type", type),
    {NULL, 0},
};

/* An item of instanceView.extensions, as iv_extension_parse reads it. */
static void scan_iv_extension(struct azure_scan *s, struct azure_extension *e)
{
    while (azure_scan_member(s)) {
        if (!azure_scan_str_member(s, e, IV_EXT_FIELDS) && !scan_ext_iv_member(s, e))
            (void)azure_scan_skip(s);
    }
    ext_arrays_alloc(e);
}

static const struct azure_scan_field EXT_PROPERTY_FIELDS[] = {
    F(struct azure_extension, "publisher", publisher),
    F(struct azure_extension, "type", type),
    F(struct azure_extension, "typeHandlerVersion", type_handler_version),
    F(struct azure_extension, "provisioningState", provisioning_state),
    {NULL, 0},
};

/* properties.settings: only mdmId is read (the public settings vmlogind sends). */
static void scan_ext_settings(struct azure_scan *s, struct azure_extension *e)
{
    while (azure_scan_member(s)) {
        if (azure_scan_key_is(s, "mdmId"))
            azure_scan_take(&e->mdm_id, azure_scan_str(s));
        else
            (void)azure_scan_skip(s);
    }
}

static void scan_ext_properties(struct azure_scan *s, struct azure_extension *e)
{
    while (azure_scan_member(s)) {
        if (azure_scan_str_member(s, e, EXT_PROPERTY_FIELDS))
            continue;
        if (azure_scan_key_is(s, "autoUpgradeMinorVersion"))
            e->auto_upgrade_minor_version = azure_scan_true(s);
        else if (azure_scan_key_is(s, "instanceView")) {
            if (azure_scan_object(s))
                scan_ext_instance_view(s, e);
        } else if (azure_scan_key_is(s, "settings")) {
            if (azure_scan_object(s))
                scan_ext_settings(s, e);
        } else
            (void)azure_scan_skip(s);
    }
}

static const struct azure_scan_field EXT_FIELDS[] = {
    F(struct azure_extension, "id", id),
    F(struct azure_extension, "name", name),
    F(struct azure_extension, "location", location),
    {NULL, 0},
};

static void scan_extension(struct azure_scan *s, struct azure_extension *e)
{
    while (azure_scan_member(s)) {
        if (azure_scan_str_member(s, e, EXT_FIELDS))
            continue;
        if (azure_scan_key_is(s, "properties")) {
            if (azure_scan_object(s))
                scan_ext_properties(s, e);
        } else
            (void)azure_scan_skip(s);
    }
    ext_arrays_alloc(e);
}

/* An array of extension objects, each read by item, replacing *arr. */
static void scan_ext_array(struct azure_scan *s, struct azure_extension **arr, size_t *n,
                           void (*item)(struct azure_scan *, struct azure_extension *))
{
    size_t cap = 4;

    azure_extensions_free(*arr, *n);
    *n = 0;
    *arr = xcalloc(cap, sizeof(**arr));
    if (!azure_scan_array(s))
        return;
    while (azure_scan_element(s)) {
        if (!azure_scan_object(s))
            continue;
        if (*n == cap) {
            cap *= 2;
            *arr = xreallocarray(*arr, cap, sizeof(**arr));
        }
        (*arr)[*n] = (struct azure_extension){0};
        item(s, &(*arr)[(*n)++]);
    }
}

/* The image reference's strings, resolved as image_parse does once the object is read. */
struct scan_image {
    char *version;
    char *exact;
    char *id;
    char *shared;
    char *community;
};

static const struct azure_scan_field IMAGE_VM_FIELDS[] = {
    F(struct azure_vm, "publisher", image_publisher),
    F(struct azure_vm, "offer", image_offer),
    F(struct azure_vm, "sku", image_sku),
    {NULL, 0},
};
static const struct azure_scan_field IMAGE_FIELDS[] = {
    F(struct scan_image, "version", version),
    F(struct scan_image, "exactVersion", exact),
    F(struct scan_image, "id", id),
    F(struct scan_image, "sharedGalleryImageId", shared),
    F(struct scan_image, "communityGalleryImageId", community),
    {NULL, 0},
};

static void scan_image_ref(struct azure_scan *s, struct azure_vm *vm, struct scan_image *im)
{
    while (azure_scan_member(s)) {
        if (!azure_scan_str_member(s, vm, IMAGE_VM_FIELDS) &&
            !azure_scan_str_member(s, im, IMAGE_FIELDS))
            (void)azure_scan_skip(s);
    }
}

static const struct azure_scan_field OS_DISK_FIELDS[] = {
    F(struct azure_vm, "osType", os_type),
    {NULL, 0},
};
static const struct azure_scan_field OS_PROFILE_FIELDS[] = {
    F(struct azure_vm, "computerName", computer_name),
    {NULL, 0},
};

static void scan_storage(struct azure_scan *s, struct azure_vm *vm, struct scan_image *im)
{
    while (azure_scan_member(s)) {
        if (azure_scan_key_is(s, "imageReference")) {
            if (azure_scan_object(s))
                scan_image_ref(s, vm, im);
        } else if (azure_scan_key_is(s, "osDisk")) {
            if (azure_scan_object(s))
                azure_scan_str_object(s, vm, OS_DISK_FIELDS);
        } else {
            (void)azure_scan_skip(s);
        }
    }
}

/* instanceView's computerName is kept apart: osProfile's wins whatever the member order. */
static const struct azure_scan_field VM_IV_FIELDS[] = {
    F(struct azure_vm, "osName", os_name),
    F(struct azure_vm, "osVersion", os_version),
    {NULL, 0},
};

/* What a VM's scan holds until the VM's object is read: the image reference's strings, the
 * instance view's computer name and its extensions. */
struct scan_vm {
    struct scan_image im;
    char *iv_computer;
    struct azure_extension *iv_ext;
    size_t n_iv_ext;
};

static void scan_instance_view(struct azure_scan *s, struct azure_vm *vm, struct scan_vm *sv)
{
    while (azure_scan_member(s)) {
        if (azure_scan_str_member(s, vm, VM_IV_FIELDS))
            continue;
        if (azure_scan_key_is(s, "computerName"))
            azure_scan_take(&sv->iv_computer, azure_scan_str(s));
        else if (azure_scan_key_is(s, "extensions"))
            scan_ext_array(s, &sv->iv_ext, &sv->n_iv_ext, scan_iv_extension);
        else if (azure_scan_key_is(s, "statuses"))
            scan_statuses(s, &vm->statuses, &vm->n_statuses);
        else
            (void)azure_scan_skip(s);
    }
}

static const struct azure_scan_field VM_PROPERTY_FIELDS[] = {
    F(struct azure_vm, "vmId", vm_id),
    F(struct azure_vm, "provisioningState", provisioning_state),
    {NULL, 0},
};

static void scan_vm_properties(struct azure_scan *s, struct azure_vm *vm, struct scan_vm *sv)
{
    while (azure_scan_member(s)) {
        if (azure_scan_str_member(s, vm, VM_PROPERTY_FIELDS)) {
            continue;
        } else if (azure_scan_key_is(s, "osProfile")) {
            if (azure_scan_object(s))
                azure_scan_str_object(s, vm, OS_PROFILE_FIELDS);
        } else if (azure_scan_key_is(s, "storageProfile")) {
            if (azure_scan_object(s))
                scan_storage(s, vm, &sv->im);
        } else if (azure_scan_key_is(s, "instanceView")) {
            if (azure_scan_object(s))
                scan_instance_view(s, vm, sv);
        } else {
            (void)azure_scan_skip(s);
        }
    }
}

/* A repeated key of an object keeps its first place (as in jansson): these find it. */
static bool has_str(char *const *v, size_t n, const char *k)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i], k) == 0)
            return true;
    }
    return false;
}

static size_t tag_slot(const struct azure_kv *tags, size_t n, const char *k)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(tags[i].key, k) == 0)
            return i;
    }
    return n;
}

static const struct azure_scan_field IDENTITY_FIELDS[] = {
    F(struct azure_vm, "type", identity_type),
    F(struct azure_vm, "principalId", identity_principal_id),
    F(struct azure_vm, "tenantId", identity_tenant_id),
    {NULL, 0},
};

static void scan_identity(struct azure_scan *s, struct azure_vm *vm)
{
    size_t cap = 4;

    while (azure_scan_member(s)) {
        if (azure_scan_str_member(s, vm, IDENTITY_FIELDS)) {
            continue;
        } else if (azure_scan_key_is(s, "userAssignedIdentities")) {
            azure_strv_free(vm->user_assigned_ids, vm->n_user_assigned);
            vm->n_user_assigned = 0;
            vm->user_assigned_ids = xcalloc(cap, sizeof(char *));
            if (!azure_scan_object(s))
                continue;
            while (azure_scan_member(s)) {
                /* the key first: skipping its value reads the keys inside */
                char *k = xstrndup(s->key, s->key_len);

                (void)azure_scan_skip(s);
                if (has_str(vm->user_assigned_ids, vm->n_user_assigned, k)) {
                    free(k);
                    continue;
                }
                if (vm->n_user_assigned + 1 >= cap) {
                    cap *= 2;
                    vm->user_assigned_ids =
                        xreallocarray(vm->user_assigned_ids, cap, sizeof(char *));
                }
                vm->user_assigned_ids[vm->n_user_assigned++] = k;
                vm->user_assigned_ids[vm->n_user_assigned] = NULL;
            }
        } else {
            (void)azure_scan_skip(s);
        }
    }
}

static void scan_tags(struct azure_scan *s, struct azure_vm *vm)
{
    size_t cap = 4;

    for (size_t i = 0; i < vm->n_tags; i++) {
        free(vm->tags[i].key);
        free(vm->tags[i].value);
    }
    free(vm->tags);
    vm->n_tags = 0;
    vm->tags = xcalloc(cap, sizeof(*vm->tags));
    if (!azure_scan_object(s))
        return;
    while (azure_scan_member(s)) {
        /* the key first: skipping a non-string value reads the keys inside */
        char *k = xstrndup(s->key, s->key_len);
        char *v = azure_scan_str(s);
        size_t i = tag_slot(vm->tags, vm->n_tags, k);

        if (v == NULL)
            v = xstrdup("");
        if (i < vm->n_tags) {
            azure_scan_take(&vm->tags[i].value, v);
            free(k);
            continue;
        }
        if (vm->n_tags + 1 >= cap) {
            cap *= 2;
            vm->tags = xreallocarray(vm->tags, cap, sizeof(*vm->tags));
        }
        vm->tags[vm->n_tags].key = k;
        vm->tags[vm->n_tags].value = v;
        vm->n_tags++;
        vm->tags[vm->n_tags] = (struct azure_kv){0};
    }
}

static const struct azure_scan_field VM_FIELDS[] = {
    F(struct azure_vm, "id", id),
    F(struct azure_vm, "name", name),
    F(struct azure_vm, "location", location),
    F(struct azure_vm, "etag", etag),
    {NULL, 0},
};

void azure_vm_scan(struct azure_scan *s, void *out)
{
    struct azure_vm *vm = out;
    struct scan_vm sv = {0};
    struct scan_image *im = &sv.im;
    const char *version;

    while (azure_scan_member(s)) {
        if (azure_scan_str_member(s, vm, VM_FIELDS))
            continue;
        if (azure_scan_key_is(s, "properties")) {
            if (azure_scan_object(s))
                scan_vm_properties(s, vm, &sv);
        } else if (azure_scan_key_is(s, "identity")) {
            if (azure_scan_object(s))
                scan_identity(s, vm);
        } else if (azure_scan_key_is(s, "tags"))
            scan_tags(s, vm);
        else if (azure_scan_key_is(s, "resources")) {
            vm->has_resources = true;
            scan_ext_array(s, &vm->extensions, &vm->n_extensions, scan_extension);
        } else
            (void)azure_scan_skip(s);
    }
    vm->subscription_id = id_part(vm->id, "subscriptions");
    vm->resource_group = id_part(vm->id, "resourceGroups");
    version = im->version;
    if (version != NULL && strcasecmp(version, "latest") == 0 && im->exact != NULL)
        version = im->exact;
    vm->image_version = version != NULL ? xstrdup(version) : NULL;
    vm->image_id = im->id != NULL ? im->id : im->shared != NULL ? im->shared : im->community;
    if (vm->image_id != im->id)
        free(im->id);
    if (vm->image_id != im->shared)
        free(im->shared);
    if (vm->image_id != im->community)
        free(im->community);
    free(im->version);
    free(im->exact);
    if (vm->computer_name == NULL)
        azure_scan_take(&vm->computer_name, sv.iv_computer);
    else
        free(sv.iv_computer);
    for (size_t i = 0; i < vm->n_statuses && vm->power_state == NULL; i++) {
        const char *code = vm->statuses[i].code;

        if (code != NULL && strncasecmp(code, "PowerState/", 11) == 0)
            vm->power_state = xstrdup(code + 11);
    }
    /* json_t parsing always allocates these */
    if (vm->statuses == NULL)
        vm->statuses = xcalloc(1, sizeof(*vm->statuses));
    if (vm->user_assigned_ids == NULL)
        vm->user_assigned_ids = xcalloc(1, sizeof(char *));
    if (vm->tags == NULL)
        vm->tags = xcalloc(1, sizeof(*vm->tags));
    if (vm->extensions == NULL)
        vm->extensions = xcalloc(1, sizeof(*vm->extensions));
    iv_extensions_merge(vm, sv.iv_ext, sv.n_iv_ext);
}

void azure_vm_cleanup(struct azure_vm *vm)
{
    char **strs[] = {&vm->id,
                     &vm->name,
                     &vm->subscription_id,
                     &vm->resource_group,
                     &vm->location,
                     &vm->etag,
                     &vm->vm_id,
                     &vm->computer_name,
                     &vm->os_type,
                     &vm->image_publisher,
                     &vm->image_offer,
                     &vm->image_sku,
                     &vm->image_version,
                     &vm->image_id,
                     &vm->os_name,
                     &vm->os_version,
                     &vm->power_state,
                     &vm->provisioning_state,
                     &vm->identity_type,
                     &vm->identity_principal_id,
                     &vm->identity_tenant_id};

    if (vm == NULL)
        return;
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        free(*strs[i]);
    azure_strv_free(vm->user_assigned_ids, vm->n_user_assigned);
    for (size_t i = 0; i < vm->n_tags; i++) {
        free(vm->tags[i].key);
        free(vm->tags[i].value);
    }
    free(vm->tags);
    azure_extensions_free(vm->extensions, vm->n_extensions);
    statuses_free(vm->statuses, vm->n_statuses);
    memset(vm, 0, sizeof(*vm));
}

static void vm_cleanup_v(void *p)
{
    azure_vm_cleanup(p);
}

bool azure_vm_has_system_identity(const struct azure_vm *vm)
{
    return vm->identity_type != NULL && strcasestr(vm->identity_type, "SystemAssigned") != NULL;
}

/* ---- subscriptions ----------------------------------------------------------------------- */

static void subscription_parse(const json_t *o, void *out)
{
    struct azure_subscription *s = out;

    s->id = azure_json_dup(o, "id");
    s->subscription_id = azure_json_dup(o, "subscriptionId");
    s->display_name = azure_json_dup(o, "displayName");
    s->state = azure_json_dup(o, "state");
    s->tenant_id = azure_json_dup(o, "tenantId");
}

void azure_subscription_cleanup(struct azure_subscription *s)
{
    if (s == NULL)
        return;
    free(s->id);
    free(s->subscription_id);
    free(s->display_name);
    free(s->state);
    free(s->tenant_id);
    memset(s, 0, sizeof(*s));
}

static void subscription_cleanup_v(void *p)
{
    azure_subscription_cleanup(p);
}

static enum err deliver_subscriptions(const struct azure_typed_page *tp, const void *items,
                                      size_t n)
{
    return ((azure_subscriptions_fn)tp->fn)(items, n, tp->arg);
}

/* Calls a collection URL page by page into a typed callback. */
static enum err list_typed(struct azure_client *c, const char *url, const char *sub, const char *op,
                           struct azure_typed_page *tp, struct azure_error *ae)
{
    struct azure_request rq = {
        .method = "GET", .url = url, .api = AZURE_API_ARM, .op = op, .subscription = sub};

    return azure_page_each_typed(c, &rq, tp, ae);
}

enum err azure_subscriptions_list(struct azure_client *c, azure_subscriptions_fn fn, void *arg,
                                  struct azure_error *ae)
{
    struct azure_typed_page tp = {.size = sizeof(struct azure_subscription),
                                  .parse = subscription_parse,
                                  .cleanup = subscription_cleanup_v,
                                  .deliver = deliver_subscriptions,
                                  .fn = (void (*)(void))fn,
                                  .arg = arg};
    struct buf url;
    enum err rc;

    buf_init(&url, AZURE_URL_MAX_BYTES);
    rc = azure_arm_url(c, "/subscriptions", SUBSCRIPTIONS_API, NULL, &url);
    if (rc == ERR_OK)
        rc = list_typed(c, url.data, NULL, "subscriptions_list", &tp, ae);
    buf_cleanup(&url);
    return rc;
}

/* ---- virtual machines -------------------------------------------------------------------- */

static enum err deliver_vms(const struct azure_typed_page *tp, const void *items, size_t n)
{
    return ((azure_vms_fn)tp->fn)(items, n, tp->arg);
}

enum err azure_vms_list(struct azure_client *c, const char *subscription_id,
                        const char *resource_group, bool status_only, azure_vms_fn fn, void *arg,
                        struct azure_error *ae)
{
    struct azure_typed_page tp = {.size = sizeof(struct azure_vm),
                                  .parse = azure_vm_parse,
                                  .scan = azure_vm_scan,
                                  .idle = true,
                                  .cleanup = vm_cleanup_v,
                                  .deliver = deliver_vms,
                                  .fn = (void (*)(void))fn,
                                  .arg = arg};
    struct buf path;
    struct buf url;
    enum err rc;

    buf_init(&path, AZURE_URL_MAX_BYTES);
    buf_init(&url, AZURE_URL_MAX_BYTES);
    rc = buf_appends(&path, "/subscriptions/");
    if (rc == ERR_OK)
        rc = azure_url_encode(&path, subscription_id);
    if (rc == ERR_OK && resource_group != NULL) {
        rc = buf_appends(&path, "/resourceGroups/");
        if (rc == ERR_OK)
            rc = azure_url_encode(&path, resource_group);
    }
    if (rc == ERR_OK)
        rc = buf_appends(&path, "/providers/Microsoft.Compute/virtualMachines");
    if (rc == ERR_OK)
        rc = azure_arm_url(c, path.data, c->compute_api, status_only ? "&statusOnly=true" : NULL,
                           &url);
    if (rc == ERR_OK)
        rc = list_typed(c, url.data, subscription_id, "vm_list", &tp, ae);
    buf_cleanup(&path);
    buf_cleanup(&url);
    return rc;
}

/* GET {id}{suffix}?api-version=compute[tail] into *out (json). */
static enum err get_resource(struct azure_client *c, const char *id, const char *suffix,
                             const char *tail, const char *op, json_t **out, struct azure_error *ae)
{
    char sub[ID_PART_MAX] = "";
    struct buf path;
    struct buf url;
    enum err rc;

    buf_init(&path, AZURE_URL_MAX_BYTES);
    buf_init(&url, AZURE_URL_MAX_BYTES);
    (void)azure_id_segment(id, "subscriptions", sub, sizeof(sub));
    rc = buf_printf(&path, "%s%s", id, suffix != NULL ? suffix : "");
    if (rc == ERR_OK)
        rc = azure_arm_url(c, path.data, c->compute_api, tail, &url);
    if (rc == ERR_OK)
        rc = azure_arm_get_json(c, url.data, sub[0] ? sub : NULL, op, out, ae);
    buf_cleanup(&path);
    buf_cleanup(&url);
    return rc;
}

enum err azure_vm_get(struct azure_client *c, const char *vm_id, bool instance_view,
                      struct azure_vm *out, struct azure_error *ae)
{
    json_t *root = NULL;
    enum err rc = get_resource(c, vm_id, NULL, instance_view ? "&$expand=instanceView" : NULL,
                               "vm_get", &root, ae);

    memset(out, 0, sizeof(*out));
    if (rc == ERR_OK)
        azure_vm_parse(root, out);
    json_decref(root);
    return rc;
}

enum err azure_vm_identity_patch_body(const struct azure_vm *vm, struct buf *out, bool *needed)
{
    bool has_user = vm->n_user_assigned > 0;
    enum err rc;

    *needed = !azure_vm_has_system_identity(vm);
    if (!*needed)
        return ERR_OK;
    rc = buf_printf(out, "{\"identity\":{\"type\":\"%s\"",
                    has_user ? "SystemAssigned, UserAssigned" : "SystemAssigned");
    if (rc == ERR_OK && has_user) {
        rc = buf_appends(out, ",\"userAssignedIdentities\":{");
        for (size_t i = 0; i < vm->n_user_assigned && rc == ERR_OK; i++) {
            rc = i > 0 ? buf_appends(out, ",") : ERR_OK;
            if (rc == ERR_OK)
                rc = azure_json_append_str(out, vm->user_assigned_ids[i]);
            if (rc == ERR_OK)
                rc = buf_appends(out, ":{}");
        }
        if (rc == ERR_OK)
            rc = buf_appends(out, "}");
    }
    if (rc == ERR_OK)
        rc = buf_appends(out, "}}");
    return rc;
}

/* Sends method on {id}{suffix} with body, as the start of an LRO. */
static enum err begin_with(struct azure_client *c, const char *method, const char *id,
                           const char *suffix, const char *body, const char *const *headers,
                           const char *op, struct azure_lro *l, struct azure_error *ae)
{
    char sub[ID_PART_MAX] = "";
    struct buf path;
    struct buf url;
    struct azure_response rs;
    struct azure_request rq = {
        .method = method, .body = body, .headers = headers, .api = AZURE_API_ARM, .op = op};
    enum err rc;

    azure_response_init(&rs);
    azure_lro_init(l);
    buf_init(&path, AZURE_URL_MAX_BYTES);
    buf_init(&url, AZURE_URL_MAX_BYTES);
    (void)azure_id_segment(id, "subscriptions", sub, sizeof(sub));
    rq.subscription = sub[0] ? sub : NULL;
    rc = buf_printf(&path, "%s%s", id, suffix != NULL ? suffix : "");
    if (rc == ERR_OK)
        rc = azure_arm_url(c, path.data, c->compute_api, NULL, &url);
    rq.url = url.data;
    if (rc == ERR_OK)
        rc = azure_lro_begin(c, &rq, l, &rs, ae);
    azure_response_cleanup(&rs);
    buf_cleanup(&path);
    buf_cleanup(&url);
    return rc;
}

static enum err begin_on(struct azure_client *c, const char *method, const char *id,
                         const char *suffix, const char *body, const char *op, struct azure_lro *l,
                         struct azure_error *ae)
{
    return begin_with(c, method, id, suffix, body, NULL, op, l, ae);
}

/* How often the identity PATCH reads the VM again after 412 before it gives up. */
#define IDENTITY_PATCH_TRIES 4

enum err azure_vm_enable_system_identity(struct azure_client *c, const char *vm_id,
                                         const struct azure_vm *current, struct azure_lro *l,
                                         bool *skipped, struct azure_error *ae)
{
    struct azure_vm read = {0};
    struct buf body;
    bool needed = false;
    enum err rc = ERR_OK;

    azure_lro_init(l);
    azure_error_clear(ae);
    buf_init(&body, 1 << 20);
    *skipped = false;
    if (current == NULL) {
        rc = azure_vm_get(c, vm_id, false, &read, ae);
        current = &read;
    }
    /* The PATCH names the user-assigned identities it read; sent with If-Match on the etag it
     * read them from, a change meanwhile answers 412 and the VM is read again, so an identity
     * added in between is never dropped (ARM conditional requests: If-Match on
     * VirtualMachines_Update, azure-wire.md section 3). */
    for (int tries = 0; rc == ERR_OK && tries < IDENTITY_PATCH_TRIES; tries++) {
        char if_match[160];
        const char *hdrs[] = {if_match, NULL};

        buf_reset(&body);
        rc = azure_vm_identity_patch_body(current, &body, &needed);
        if (rc != ERR_OK || !needed)
            break;
        snprintf(if_match, sizeof(if_match), "If-Match: %s", current->etag);
        rc = begin_with(c, "PATCH", vm_id, NULL, body.data,
                        current->etag != NULL && current->etag[0] != '\0' ? hdrs : NULL,
                        "vm_patch_identity", l, ae);
        if (rc == ERR_OK || ae->status != 412)
            break;
        log_info("vm_identity_etag_changed", "vm=%s etag=%s client_request_id=%s", vm_id,
                 current->etag, ae->client_request_id);
        azure_vm_cleanup(&read);
        rc = azure_vm_get(c, vm_id, false, &read, ae);
        current = &read;
    }
    if (rc == ERR_OK && !needed) {
        *skipped = true;
        l->state = AZURE_LRO_SUCCEEDED;
    }
    buf_cleanup(&body);
    azure_vm_cleanup(&read);
    return rc;
}

/* ---- extensions -------------------------------------------------------------------------- */

enum err azure_extensions_list(struct azure_client *c, const char *vm_id, bool instance_view,
                               struct azure_extension **out, size_t *n, struct azure_error *ae)
{
    json_t *root = NULL;
    enum err rc =
        get_resource(c, vm_id, "/extensions", instance_view ? "&$expand=instanceView" : NULL,
                     "extension_list", &root, ae);

    *out = NULL;
    *n = 0;
    if (rc == ERR_OK)
        *out = azure_typed_parse_array(&extension_type, json_object_get(root, "value"), n);
    json_decref(root);
    return rc;
}

static enum err extension_suffix(struct buf *suffix, const char *name)
{
    enum err rc = buf_appends(suffix, "/extensions/");

    return rc == ERR_OK ? azure_url_encode(suffix, name) : rc;
}

enum err azure_extension_get(struct azure_client *c, const char *vm_id, const char *name,
                             bool instance_view, struct azure_extension *out,
                             struct azure_error *ae)
{
    json_t *root = NULL;
    struct buf suffix;
    enum err rc;

    memset(out, 0, sizeof(*out));
    buf_init(&suffix, AZURE_URL_MAX_BYTES);
    rc = extension_suffix(&suffix, name);
    if (rc == ERR_OK)
        rc = get_resource(c, vm_id, suffix.data, instance_view ? "&$expand=instanceView" : NULL,
                          "extension_get", &root, ae);
    if (rc == ERR_OK)
        azure_extension_parse(root, out);
    json_decref(root);
    buf_cleanup(&suffix);
    return rc;
}

static enum err extension_body(const struct azure_extension_spec *s, struct buf *b)
{
    enum err rc = buf_appends(b, "{\"location\":");

    if (rc == ERR_OK)
        rc = azure_json_append_str(b, s->location);
    if (rc == ERR_OK)
        rc = buf_appends(b, ",\"properties\":{\"publisher\":");
    if (rc == ERR_OK)
        rc = azure_json_append_str(b, s->publisher);
    if (rc == ERR_OK)
        rc = buf_appends(b, ",\"type\":");
    if (rc == ERR_OK)
        rc = azure_json_append_str(b, s->type);
    if (rc == ERR_OK)
        rc = buf_appends(b, ",\"typeHandlerVersion\":");
    if (rc == ERR_OK)
        rc = azure_json_append_str(b, s->type_handler_version);
    if (rc == ERR_OK)
        rc = buf_printf(b, ",\"autoUpgradeMinorVersion\":%s",
                        s->auto_upgrade_minor_version ? "true" : "false");
    if (rc == ERR_OK && s->force_update_tag != NULL) {
        rc = buf_appends(b, ",\"forceUpdateTag\":");
        if (rc == ERR_OK)
            rc = azure_json_append_str(b, s->force_update_tag);
    }
    if (rc == ERR_OK && s->settings_json != NULL)
        rc = buf_printf(b, ",\"settings\":%s", s->settings_json);
    if (rc == ERR_OK)
        rc = buf_appends(b, "}}");
    return rc;
}

enum err azure_extension_put(struct azure_client *c, const char *vm_id,
                             const struct azure_extension_spec *spec, struct azure_lro *l,
                             struct azure_error *ae)
{
    struct buf suffix;
    struct buf body;
    json_t *check = NULL;
    enum err rc;

    azure_lro_init(l);
    azure_error_clear(ae);
    buf_init(&suffix, AZURE_URL_MAX_BYTES);
    buf_init(&body, 1 << 20);
    rc = extension_suffix(&suffix, spec->name);
    if (rc == ERR_OK)
        rc = extension_body(spec, &body);
    if (rc == ERR_OK && spec->settings_json != NULL) {
        json_error_t jerr;

        check = json_loads(body.data, 0, &jerr); /* settings_json must be a JSON value */
        rc = check != NULL ? ERR_OK : ERR_INVALID;
    }
    if (rc == ERR_OK)
        rc = begin_on(c, "PUT", vm_id, suffix.data, body.data, "extension_put", l, ae);
    json_decref(check);
    buf_cleanup(&suffix);
    buf_cleanup(&body);
    return rc;
}

enum err azure_extension_delete(struct azure_client *c, const char *vm_id, const char *name,
                                struct azure_lro *l, struct azure_error *ae)
{
    struct buf suffix;
    enum err rc;

    azure_lro_init(l);
    buf_init(&suffix, AZURE_URL_MAX_BYTES);
    rc = extension_suffix(&suffix, name);
    if (rc == ERR_OK)
        rc = begin_on(c, "DELETE", vm_id, suffix.data, NULL, "extension_delete", l, ae);
    if (rc == ERR_NOT_FOUND) {
        l->state = AZURE_LRO_SUCCEEDED; /* already gone */
        rc = ERR_OK;
    }
    buf_cleanup(&suffix);
    return rc;
}

/* POST {vm}/runCommand (VirtualMachines_RunCommand, a long-running operation). */
enum err azure_vm_run_command_begin(struct azure_client *c, const char *vm_id, const char *body,
                                    struct azure_lro *l, struct azure_error *ae)
{
    return begin_on(c, "POST", vm_id, "/runCommand", body, "vm_run_command", l, ae);
}

/* http_mhd_errors.c: libmicrohttpd answers some requests itself, before any callback of ours
 * can: a request line or header block larger than a connection's memory (414, 431), a
 * malformed request (400). Version 0.9.75 has no option to change those answers; it builds
 * each from a fixed HTML text through its public MHD_create_response_from_buffer, called
 * through the PLT (Debian builds it without -Bsymbolic). This file defines that function in
 * the executable, which therefore comes first in symbol lookup: it passes every call on to
 * the library's and swaps only those HTML texts for problem+json. The status is chosen after
 * the body, so these bodies carry none; the status line has it. Where the swap cannot apply
 * (another build of the library), the HTML goes out as before, and it is still logged. */
#include <dlfcn.h>
#include <string.h>

#include "http_internal.h"
#include "vmlogind/log.h"

typedef struct MHD_Response *(*create_fn)(size_t size, void *buffer,
                                          enum MHD_ResponseMemoryMode mode);

static create_fn real_create;

static const char too_large[] =
    "{\"type\":\"urn:vmlogind:problem:request_too_large\",\"title\":\"Request Too Large\","
    "\"code\":\"request_too_large\",\"detail\":\"the request line or the request headers are "
    "larger than this server accepts\"}";
static const char malformed[] =
    "{\"type\":\"urn:vmlogind:problem:malformed_request\",\"title\":\"Bad Request\","
    "\"code\":\"malformed_request\",\"detail\":\"the request is not valid HTTP/1.1\"}";

void http_mhd_errors_init(void)
{
    if (real_create == NULL)
        *(void **)&real_create = dlsym(RTLD_NEXT, "MHD_create_response_from_buffer");
    if (real_create == NULL)
        log_warn("http_mhd_errors", "effect=\"libmicrohttpd's own error answers stay HTML\"");
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
                                                     enum MHD_ResponseMemoryMode mode)
{
    static const char html[] = "<html><head><title>";
    const char *swap = NULL;
    struct MHD_Response *r;

    if (real_create == NULL)
        http_mhd_errors_init();
    if (real_create == NULL)
        return NULL;
    /* only the library's own texts: persistent, HTML, never built so by vmlogind */
    if (mode == MHD_RESPMEM_PERSISTENT && buffer != NULL && size > sizeof(html) &&
        memcmp(buffer, html, sizeof(html) - 1) == 0)
        swap = memmem(buffer, size, "too big", 7) != NULL ? too_large : malformed;
    if (swap == NULL)
        return real_create(size, buffer, mode);
    r = real_create(strlen(swap), (void *)swap, MHD_RESPMEM_PERSISTENT);
    if (r != NULL)
        MHD_add_response_header(r, "Content-Type", "application/problem+json");
    return r;
}

/* main.c: vmloginctl's entry point (the commands live in cmds.c). */
#include <curl/curl.h>

#include "cli.h"
#include "vmlogind/xalloc.h"

int main(int argc, char *argv[])
{
    int rc;

    xalloc_init_json();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return CLI_FAILED;
    rc = cli_main(argc, argv);
    curl_global_cleanup();
    return rc;
}

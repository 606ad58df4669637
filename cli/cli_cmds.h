/* cli_cmds.h: vmloginctl's command table, shared by cmds.c (the commands and cli_main) and
 * help.c (--help, the man page, --commands and the completion scripts made from the table). */
#ifndef VMLOGINCTL_CLI_CMDS_H
#define VMLOGINCTL_CLI_CMDS_H

#include "cli.h"

struct cmd {
    const char *group; /* "vm" */
    const char *verb;  /* "list"; NULL for a command without verbs ("sync") */
    int (*run)(struct cli_ctx *ctx, const struct cli_args *a);
    const struct cli_opt_spec *opts;
    int min_pos, max_pos;
    const char *usage;
    const char *example;
};

/* Every command, in the order --help lists them (a group's commands together); ends with a
 * NULL group. */
extern const struct cmd cli_commands[];

/* help.c */
void cli_help_all(FILE *f);
void cli_help_cmd(FILE *f, const struct cmd *c);
/* The man page into path (stdout when NULL). */
int cli_help_man(const char *path);
/* "group verb" of every command, one a line. */
int cli_help_list(void);
int cli_cmd_completion(struct cli_ctx *ctx, const struct cli_args *a);

#endif

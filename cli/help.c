/* help.c: what vmloginctl says about itself, all made from the command table: --help of the
 * program and of each command, the man page (generated at build time), --commands, and the
 * bash, zsh and fish completion scripts. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli_cmds.h"

/* ---- shell completion: the words come from the command table ---- */

/* The first command of each group (the table keeps a group's commands together). */
static bool group_first(const struct cmd *c)
{
    return c == cli_commands || strcmp(c->group, c[-1].group) != 0;
}

/* "vm login ..." */
static void put_groups(FILE *f)
{
    for (const struct cmd *c = cli_commands; c->group != NULL; c++)
        if (group_first(c))
            fprintf(f, "%s%s", c == cli_commands ? "" : " ", c->group);
}

/* "list show" for the group that starts at c */
static void put_verbs(FILE *f, const struct cmd *c)
{
    for (const struct cmd *v = c; v->group != NULL && strcmp(v->group, c->group) == 0; v++)
        if (v->verb != NULL)
            fprintf(f, "%s%s", v == c ? "" : " ", v->verb);
}

#define SHELLS "bash zsh fish"
#define GLOBAL_OPTS "--output --url --profile --debug --help --wait"
#define FORMATS "table wide json yaml tsv"

/* bash and zsh complete with the same case on the word position; they differ in syntax. */
struct shell_case {
    const char *head; /* up to the list of groups */
    const char *mid;  /* from it to the per-group cases */
    const char *open; /* after "GROUP)", up to the verbs */
    const char *close;
    const char *tail;
};

static const struct shell_case bash_case = {
    "# vmloginctl bash completion: source <(vmloginctl completion bash)\n"
    "_vmloginctl() {\n"
    "    local cur=${COMP_WORDS[COMP_CWORD]} words\n"
    "    case $COMP_CWORD in\n"
    "    1) words=\"",
    "\" ;;\n    2) case ${COMP_WORDS[1]} in\n", " words=\"", "\" ;;\n",
    "       completion) words=\"" SHELLS "\" ;;\n"
    "       *) words=\"" GLOBAL_OPTS "\" ;;\n"
    "       esac ;;\n"
    "    *) words=\"" GLOBAL_OPTS "\" ;;\n"
    "    esac\n"
    "    mapfile -t COMPREPLY < <(compgen -W \"$words\" -- \"$cur\")\n"
    "}\n"
    "complete -F _vmloginctl vmloginctl\n"};

static const struct shell_case zsh_case = {
    "#compdef vmloginctl\n"
    "# vmloginctl zsh completion (needs compinit):\n"
    "#   autoload -Uz compinit && compinit; source <(vmloginctl completion zsh)\n"
    "_vmloginctl() {\n"
    "    local -a w\n"
    "    case $CURRENT in\n"
    "    2) w=(",
    ") ;;\n    3) case ${words[2]} in\n", " w=(", ") ;;\n",
    "       completion) w=(" SHELLS ") ;;\n"
    "       *) w=(" GLOBAL_OPTS ") ;;\n"
    "       esac ;;\n"
    "    *) w=(" GLOBAL_OPTS ") ;;\n"
    "    esac\n"
    "    compadd -a w\n"
    "}\n"
    "compdef _vmloginctl vmloginctl\n"};

static void completion_case(FILE *f, const struct shell_case *sc)
{
    fputs(sc->head, f);
    put_groups(f);
    fputs(sc->mid, f);
    for (const struct cmd *c = cli_commands; c->group != NULL; c++) {
        if (c->verb == NULL || !group_first(c))
            continue;
        fprintf(f, "       %s)%s", c->group, sc->open);
        put_verbs(f, c);
        fputs(sc->close, f);
    }
    fputs(sc->tail, f);
}

static void completion_fish(FILE *f)
{
    fputs("# vmloginctl fish completion: vmloginctl completion fish | source\n"
          "complete -c vmloginctl -f\n"
          "complete -c vmloginctl -n __fish_use_subcommand -a '",
          f);
    put_groups(f);
    fputs("'\n", f);
    for (const struct cmd *c = cli_commands; c->group != NULL; c++) {
        if (c->verb == NULL || !group_first(c))
            continue;
        fprintf(f,
                "complete -c vmloginctl -n '__fish_seen_subcommand_from %s; and not "
                "__fish_seen_subcommand_from ",
                c->group);
        put_verbs(f, c);
        fputs("' -a '", f);
        put_verbs(f, c);
        fputs("'\n", f);
    }
    fputs("complete -c vmloginctl -n '__fish_seen_subcommand_from completion' -a '" SHELLS "'\n"
          "complete -c vmloginctl -s o -l output -x -a '" FORMATS "'\n"
          "complete -c vmloginctl -l url -x\n"
          "complete -c vmloginctl -l profile -x\n"
          "complete -c vmloginctl -l debug\n"
          "complete -c vmloginctl -s h -l help\n"
          "complete -c vmloginctl -l wait\n",
          f);
}

int cli_cmd_completion(struct cli_ctx *ctx, const struct cli_args *a)
{
    if (strcmp(a->pos[0], "bash") == 0)
        completion_case(ctx->out, &bash_case);
    else if (strcmp(a->pos[0], "zsh") == 0)
        completion_case(ctx->out, &zsh_case);
    else if (strcmp(a->pos[0], "fish") == 0)
        completion_fish(ctx->out);
    else {
        fprintf(ctx->err, "vmloginctl: completion takes bash, zsh or fish\n");
        return CLI_USAGE;
    }
    return CLI_OK;
}

void cli_help_all(FILE *f)
{
    fputs("usage: vmloginctl [-o table|wide|json|yaml|tsv] [--profile NAME] [--url URL] [--debug]\n"
          "                  COMMAND ...\n"
          "The client of vmlogind's REST API. VMLOGIND_URL (default http://127.0.0.1:8080) and\n"
          "VMLOGIND_API_KEY say where and as whom. Commands:\n",
          f);
    for (const struct cmd *c = cli_commands; c->group != NULL; c++)
        fprintf(f, "  %s\n", c->usage);
    fputs("Exit codes: 0 succeeded, 1 failed, 2 usage, 3 partly succeeded, 4 auth, 5 not "
          "found,\n130 stopped watching with Ctrl-C (the operation goes on).\n",
          f);
}

/* What each command does, for --help and the man page. */
static const struct {
    const char *group, *verb, *text;
} summaries[] = {
    {"version", NULL, "Print vmloginctl's version."},
    {"vm", "list",
     "List the VMs of the inventory, filtered by subscription, resource group, "
     "login state or OS support."},
    {"vm", "show", "Show one VM: its OS, power state, login state and extension."},
    {"login", "enable",
     "Enable Entra ID sign-in on a VM, resource group or subscription (a "
     "scope): the login extension is installed and kept; --wait follows the "
     "operation."},
    {"login", "disable", "Disable Entra ID sign-in on a scope."},
    {"login", "status",
     "Show the desired and effective login state of a scope and its VMs' "
     "counts."},
    {"login", "preflight", "Run the sign-in checks of a VM; exit 1 when one fails."},
    {"login", NULL,
     "Sign in: --api-key reads a key from stdin or --key-file (never from the "
     "command line); --entra runs the device-code flow against the profile's "
     "tenant. The credential is cached in the profile (mode 0600)."},
    {"logout", NULL, "Forget the profile's cached credential."},
    {"grant", "create",
     "Grant a person or group the administrator or user login role on a "
     "scope, for a time (--for 8h) or until a time (--until)."},
    {"grant", "list", "List login grants, filtered by scope, principal or state."},
    {"grant", "show", "Show one login grant."},
    {"grant", "extend", "Move a grant's expiry."},
    {"grant", "revoke", "Revoke a grant before it expires."},
    {"activate", NULL,
     "Activate a login you are eligible for (just-in-time) on a scope for a "
     "time; it waits for approval when the eligibility asks for it. An "
     "operator may activate for someone with --principal."},
    {"approve", NULL, "Approve a pending activation (an approver, never its requester)."},
    {"deny", NULL, "Deny a pending activation, with a reason."},
    {"activations", NULL,
     "List the activations you may see (yours, those you approve, your "
     "scopes'); --pending shows those waiting for approval."},
    {"access", NULL,
     "Who can sign in to a VM and how (role, via which group and scope), or "
     "which VMs a principal can sign in to."},
    {"rdp", NULL, "Write an .rdp file that signs in to a VM with Entra ID."},
    {"operation", "show", "Show an operation and its VMs."},
    {"operation", "watch",
     "Follow an operation to its end (progress on stderr); Ctrl-C stops "
     "watching, not the operation."},
    {"sync", NULL, "Ask for an inventory sync; --wait follows it."},
    {"compliance", NULL, "Count VMs by login state per subscription."},
    {"audit", NULL, "Print the audit log; --follow keeps printing new rows until Ctrl-C."},
    {"completion", NULL, "Print the shell completion script for bash, zsh or fish."},
    {"config", "set", "Set (or, without VALUE, unset) a setting of the profile."},
    {"config", "get", "Print a setting of the profile (exit 5 when unset)."},
    {"config", "list", "Show the profile's settings and credential (never its secret)."},
    {"config", "use", "Make a profile the current one."},
};

static const char *summary_of(const struct cmd *c)
{
    for (size_t i = 0; i < sizeof(summaries) / sizeof(summaries[0]); i++)
        if (strcmp(summaries[i].group, c->group) == 0 &&
            (summaries[i].verb == NULL) == (c->verb == NULL) &&
            (c->verb == NULL || strcmp(summaries[i].verb, c->verb) == 0))
            return summaries[i].text;
    return "";
}

#define GLOBAL_HELP                                                                                \
    "Global options: -o table|wide|json|yaml|tsv, --profile NAME, --url URL, --debug, -h.\n"

void cli_help_cmd(FILE *f, const struct cmd *c)
{
    fprintf(f, "usage: %s\n\n%s\n\nExample:\n  %s\n\n" GLOBAL_HELP, c->usage, summary_of(c),
            c->example);
}

/* roff text: backslashes and hyphens escaped, no line starting with a control character. */
static void roff(FILE *f, const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", f);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", f);
        else if (*s == '-')
            fputs("\\-", f);
        else
            fputc(*s, f);
    }
}

static void man_section(FILE *f, const char *title, const char *const lines[])
{
    fprintf(f, ".SH %s\n", title);
    for (size_t i = 0; lines[i] != NULL; i++) {
        if (lines[i][0] == '.')
            fputs(lines[i], f);
        else
            roff(f, lines[i]);
        fputc('\n', f);
    }
}

static const char *const man_env[] = {".TP",
                                      "VMLOGIND_URL",
                                      "vmlogind's base URL; overrides the profile's url.",
                                      ".TP",
                                      "VMLOGIND_API_KEY",
                                      "An API key; overrides the profile's credential.",
                                      ".TP",
                                      "VMLOGINCTL_PROFILE",
                                      "The profile when --profile is not given.",
                                      ".TP",
                                      "VMLOGIND_SUBSCRIPTION",
                                      "Overrides the profile's subscription.",
                                      ".TP",
                                      "XDG_CONFIG_HOME",
                                      "Where the vmloginctl directory is (default ~/.config).",
                                      ".TP",
                                      "NO_COLOR",
                                      "When set and not empty, no colours (https://no-color.org).",
                                      NULL};
static const char *const man_files[] = {
    ".TP",
    "$XDG_CONFIG_HOME/vmloginctl/config.json",
    "The profiles' settings and the current profile (mode 0600; the directory is 0700).",
    ".TP",
    "$XDG_CONFIG_HOME/vmloginctl/PROFILE.cred.json",
    "The profile's API key or Entra tokens (mode 0600).",
    NULL};
static const char *const man_exit[] = {".TP",
                                       "0",
                                       "Succeeded.",
                                       ".TP",
                                       "1",
                                       "Failed (an operation failed, a check failed, a "
                                       "network or server error).",
                                       ".TP",
                                       "2",
                                       "Usage error.",
                                       ".TP",
                                       "3",
                                       "The operation partly "
                                       "succeeded.",
                                       ".TP",
                                       "4",
                                       "Authentication or authorisation refused.",
                                       ".TP",
                                       "5",
                                       "Not found.",
                                       ".TP",
                                       "130",
                                       "Ctrl-C while waiting: the operation goes on.",
                                       NULL};

/* The man page, generated from the command table at build time (cli/CMakeLists.txt). */
int cli_help_man(const char *path)
{
    FILE *f = path != NULL ? fopen(path, "w") : stdout;

    if (f == NULL) {
        fprintf(stderr, "vmloginctl: cannot write %s: %s\n", path, strerror(errno));
        return CLI_FAILED;
    }
    fprintf(f, ".TH VMLOGINCTL 1 \"\" \"vmloginctl %s\" \"User Commands\"\n", VMLOGIND_VERSION);
    fputs(".SH NAME\nvmloginctl \\- the command line of vmlogind (Entra ID sign-in on Azure "
          "Windows VMs)\n.SH SYNOPSIS\n.B vmloginctl\n[\\-o table|wide|json|yaml|tsv] "
          "[\\-\\-profile NAME] [\\-\\-url URL] [\\-\\-debug] COMMAND ...\n"
          ".SH DESCRIPTION\nA client of vmlogind's public REST API. A VM is given as its ARM "
          "id, RG/NAME, or a NAME unique in the inventory; a scope as an ARM id, a "
          "subscription id, a resource group name or a VM. Tables are the default on a "
          "terminal and JSON (the API's own) otherwise; tables show times local and relative, "
          "the data formats RFC 3339.\n.SH COMMANDS\n",
          f);
    for (const struct cmd *c = cli_commands; c->group != NULL; c++) {
        fputs(".SS ", f);
        roff(f, c->usage);
        fputs("\n", f);
        roff(f, summary_of(c));
        fputs("\n.PP\nExample:\n.RS\n.nf\n", f);
        roff(f, c->example);
        fputs("\n.fi\n.RE\n", f);
    }
    fputs(".SH SETTINGS\nSet per profile with vmloginctl config set KEY VALUE:\n", f);
    for (const struct cli_setting *s = cli_settings; s->key != NULL; s++) {
        fputs(".TP\n", f);
        roff(f, s->key);
        fputc('\n', f);
        roff(f, s->help);
        fputc('\n', f);
    }
    man_section(f, "ENVIRONMENT", man_env);
    man_section(f, "FILES", man_files);
    man_section(f, "EXIT STATUS", man_exit);
    if (path != NULL && fclose(f) != 0) {
        fprintf(stderr, "vmloginctl: cannot write %s: %s\n", path, strerror(errno));
        return CLI_FAILED;
    }
    return CLI_OK;
}

/* "group verb" of every command, one a line (tests and scripts iterate over them). */
int cli_help_list(void)
{
    for (const struct cmd *c = cli_commands; c->group != NULL; c++)
        printf("%s%s%s\n", c->group, c->verb ? " " : "", c->verb ? c->verb : "");
    return CLI_OK;
}

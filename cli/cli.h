/* cli.h: vmloginctl, the command-line client of vmlogind's public REST API (issue 13). The
 * pieces a unit test can reach without a server: argument parsing, output formatting, scope
 * forms, exit codes; and the HTTP client the commands use. */
#ifndef VMLOGINCTL_CLI_H
#define VMLOGINCTL_CLI_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

/* Exit codes (issue 13 §4). */
enum cli_exit {
    CLI_OK = 0,
    CLI_FAILED = 1,
    CLI_USAGE = 2,
    CLI_PARTIAL = 3,
    CLI_AUTH = 4,
    CLI_NOT_FOUND = 5,
    CLI_INTERRUPTED = 130, /* Ctrl-C while waiting: the operation goes on */
};

/* ---- argument parsing ---- */

struct cli_opt_spec {
    const char *name; /* "--mode"; a leading "-x|" gives a short alias: "-o|--output" */
    bool has_arg;
};

#define CLI_MAX_POS 8
#define CLI_MAX_OPTS 24

struct cli_args {
    const char *pos[CLI_MAX_POS];
    int npos;
    const char *names[CLI_MAX_OPTS]; /* the long name of each option given, in order */
    const char *vals[CLI_MAX_OPTS];  /* its value, "" for a flag */
    int nopt;
};

/* Parses argv[0..argc) against spec (NULL-name terminated) plus the global options
 * (-o/--output, --url, --debug, -h/--help, --wait when wait_ok). "--name=value" and
 * "--name value" both work; "--" ends options. Returns false with a message in err on an
 * unknown option, a missing value or too many arguments. */
bool cli_parse(int argc, char *const argv[], const struct cli_opt_spec *spec, struct cli_args *out,
               char *err, size_t errcap);
/* The last value of option name ("--mode"), "" for a flag given, NULL when absent. */
const char *cli_opt(const struct cli_args *a, const char *name);

enum cli_format { CLI_FMT_TABLE, CLI_FMT_JSON, CLI_FMT_TSV, CLI_FMT_YAML, CLI_FMT_WIDE };
/* table and wide (a table with the wide columns too) are for people. */
bool cli_fmt_is_table(enum cli_format f);
/* "table"/"wide"/"json"/"tsv"/"yaml" -> format; NULL (not given) picks table on a terminal, json
 * otherwise. False for an unknown name. */
bool cli_format_parse(const char *name, bool tty, enum cli_format *out);

/* "8h", "30m", "90s", "2d" -> seconds; false if malformed or not positive. */
bool cli_duration_parse(const char *s, long long *seconds);

/* ---- scopes and VMs ---- */

/* A parsed ARM id of a subscription, resource group or VM. */
struct cli_scope {
    char sub[64];
    char rg[91];
    char vm[81];
};
/* "/subscriptions/S[/resourceGroups/RG[/providers/Microsoft.Compute/virtualMachines/N]]" (case-
 * insensitive, trailing slash ok) -> parts; false for anything else. */
bool cli_scope_parse_arm(const char *s, struct cli_scope *out);
/* The ARM id of sc, and the API path of its entraLogin ("/v1/subscriptions/S[/resourceGroups/RG
 * [/virtualMachines/N]]"). */
void cli_scope_arm(const struct cli_scope *sc, char *out, size_t cap);
void cli_scope_api(const struct cli_scope *sc, char *out, size_t cap);

/* ---- output ---- */

struct cli_col {
    const char *header;
    const char *path; /* member path, '.'-separated: "loginExtension.status" */
    bool wide;        /* only with -o wide */
};
/* Tables colour state cells (STATUS, STATE, LOGIN, RESULT) when on: a terminal without
 * NO_COLOR. Off by default. */
void cli_output_color(bool on);

/* One cell as text: strings as is, numbers, true/false, "" for null or absent. Times (string
 * members whose name ends in "At") are local time plus relative ("2026-12-07 05:01 (3m ago)")
 * when pretty, else as the API gave them (RFC 3339). now is the reference for "ago". */
char *cli_cell(const json_t *row, const char *path, bool pretty, time_t now);
/* Rows (an array of objects) as an aligned table with a header, or as TSV without one. */
void cli_print_rows(FILE *f, const json_t *rows, const struct cli_col *cols, enum cli_format fmt,
                    time_t now);
/* One object as "Key  value" lines (table) or "key\tvalue" (tsv). */
void cli_print_object(FILE *f, const json_t *obj, const struct cli_col *cols, enum cli_format fmt,
                      time_t now);
/* Any JSON value as a YAML 1.2 block document (what -o yaml prints): mappings "key: value",
 * sequences "- item", {} and [] when empty; strings plain when that reads back as the same
 * string in YAML 1.1 and 1.2 alike, else double-quoted with JSON escapes. */
void cli_print_yaml(FILE *f, const json_t *v);
/* An RFC 3339 time ("2026-12-07T05:01:02Z", fraction and offset allowed) -> time_t. */
bool cli_time_parse(const char *s, time_t *out);
/* "3m ago", "in 2h", "just now". */
void cli_relative(time_t t, time_t now, char *out, size_t cap);

/* ---- HTTP client ---- */

struct cli_ctx {
    const char *url; /* base, no trailing slash */
    const char *key;
    const char *profile;   /* the profile in use ("default") */
    const char *ca_bundle; /* CAFILE to trust, NULL for the system's */
    bool debug;
    enum cli_format fmt;
    bool color;     /* stdout is a terminal and NO_COLOR is not set */
    bool err_tty;   /* stderr is a terminal: progress redrawn in place */
    bool err_color; /* ... and NO_COLOR is not set */
    FILE *out;
    FILE *err;
};

struct cli_resp {
    long status; /* 0: transport error (already reported) */
    char *body;
    json_t *json;
    char location[512];
};

/* One request to ctx->url + path (body JSON or NULL). Network errors are printed (URL and
 * why). Returns the status. */
long cli_request(struct cli_ctx *ctx, const char *method, const char *path, const char *body,
                 struct cli_resp *r);
void cli_resp_cleanup(struct cli_resp *r);
/* A form POST to url (an authority's token or devicecode endpoint): no API key is sent and
 * --debug shows no bodies. Returns the status (0 on a transport error, already reported). */
long cli_form_post(struct cli_ctx *ctx, const char *url, const char *form, struct cli_resp *r);
/* Set by the SIGINT handler while a command waits; transfers and waits stop early. */
extern volatile sig_atomic_t cli_interrupted;
/* Installs that handler (no SA_RESTART, so a sleep ends at once). */
void cli_catch_sigint(void);
/* Sleeps ms or until SIGINT; false when interrupted. */
bool cli_pause_ms(long ms);
/* Prints a non-2xx answer on ctx->err (problem+json: title, detail, each field error, request
 * id) and returns its exit code: 401/403 -> 4, 404 -> 5, 400/422 -> 1, else 1. */
int cli_report_error(struct cli_ctx *ctx, const struct cli_resp *r);
/* The exit code of an HTTP status (0 for 2xx). */
int cli_exit_for_status(long status);
/* The exit code of a finished operation status (Succeeded 0, PartiallySucceeded 3, else 1). */
int cli_exit_for_operation(const char *status);

/* ---- following an operation (watch.c) ---- */

struct cli_progress {
    char status[32];
    int done, failed, pending; /* VMs: Succeeded|Skipped, Failed|Canceled, the rest */
    char slowest_vm[81];       /* the pending VM longest in its step ("" when none) */
    char slowest_step[64];
    long long slowest_s, elapsed_s;
};
/* The progress of an operation body at now. */
void cli_progress_of(const json_t *op, time_t now, struct cli_progress *p);
/* "Running: 3 done, 1 failed, 6 pending, slowest: web-03 extension (1m 12s) [2m 05s]";
 * with_times false leaves out the ages (to tell a change from the clock moving); color adds
 * ANSI colour to the status. */
void cli_progress_format(const struct cli_progress *p, bool color, bool with_times, char *out,
                         size_t cap);
/* Whether colour is wanted on a stream: a terminal, and NO_COLOR unset or empty
 * (https://no-color.org). */
bool cli_color_wanted(bool tty);

/* ---- profiles and credentials (config.c) ---- */

struct cli_setting {
    const char *key;
    const char *help;
};
extern const struct cli_setting cli_settings[]; /* NULL-key terminated */
bool cli_setting_known(const char *key);
/* $XDG_CONFIG_HOME/vmloginctl, else $HOME/.config/vmloginctl; false if neither is set. */
bool cli_config_dir(char *out, size_t cap);
/* A JSON file of that directory (new reference), NULL if missing or bad. */
json_t *cli_config_read(const char *name);
/* Writes it with mode 0600 (the directory 0700, made when missing), atomically. */
bool cli_config_write(const char *name, const json_t *j);
bool cli_config_remove(const char *name);
/* The profile: given (--profile), else VMLOGINCTL_PROFILE, else config's current, else
 * "default". The result may be a static buffer. */
const char *cli_profile_name(const char *given);
bool cli_profile_name_ok(const char *name);
/* A setting of a profile (caller frees), NULL when unset. */
char *cli_profile_get(const char *profile, const char *key);
/* value NULL removes it. */
bool cli_profile_set(const char *profile, const char *key, const char *value);
bool cli_profile_use(const char *profile);
/* "<profile>.cred.json" (caller frees). */
char *cli_cred_file(const char *profile);

/* ---- sign-in (signin.c) ---- */

/* The bearer for ctx's profile: VMLOGIND_API_KEY, else the cached API key or Entra access
 * token, refreshed with its refresh token when it expires within a minute. NULL when none
 * (caller frees). Prints why on ctx->err when a refresh fails. */
char *cli_signin_bearer(struct cli_ctx *ctx);
int cli_cmd_login(struct cli_ctx *ctx, const struct cli_args *a);
int cli_cmd_logout(struct cli_ctx *ctx, const struct cli_args *a);
int cli_cmd_config_set(struct cli_ctx *ctx, const struct cli_args *a);
int cli_cmd_config_get(struct cli_ctx *ctx, const struct cli_args *a);
int cli_cmd_config_list(struct cli_ctx *ctx, const struct cli_args *a);
int cli_cmd_config_use(struct cli_ctx *ctx, const struct cli_args *a);

/* Runs the command line (argv[0] is the program). */
int cli_main(int argc, char *argv[]);

#endif

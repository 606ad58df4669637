/* harness.h: what integration tests use to run the real binaries and talk to them over HTTP.
 * Processes are started on port 0 and their "listening on URL" line is read with a deadline;
 * stderr goes to a log file in the test's temporary directory so tests can grep it. */
#ifndef VMLOGIND_HARNESS_H
#define VMLOGIND_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct proc {
    pid_t pid;
    int out_fd;
    char url[128]; /* "http://127.0.0.1:PORT" */
    char log[512]; /* stderr file */
};

/* Makes a fresh temporary directory (under $TMPDIR or /tmp); aborts the test on failure. */
void h_tmpdir(char *out, size_t cap);
/* Writes text to path; aborts on failure. */
void h_write_file(const char *path, const char *text);
/* Reads a whole file (NULL if missing). Caller frees. */
char *h_read_file(const char *path);

/* Starts argv[0] with extra environment entries ("K=V", NULL-terminated, may be NULL), stdout
 * piped and stderr to log_path; waits up to timeout_ms for "listening on URL". */
bool h_proc_start(struct proc *p, char *const argv[], char *const env[], const char *log_path,
                  int timeout_ms);
/* SIGTERM, then waits up to timeout_ms; returns the exit status, or -1 (then SIGKILLs). */
int h_proc_stop(struct proc *p, int timeout_ms);
void h_proc_kill(struct proc *p);

/* A self-signed certificate for 127.0.0.1/localhost, generated now with the openssl CLI. */
void h_gen_cert(const char *dir, char *cert, size_t cert_cap, char *key, size_t key_cap);

/* azsim on a free port with a scenario file. extra_args NULL-terminated (may be NULL). */
struct sim {
    struct proc p;
    char dir[256];
    char cert[320];
    char key[320];
};
bool h_sim_start(struct sim *s, const char *scenario_path, const char *const extra_args[]);
void h_sim_stop(struct sim *s);

/* vmlogind on a free port with a fresh database in its own temporary directory. config_text
 * (may be NULL) is written to a config file passed with --config; env may be NULL.
 * With VMLOGIND_TEST_DAEMON_PG=<socket directory of the test PostgreSQL> in the environment
 * (ctest's integration.*.pg copies), that database is a PostgreSQL one made for this daemon
 * (store_backend, postgres_url and audit_key_file come in VMLOGIND_* variables, which win over
 * the config file); restarts and h_daemon_run use it too, and it is dropped when the test exits. */
struct daemon {
    struct proc p;
    char dir[256];
    char db[320];
    char config[320];
    char pg_db[48];      /* its PostgreSQL database, else empty */
    char pg_env[3][640]; /* "VMLOGIND_...=..." on PostgreSQL, else empty */
};
bool h_daemon_start(struct daemon *d, const char *config_text, char *const env[]);
/* Starts again on the same directory and database (after a stop or kill). */
bool h_daemon_restart(struct daemon *d, char *const env[]);
int h_daemon_stop(struct daemon *d);
/* True when daemons run on PostgreSQL (VMLOGIND_TEST_DAEMON_PG). */
bool h_daemon_pg(void);
/* Skips the running test (cmocka skip()) when daemons run on PostgreSQL, saying why: for a
 * test about the SQLite file itself. */
void h_skip_on_pg(const char *why);
/* Runs one SQL text on d's database: the sqlite3 CLI on its file, or psql on its PostgreSQL
 * database, where pg_sql is the text when not NULL (where the dialects differ). Copies the first
 * line of the output to out (may be NULL); returns the command's exit status. */
int h_daemon_sql(struct daemon *d, const char *sqlite_sql, const char *pg_sql, char *out,
                 size_t cap);
/* Runs vmlogind with args (subcommands) on d's database/config; returns exit status and
 * the captured stdout (caller frees) if out is not NULL. */
int h_daemon_run(struct daemon *d, const char *const args[], char **out);

struct resp {
    long status;
    char *body;
    size_t len;
    json_t *json;  /* parsed body when it is JSON, else NULL */
    char *headers; /* raw response headers */
};

/* One HTTP request. headers: NULL-terminated "Name: value" list (may be NULL). body may be
 * NULL; when given and no Content-Type header is passed, application/json is sent.
 * The CA file, if set with h_set_ca, is trusted. Returns the status (0 on transport error). */
long h_http(const char *method, const char *url, const char *body, const char *const headers[],
            struct resp *r);
void h_set_ca(const char *ca_file);
void h_resp_cleanup(struct resp *r);
/* Header value (case-insensitive name) copied into out; false if absent. */
bool h_resp_header(const struct resp *r, const char *name, char *out, size_t cap);

/* How much deadlines stretch: VMLOGIND_TEST_TIMEOUT_SCALE (1 to 20; the sanitizer pass is
 * several times slower), else 1. */
double h_timeout_scale(void);
/* Polls pred until it returns true or timeout_ms passes (times h_timeout_scale()); no fixed
 * sleeps in tests. */
bool h_poll(bool (*pred)(void *arg), void *arg, int timeout_ms);

/* Creates an API key with `vmlogind keys create --name NAME --role ROLE [--scope S]...` on
 * d's database and copies it to out ("vlk_..."). scopes is NULL-terminated (may be NULL).
 * Aborts the test if the command fails. */
void h_daemon_key(struct daemon *d, const char *role, const char *const scopes[], char *out,
                  size_t cap);
/* "Authorization: Bearer <key>" header line for h_http, in a static per-thread buffer
 * rotation of 4 (enough for one request's header list). */
const char *h_bearer(const char *token);

/* The demo tenant of sim/scenarios/demo.json, which h_daemon_start_for_sim signs in to. */
#define H_DEMO_TENANT "8f3c1a2e-0000-4000-8000-00000000aaaa"
#define H_DEMO_CLIENT "0a1b2c3d-0000-4000-8000-00000000c001"
#define H_DEMO_SECRET "azsim-demo-secret-not-a-credential"
#define H_API_AUDIENCE "api://vmlogind-test"
#define H_DEMO_SCENARIO SOURCE_DIR "/sim/scenarios/demo.json"
/* the demo app's service principal (its role assignments are in demo.json) */
#define H_DEMO_APP_SP "0a1b2c3d-0000-4000-8000-00000000e001"

/* vmlogind pointed at azsim: custom cloud on the sim's URL, the demo app's secret (in a file),
 * the sim's certificate as CA bundle, callers' JWTs from the sim's tenant with audience
 * H_API_AUDIENCE, no periodic sync, a fast reconciler tick. extra_config (may be NULL) is
 * appended, so its lines override these. */
bool h_daemon_start_for_sim(struct daemon *d, const struct sim *s, const char *extra_config);

/* One API call with a bearer key: fails the test (cmocka) unless the status is want; returns
 * the parsed body (new reference, may be NULL). */
json_t *h_api(const char *base_url, const char *key, const char *method, const char *path,
              const char *body, long want);
/* A string member of o, or "" (never NULL). */
const char *h_jstr(const json_t *o, const char *k);
/* Polls GET path (with key) until the string member field of its 200 body is one of the
 * '|'-separated values of want (with a leading '!': none of them), for up to timeout_ms
 * (stretched like h_poll). Returns that body (new reference); fails the test with the last
 * body otherwise. */
json_t *h_wait_field(const char *base_url, const char *key, const char *path, const char *field,
                     const char *want, int timeout_ms);

#endif

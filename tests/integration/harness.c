/* harness.c: spawn the real binaries, read their URL, talk HTTP with libcurl. Test-only code:
 * failures abort the test with a message rather than propagating errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "vmlogind/buf.h"
#include "vmlogind/clock.h"
#include "vmlogind/config.h"

static char ca_path[512];

/* Every process a test starts is killed when the test exits, even after a failed assertion,
 * so a failing test never leaves an azsim or vmlogind behind. */
#define MAX_CHILDREN 64
static pid_t children[MAX_CHILDREN];

static void kill_children(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            children[i] = 0;
        }
    }
}

static void track(pid_t pid, bool add)
{
    static bool registered;
    if (!registered) {
        atexit(kill_children);
        registered = true;
    }
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (add && children[i] == 0) {
            children[i] = pid;
            return;
        }
        if (!add && children[i] == pid) {
            children[i] = 0;
            return;
        }
    }
}

static void die(const char *what)
{
    fprintf(stderr, "harness: %s: %s\n", what, strerror(errno));
    abort();
}

void h_tmpdir(char *out, size_t cap)
{
    const char *base = getenv("TMPDIR");
    snprintf(out, cap, "%s/vmlogind-test-XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(out) == NULL)
        die("mkdtemp");
}

void h_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        die(path);
    fputs(text, f);
    if (fclose(f) != 0)
        die(path);
}

char *h_read_file(const char *path)
{
    struct buf b;

    buf_init(&b, 256u << 20);
    if (buf_read_file(&b, path) != ERR_OK) {
        buf_cleanup(&b);
        return NULL;
    }
    return buf_steal(&b);
}

bool h_proc_start(struct proc *p, char *const argv[], char *const env[], const char *log_path,
                  int timeout_ms)
{
    int pipefd[2];
    char line[512];
    size_t len = 0;
    int64_t deadline = clock_mono_ms() + (int64_t)(timeout_ms * h_timeout_scale());

    memset(p, 0, sizeof(*p));
    snprintf(p->log, sizeof(p->log), "%s", log_path);
    if (pipe(pipefd) != 0)
        die("pipe");
    p->pid = fork();
    if (p->pid < 0)
        die("fork");
    if (p->pid == 0) {
        int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with the test, even on a ctest timeout */
        if (logfd < 0)
            _exit(127);
        dup2(pipefd[1], STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        close(logfd);
        for (size_t i = 0; env != NULL && env[i] != NULL; i++)
            putenv(env[i]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    track(p->pid, true);
    p->out_fd = pipefd[0];
    while (clock_mono_ms() < deadline) {
        struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
        int left = (int)(deadline - clock_mono_ms());
        if (poll(&pfd, 1, left > 0 ? left : 0) <= 0)
            continue;
        ssize_t n = read(p->out_fd, line + len, 1);
        if (n <= 0)
            break;
        if (line[len] == '\n') {
            line[len] = '\0';
            if (strncmp(line, "listening on ", 13) == 0) {
                snprintf(p->url, sizeof(p->url), "%.120s", line + 13);
                return true;
            }
            len = 0;
            continue;
        }
        if (++len >= sizeof(line) - 1)
            len = 0;
    }
    fprintf(stderr, "harness: %s did not report a URL (log: %s)\n", argv[0], log_path);
    h_proc_kill(p);
    return false;
}

int h_proc_stop(struct proc *p, int timeout_ms)
{
    int status = 0;
    int64_t deadline = clock_mono_ms() + (int64_t)(timeout_ms * h_timeout_scale());

    if (p->pid <= 0)
        return -1;
    kill(p->pid, SIGTERM);
    while (clock_mono_ms() < deadline) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            track(p->pid, false);
            p->pid = 0;
            close(p->out_fd);
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        clock_sleep_ms(10);
    }
    h_proc_kill(p);
    return -1;
}

void h_proc_kill(struct proc *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    track(p->pid, false);
    p->pid = 0;
    close(p->out_fd);
}

void h_gen_cert(const char *dir, char *cert, size_t cert_cap, char *key, size_t key_cap)
{
    char cmd[2048];
    snprintf(cert, cert_cap, "%s/tls.crt", dir);
    snprintf(key, key_cap, "%s/tls.key", dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout '%s' -out '%s' "
             ">/dev/null 2>&1",
             key, cert);
    if (system(cmd) != 0)
        die("openssl req");
}

bool h_sim_start(struct sim *s, const char *scenario_path, const char *const extra_args[])
{
    char *argv[32];
    char log[512];
    int n = 0;

    if (AZSIM_BIN[0] == '\0')
        return false;
    h_tmpdir(s->dir, sizeof(s->dir));
    h_gen_cert(s->dir, s->cert, sizeof(s->cert), s->key, sizeof(s->key));
    argv[n++] = (char *)AZSIM_BIN;
    argv[n++] = (char *)"--listen";
    argv[n++] = (char *)"127.0.0.1:0";
    argv[n++] = (char *)"--tls-cert";
    argv[n++] = s->cert;
    argv[n++] = (char *)"--tls-key";
    argv[n++] = s->key;
    argv[n++] = (char *)"--scenario";
    argv[n++] = (char *)scenario_path;
    for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL && n < 30; i++)
        argv[n++] = (char *)extra_args[i];
    argv[n] = NULL;
    snprintf(log, sizeof(log), "%s/azsim.log", s->dir);
    h_set_ca(s->cert);
    return h_proc_start(&s->p, argv, NULL, log, 30000);
}

void h_sim_stop(struct sim *s)
{
    h_proc_stop(&s->p, 5000);
}

/* Daemons on PostgreSQL (VMLOGIND_TEST_DAEMON_PG): each gets a database of its own on the test
 * server, made with psql and dropped when the test exits (WITH (FORCE): a killed daemon's
 * sessions may linger). */
#define MAX_PG_DBS 32
static char pg_dbs[MAX_PG_DBS][48];

static const char *pg_dir(void)
{
    const char *v = getenv("VMLOGIND_TEST_DAEMON_PG");
    return v != NULL && *v != '\0' ? v : NULL;
}

bool h_daemon_pg(void)
{
    return pg_dir() != NULL;
}

/* Runs argv (PATH searched) and copies the first line of its stdout to out (cap > 0); returns
 * its exit status, or -1. */
static int run_first_line(char *const argv[], char *out, size_t cap)
{
    int pipefd[2];
    int status = 0;
    size_t len = 0;
    bool eol = false;
    char c;
    pid_t pid;

    if (pipe(pipefd) != 0)
        die("pipe");
    pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        dup2(pipefd[1], STDOUT_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    /* read to the end, so the child never blocks on a full pipe */
    while (read(pipefd[0], &c, 1) == 1) {
        eol = eol || c == '\n';
        if (!eol && len + 1 < cap)
            out[len++] = c;
    }
    out[len] = '\0';
    close(pipefd[0]);
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs one SQL text with psql as the test server's superuser on database db. */
static int pg_psql(const char *db, const char *sql, char *out, size_t cap)
{
    const char *bindir = getenv("PG_BINDIR");
    char psql[512];
    char *argv[] = {psql, "-X",       "-q", "-At",      "-v", "ON_ERROR_STOP=1", "-h", NULL,
                    "-U", "vmlogind", "-d", (char *)db, "-c", (char *)sql,       NULL};

    snprintf(psql, sizeof(psql), "%s/psql",
             bindir != NULL && *bindir != '\0' ? bindir : "/usr/lib/postgresql/15/bin");
    if (access(psql, X_OK) != 0)
        snprintf(psql, sizeof(psql), "psql");
    argv[7] = (char *)pg_dir();
    return run_first_line(argv, out, cap);
}

static int pg_admin(const char *sql)
{
    char line[256];
    return pg_psql("postgres", sql, line, sizeof(line));
}

static void pg_drop_all(void)
{
    char sql[128];

    kill_children();
    for (int i = 0; i < MAX_PG_DBS; i++) {
        if (pg_dbs[i][0] == '\0')
            continue;
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %.47s WITH (FORCE)", pg_dbs[i]);
        if (pg_admin(sql) != 0)
            fprintf(stderr, "harness: could not drop database %s\n", pg_dbs[i]);
        pg_dbs[i][0] = '\0';
    }
}

/* The audit key file replicas on PostgreSQL share, made now (vmlogind makes none there): 32
 * random bytes as hex, mode 0600. */
static void pg_make_audit_key(const struct daemon *d)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[32];
    char text[66], path[400];
    FILE *f = fopen("/dev/urandom", "rb");
    int fd;

    if (f == NULL || fread(raw, 1, sizeof(raw), f) != sizeof(raw)) {
        fprintf(stderr, "harness: no randomness for the audit key\n");
        abort();
    }
    fclose(f);
    for (size_t i = 0; i < sizeof(raw); i++) {
        text[2 * i] = hex[raw[i] >> 4];
        text[2 * i + 1] = hex[raw[i] & 15];
    }
    text[64] = '\n';
    text[65] = '\0';
    snprintf(path, sizeof(path), "%s.audit-key", d->db);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text, 65) != 65) {
        fprintf(stderr, "harness: cannot write %s\n", path);
        abort();
    }
    close(fd);
}

/* Makes d's database and the settings that point d at it (d->db only names the audit key). */
static void pg_make_db(struct daemon *d)
{
    static bool registered;
    static unsigned next;
    char sql[128];
    int slot = 0;

    while (slot < MAX_PG_DBS && pg_dbs[slot][0] != '\0')
        slot++;
    if (slot == MAX_PG_DBS) {
        fprintf(stderr, "harness: more than %d PostgreSQL daemons\n", MAX_PG_DBS);
        abort();
    }
    if (!registered) {
        atexit(pg_drop_all);
        registered = true;
    }
    snprintf(pg_dbs[slot], sizeof(pg_dbs[slot]), "vl_it_%ld_%u", (long)getpid(), next++);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %.47s", pg_dbs[slot]);
    if (pg_admin(sql) != 0) {
        fprintf(stderr, "harness: %s on %s failed\n", sql, pg_dir());
        abort();
    }
    snprintf(d->pg_db, sizeof(d->pg_db), "%.47s", pg_dbs[slot]);
    snprintf(d->pg_env[0], sizeof(d->pg_env[0]), "VMLOGIND_STORE_BACKEND=postgresql");
    snprintf(d->pg_env[1], sizeof(d->pg_env[1]),
             "VMLOGIND_POSTGRES_URL=host=%s dbname=%.47s user=vmlogind", pg_dir(), pg_dbs[slot]);
    snprintf(d->pg_env[2], sizeof(d->pg_env[2]), "VMLOGIND_AUDIT_KEY_FILE=%s.audit-key", d->db);
    pg_make_audit_key(d);
}

static bool daemon_spawn(struct daemon *d, char *const env[])
{
    char *all[64];
    size_t n = 0;
    char log[512];
    char *argv[] = {(char *)VMLOGIND_BIN,
                    (char *)"--listen",
                    (char *)"127.0.0.1:0",
                    (char *)"--db",
                    d->db,
                    (char *)"--config",
                    d->config,
                    NULL};
    /* the test's own entries come last, so they win */
    for (size_t i = 0; i < 3; i++)
        if (d->pg_env[i][0] != '\0')
            all[n++] = d->pg_env[i];
    for (size_t i = 0; env != NULL && env[i] != NULL && n < 63; i++)
        all[n++] = env[i];
    all[n] = NULL;
    snprintf(log, sizeof(log), "%s/vmlogind.log", d->dir);
    return h_proc_start(&d->p, argv, all, log, 30000);
}

bool h_daemon_start(struct daemon *d, const char *config_text, char *const env[])
{
    memset(d, 0, sizeof(*d));
    h_tmpdir(d->dir, sizeof(d->dir));
    snprintf(d->db, sizeof(d->db), "%s/vmlogind.db", d->dir);
    snprintf(d->config, sizeof(d->config), "%s/vmlogind.conf", d->dir);
    h_write_file(d->config, config_text ? config_text : "");
    if (h_daemon_pg())
        pg_make_db(d);
    return daemon_spawn(d, env);
}

bool h_daemon_restart(struct daemon *d, char *const env[])
{
    return daemon_spawn(d, env);
}

int h_daemon_stop(struct daemon *d)
{
    return h_proc_stop(&d->p, 8000);
}

int h_daemon_run(struct daemon *d, const char *const args[], char **out)
{
    char cmd[4096];
    size_t o = 0;
    FILE *f;
    int status;
    char *data = NULL;
    size_t len = 0, cap = 0;

    for (size_t i = 0; i < 3 && o < sizeof(cmd); i++) {
        const char *eq = strchr(d->pg_env[i], '=');
        if (eq != NULL)
            o += (size_t)snprintf(cmd + o, sizeof(cmd) - o, "%.*s='%s' ", (int)(eq - d->pg_env[i]),
                                  d->pg_env[i], eq + 1);
    }
    if (o < sizeof(cmd))
        o += (size_t)snprintf(cmd + o, sizeof(cmd) - o, "'%s'", VMLOGIND_BIN);
    for (size_t i = 0; args[i] != NULL && o < sizeof(cmd); i++)
        o += (size_t)snprintf(cmd + o, sizeof(cmd) - o, " '%s'", args[i]);
    if (o < sizeof(cmd))
        snprintf(cmd + o, sizeof(cmd) - o, " --db '%s' --config '%s' 2>>'%s/vmlogind.log'", d->db,
                 d->config, d->dir);
    f = popen(cmd, "r");
    if (f == NULL)
        die("popen");
    for (;;) {
        if (len + 1024 > cap) {
            cap = cap ? cap * 2 : 4096;
            data = realloc(data, cap);
            if (data == NULL)
                die("realloc");
        }
        size_t n = fread(data + len, 1, cap - len - 1, f);
        if (n == 0)
            break;
        len += n;
    }
    if (data != NULL)
        data[len] = '\0';
    status = pclose(f);
    if (out != NULL)
        *out = data ? data : strdup("");
    else
        free(data);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int h_daemon_sql(struct daemon *d, const char *sqlite_sql, const char *pg_sql, char *out,
                 size_t cap)
{
    char line[1024];
    char *argv[] = {"sqlite3", "-bail", "-cmd", ".timeout 20000", d->db, (char *)sqlite_sql, NULL};
    int rc;

    if (d->pg_db[0] != '\0')
        rc = pg_psql(d->pg_db, pg_sql != NULL ? pg_sql : sqlite_sql, line, sizeof(line));
    else
        rc = run_first_line(argv, line, sizeof(line));
    if (out != NULL)
        snprintf(out, cap, "%s", line);
    return rc;
}

void h_skip_on_pg(const char *why)
{
    if (h_daemon_pg()) {
        print_message("skipped on PostgreSQL: %s\n", why);
        skip();
    }
}

void h_set_ca(const char *ca_file)
{
    snprintf(ca_path, sizeof(ca_path), "%s", ca_file ? ca_file : "");
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t add = size * n;
    char *nb = realloc(r->body, r->len + add + 1);
    if (nb == NULL)
        return 0;
    r->body = nb;
    memcpy(r->body + r->len, p, add);
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t add = size * n;
    size_t old = r->headers ? strlen(r->headers) : 0;
    char *nh = realloc(r->headers, old + add + 1);
    if (nh == NULL)
        return 0;
    r->headers = nh;
    memcpy(r->headers + old, p, add);
    r->headers[old + add] = '\0';
    return add;
}

long h_http(const char *method, const char *url, const char *body, const char *const headers[],
            struct resp *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    bool has_ct = false;

    memset(r, 0, sizeof(*r));
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        hl = curl_slist_append(hl, headers[i]);
        if (strncasecmp(headers[i], "content-type:", 13) == 0)
            has_ct = true;
    }
    if (body != NULL && !has_ct)
        hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (ca_path[0] != '\0')
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_path);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (r->body != NULL && r->len > 0) {
        r->json = json_loadb(r->body, r->len, 0, NULL);
    }
    return r->status;
}

void h_resp_cleanup(struct resp *r)
{
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

bool h_resp_header(const struct resp *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = r->headers;

    while (p != NULL && *p != '\0') {
        const char *eol = strstr(p, "\r\n");
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = ll - (size_t)(v - p);
            snprintf(out, cap, "%.*s", (int)vl, v);
            return true;
        }
        p = eol ? eol + 2 : NULL;
    }
    return false;
}

/* Deadlines stretch by VMLOGIND_TEST_TIMEOUT_SCALE (the sanitizer pass is several times
 * slower); a passing test never waits for them. */
double h_timeout_scale(void)
{
    const char *v = getenv("VMLOGIND_TEST_TIMEOUT_SCALE");
    double f = v ? strtod(v, NULL) : 1.0;
    return f >= 1.0 && f <= 20.0 ? f : 1.0;
}

bool h_poll(bool (*pred)(void *arg), void *arg, int timeout_ms)
{
    int64_t deadline = clock_mono_ms() + (int64_t)(timeout_ms * h_timeout_scale());
    int64_t wait = 5;

    for (;;) {
        if (pred(arg))
            return true;
        if (clock_mono_ms() >= deadline)
            return false;
        clock_sleep_ms(wait);
        if (wait < 100)
            wait *= 2;
    }
}

void h_daemon_key(struct daemon *d, const char *role, const char *const scopes[], char *out,
                  size_t cap)
{
    const char *args[40] = {"keys", "create", "--name", "test", "--role", role};
    size_t n = 6;
    char *text = NULL;
    const char *p;

    for (size_t i = 0; scopes != NULL && scopes[i] != NULL && n < 38; i++) {
        args[n++] = "--scope";
        args[n++] = scopes[i];
    }
    args[n] = NULL;
    if (h_daemon_run(d, args, &text) != 0 || (p = strstr(text, "vlk_")) == NULL) {
        fprintf(stderr, "harness: keys create failed: %s\n", text ? text : "");
        abort();
    }
    snprintf(out, cap, "%.*s", (int)strcspn(p, " \r\n\t\""), p);
    free(text);
}

const char *h_bearer(const char *token)
{
    static _Thread_local char bufs[4][4200];
    static _Thread_local int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof(bufs[0]), "Authorization: Bearer %s", token);
    return b;
}

bool h_daemon_start_for_sim(struct daemon *d, const struct sim *s, const char *extra_config)
{
    char secret[512];
    char *cfg;
    bool ok;

    snprintf(secret, sizeof(secret), "%s/client-secret", s->dir);
    h_write_file(secret, H_DEMO_SECRET);
    if (asprintf(&cfg,
                 "cloud = custom\n"
                 "arm_url = %s\n"
                 "login_url = %s\n"
                 "graph_url = %s\n"
                 "imds_url = %s\n"
                 "tenant_id = " H_DEMO_TENANT "\n"
                 "client_id = " H_DEMO_CLIENT "\n"
                 "credential = secret\n"
                 "client_secret_file = %s\n"
                 "ca_bundle = %s\n"
                 "api_audience = " H_API_AUDIENCE "\n"
                 "api_tenant_id = " H_DEMO_TENANT "\n"
                 "api_login_url = %s\n"
                 "sync_interval_s = 0\n"
                 "reconcile_tick_ms = 50\n"
                 "lro_poll_min_ms = 0\n"
                 "lro_poll_max_ms = 1000\n"
                 "log_level = debug\n"
                 "%s\n",
                 s->p.url, s->p.url, s->p.url, s->p.url, secret, s->cert, s->p.url,
                 extra_config ? extra_config : "") < 0)
        abort();
    ok = h_daemon_start(d, cfg, NULL);
    free(cfg);
    return ok;
}

json_t *h_api(const char *base_url, const char *key, const char *method, const char *path,
              const char *body, long want)
{
    char u[1024];
    struct resp r;
    const char *h[] = {h_bearer(key), NULL};
    json_t *j;
    long got;

    snprintf(u, sizeof(u), "%s%s", base_url, path);
    got = h_http(method, u, body, h, &r);
    if (got != want)
        fail_msg("%s %s: %ld (want %ld): %s", method, path, got, want, r.body ? r.body : "");
    j = json_incref(r.json);
    h_resp_cleanup(&r);
    return j;
}

const char *h_jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

struct wait_field {
    const char *base_url;
    const char *key;
    const char *path;
    const char *field;
    const char *want;
    json_t *last;
};

static bool field_matches(void *arg)
{
    struct wait_field *w = arg;
    bool negate = w->want[0] == '!';

    json_decref(w->last);
    w->last = h_api(w->base_url, w->key, "GET", w->path, NULL, 200);
    return config_word_in(w->want + (negate ? 1 : 0), h_jstr(w->last, w->field)) != negate;
}

json_t *h_wait_field(const char *base_url, const char *key, const char *path, const char *field,
                     const char *want, int timeout_ms)
{
    struct wait_field w = {base_url, key, path, field, want, NULL};

    if (!h_poll(field_matches, &w, timeout_ms)) {
        char *t = json_dumps(w.last, JSON_COMPACT);

        fail_msg("%s: %s never became %s: %s", path, field, want, t != NULL ? t : "");
    }
    return w.last;
}

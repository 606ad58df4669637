/* Three vmlogind replicas on one PostgreSQL database against azsim: Entra login is enabled on
 * 100 VMs (two resource groups, one operation each) and a client thread makes 40 login grants,
 * each with an Idempotency-Key, sending a request cut off by a kill again to another replica.
 * Meanwhile replicas are SIGKILLed (now and then SIGTERMed, as a rolling update stops them,
 * which must end cleanly) at random points of the rollout, drawn from a seeded PRNG over its
 * ARM writes and the VMs and grants done, and started again: at once, after more progress,
 * or, once per run, only after the others took over its leased tasks when the leases ran out.
 * Once per run the server also ends every database connection of the replicas, as a restart
 * or failover of PostgreSQL does, and each replica answers on at once. Then everything
 * converges: every VM holds exactly one AADLoginForWindows extension and a system-assigned
 * identity, every grant exactly one role assignment, both operations and all their items end
 * Succeeded, no task is dead, overdue or left leased by a killed process, no sync stays
 * running, the audit chain verifies on every replica (and `audit verify` on each one's
 * checkpoint file), and every replica answers the same reads with the same bytes.
 * VMLOGIND_TEST_SEED=N replays a run's choices (the seed is printed; the timing of the
 * processes is not replayed); VMLOGIND_TEST_PGHOST comes from ctest's fixture "pg". */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test_login_common.h"
#include "vmlogind/clock.h"

#define REPLICAS 3
#define FLEET 100
#define USERS 10
#define GRANTS 40
#define ROUNDS 6
#define MAX_KILLED 32
#define HA_RG(i) ((i) < FLEET / 2 ? "rg-ha-1" : "rg-ha-2")
#define USER_ID_FMT "6b7c8d9e-0000-4000-8000-0000000e%04d"
#define ADMIN_GUID "1c0163c0-47e6-4577-8991-ea5c82e286e4"
#define USER_GUID "fb879df8-f326-4884-b1cf-06f3ad86be52"

/* Short leases and polls so a killed replica's work is taken over within seconds; the rate
 * limit per caller well above what the test's polls and its client send to one replica when
 * the other two are down. */
#define FAILOVER_CONFIG                                                                            \
    "rate_limit_rps = 1000\n"                                                                      \
    "rate_limit_burst = 2000\n"                                                                    \
    "login_recheck_s = 2\n"                                                                        \
    "task_lease_s = 5\n"                                                                           \
    "lro_poll_max_ms = 200\n"                                                                      \
    "reconcile_workers = 4\n"                                                                      \
    "postgres_pool_size = 6\n"                                                                     \
    "store_backend = postgresql\n"

struct grant_req {
    char id[64];
    char scope[300];
    char principal[40];
    const char *role; /* administrator | user */
    const char *role_guid;
};

struct fo {
    struct lctx c; /* azsim and the API key; c.d is not used */
    struct daemon r[REPLICAS];
    bool up[REPLICAS];
    pid_t killed[MAX_KILLED];
    size_t nkilled;
    char pghost[256];
    char dbname[64];
    char dir[256];
    char ops[2][64];
    struct grant_req grants[GRANTS];
    bool has_identity[FLEET];
    int64_t progress_total; /* ARM writes without repeats, VMs and grants */
    char ended[1024];       /* backends ended by end_db_connections, comma separated */
    uint64_t seed;
    uint64_t rng;
};

/* ---- randomness --------------------------------------------------------------------------- */

static uint64_t rnd(struct fo *f)
{
    uint64_t z = (f->rng += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int rnd_below(struct fo *f, int n)
{
    return (int)(rnd(f) % (uint64_t)n);
}

static uint64_t pick_seed(void)
{
    const char *v = getenv("VMLOGIND_TEST_SEED");
    struct timespec ts;

    if (v != NULL && *v != '\0')
        return strtoull(v, NULL, 10);
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000003ULL ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
}

/* ---- PostgreSQL --------------------------------------------------------------------------- */

static const char *psql_bin(void)
{
    static char path[512];
    const char *dir = getenv("PG_BINDIR");

    snprintf(path, sizeof(path), "%s/psql", dir && *dir ? dir : "/usr/lib/postgresql/15/bin");
    return access(path, X_OK) == 0 ? path : "psql";
}

/* Runs one statement with psql on db; its unaligned output (new string), NULL on failure. */
static char *psql_new(const struct fo *f, const char *db, const char *sql)
{
    char cmd[2048];
    char *out;
    size_t len = 0;
    FILE *p;

    snprintf(cmd, sizeof(cmd),
             "'%s' -X -q -At -v ON_ERROR_STOP=1 -h '%s' -U vmlogind -d '%s' -c \"%s\"", psql_bin(),
             f->pghost, db, sql);
    p = popen(cmd, "r");
    assert_non_null(p);
    out = calloc(1, 65536);
    assert_non_null(out);
    while (len < 65535) {
        size_t n = fread(out + len, 1, 65535 - len, p);
        if (n == 0)
            break;
        len += n;
    }
    if (pclose(p) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static void psql_ok(const struct fo *f, const char *db, const char *sql)
{
    char *out = psql_new(f, db, sql);

    if (out == NULL)
        fail_msg("psql failed: %s", sql);
    free(out);
}

/* A count(*) statement answers 0. */
static bool psql_zero(const struct fo *f, const char *db, const char *sql)
{
    char *out = psql_new(f, db, sql);
    bool zero;

    assert_non_null(out);
    zero = strcmp(out, "0\n") == 0;
    free(out);
    return zero;
}

/* ---- the scenario: the demo tenant plus the fleet and its users ---------------------------- */

static json_t *fleet_vm(struct fo *f, int i)
{
    char name[32];
    json_t *vm;

    snprintf(name, sizeof(name), "ha-vm-%03d", i);
    vm = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "subscriptionId",
                   SUB, "resourceGroup", HA_RG(i), "name", name, "location", "westeurope", "osType",
                   "Windows", "osName", "Windows Server 2022 Datacenter Azure Edition", "osVersion",
                   "10.0.20348.2762", "imageReference", "publisher", "MicrosoftWindowsServer",
                   "offer", "WindowsServer", "sku", "2022-datacenter-azure-edition", "version",
                   "latest");
    f->has_identity[i] = rnd_below(f, 10) < 4;
    if (f->has_identity[i]) {
        char mi[40];
        snprintf(mi, sizeof(mi), "6b7c8d9e-0000-4000-8000-0000000f%04d", i);
        json_object_set_new(vm, "identity",
                            json_pack("{s:s, s:s}", "type", "SystemAssigned", "principalId", mi));
    }
    return vm;
}

static void write_scenario(struct fo *f, char *path, size_t cap)
{
    json_error_t e;
    json_t *root = json_load_file(H_DEMO_SCENARIO, 0, &e);
    json_t *vms = json_object_get(root, "vms");
    json_t *users = json_object_get(root, "users");

    assert_non_null(root);
    for (int i = 0; i < USERS; i++) {
        char id[40], upn[64], dn[32];
        snprintf(id, sizeof(id), USER_ID_FMT, i);
        snprintf(upn, sizeof(upn), "ha-user-%02d@contoso.example", i);
        snprintf(dn, sizeof(dn), "HA user %d", i);
        json_array_append_new(users, json_pack("{s:s, s:s, s:s}", "id", id, "userPrincipalName",
                                               upn, "displayName", dn));
    }
    for (int i = 0; i < FLEET; i++) {
        json_array_append_new(vms, fleet_vm(f, i));
        f->progress_total += f->has_identity[i] ? 1 : 2; /* identity PATCH, extension PUT */
    }
    f->progress_total += GRANTS + FLEET + GRANTS; /* a role assignment PUT each; units done */
    snprintf(path, cap, "%s/failover.json", f->dir);
    assert_int_equal(json_dump_file(root, path, JSON_COMPACT), 0);
    json_decref(root);
}

/* ---- replicas ----------------------------------------------------------------------------- */

static void write_audit_key(const char *path)
{
    unsigned char raw[32];
    char hex[66];
    int fd = open("/dev/urandom", O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(read(fd, raw, sizeof(raw)), (ssize_t)sizeof(raw));
    close(fd);
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    hex[64] = '\n';
    hex[65] = '\0';
    h_write_file(path, hex);
    assert_int_equal(chmod(path, 0600), 0);
}

/* Replica 0 writes the one configuration file every replica reads; the others get a directory
 * of their own for --db, which on PostgreSQL only places the audit checkpoint file. */
static void start_replicas(struct fo *f)
{
    char extra[1024];

    snprintf(extra, sizeof(extra),
             FAILOVER_CONFIG "postgres_url = host=%s user=vmlogind dbname=%s\n"
                             "audit_key_file = %s/audit-key\n",
             f->pghost, f->dbname, f->dir);
    assert_true(h_daemon_start_for_sim(&f->r[0], &f->c.s, extra));
    f->up[0] = true;
    for (int i = 1; i < REPLICAS; i++) {
        struct daemon *d = &f->r[i];
        char dir[sizeof(d->dir)];

        memset(d, 0, sizeof(*d));
        h_tmpdir(dir, sizeof(dir));
        snprintf(d->dir, sizeof(d->dir), "%s", dir);
        snprintf(d->db, sizeof(d->db), "%s/vmlogind.db", dir);
        snprintf(d->config, sizeof(d->config), "%s", f->r[0].config);
        assert_true(h_daemon_restart(d, NULL));
        f->up[i] = true;
    }
    h_daemon_key(&f->r[0], "administrator", NULL, f->c.key, sizeof(f->c.key));
}

static int any_up(struct fo *f)
{
    int n = rnd_below(f, REPLICAS);

    for (int i = 0; i < REPLICAS; i++)
        if (f->up[(n + i) % REPLICAS])
            return (n + i) % REPLICAS;
    fail_msg("no replica is up");
    return 0;
}

/* ---- convergence -------------------------------------------------------------------------- */

static bool op_terminal(struct fo *f, const char *op)
{
    char path[128];
    json_t *j;
    const char *st;
    bool done;

    snprintf(path, sizeof(path), "/v1/operations/%s", op);
    j = h_api(f->r[any_up(f)].p.url, f->c.key, "GET", path, NULL, 200);
    st = h_jstr(j, "status");
    done = strcmp(st, "Running") != 0 && strcmp(st, "NotStarted") != 0;
    json_decref(j);
    return done;
}

/* Both operations ended and no grant is pending, as a replica that is up sees it. */
static bool converged(void *arg)
{
    struct fo *f = arg;
    json_t *j;
    bool pending;

    for (int k = 0; k < 2; k++)
        if (!op_terminal(f, f->ops[k]))
            return false;
    j = h_api(f->r[any_up(f)].p.url, f->c.key, "GET", "/v1/loginGrants?state=pending&limit=1", NULL,
              200);
    pending = json_array_size(json_object_get(j, "value")) > 0;
    json_decref(j);
    return !pending;
}

/* ---- progress ----------------------------------------------------------------------------- */

/* ARM writes azsim has answered: identity PATCHes, extension PUTs, role assignment PUTs. */
static int64_t arm_writes(struct fo *f)
{
    json_t *st = sim(&f->c, "GET", "/_sim/stats", NULL);
    json_t *req = json_object_get(st, "requests");
    int64_t n = json_integer_value(json_object_get(req, "vm.patch")) +
                json_integer_value(json_object_get(req, "ext.put")) +
                json_integer_value(json_object_get(req, "ra.put"));

    json_decref(st);
    return n;
}

/* Operation items and grants that reached their end state. */
static int64_t units_done(struct fo *f)
{
    const char *url = f->r[any_up(f)].p.url;
    char path[128];
    int64_t n = 0;
    json_t *j, *it;
    size_t i;

    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof(path), "/v1/operations/%s", f->ops[k]);
        j = h_api(url, f->c.key, "GET", path, NULL, 200);
        json_array_foreach(json_object_get(j, "virtualMachines"), i, it)
        {
            n += strcmp(h_jstr(it, "status"), "Succeeded") == 0;
        }
        json_decref(j);
    }
    j = h_api(url, f->c.key, "GET", "/v1/loginGrants?state=active&limit=100", NULL, 200);
    n += (int64_t)json_array_size(json_object_get(j, "value"));
    json_decref(j);
    return n;
}

/* How far the rollout is: its ARM writes plus the VMs and grants done, so that points drawn
 * over it fall among the writes as well as among the long-running operations after them. */
static int64_t progress(struct fo *f)
{
    return arm_writes(f) + units_done(f);
}

struct progress_wait {
    struct fo *f;
    int64_t at_least;
};

static bool progress_reached(void *arg)
{
    struct progress_wait *w = arg;

    return progress(w->f) >= w->at_least || converged(w->f);
}

/* Waits for the rollout to reach n, or to end short of it; fails the test when it does neither
 * within 30 s: a rollout that stalls while replicas are up to go on with it. */
static void wait_progress(struct fo *f, int64_t n)
{
    struct progress_wait w = {f, n};

    if (!h_poll(progress_reached, &w, 30000))
        fail_msg("the rollout stalled at %lld of %lld (seed %llu)", (long long)progress(f),
                 (long long)n, (unsigned long long)f->seed);
}

struct takeover_wait {
    struct fo *f;
    pid_t pid;
};

static bool leases_taken_over(void *arg)
{
    struct takeover_wait *w = arg;
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM tasks WHERE state = 'pending' AND lease_owner LIKE '%%/%d/%%'",
             (int)w->pid);
    return psql_zero(w->f, w->f->dbname, sql);
}

/* Every task the killed process held is done or leased by a replica that is up: its leases ran
 * out (task_lease_s) and were taken over, not handed back by a restart on this host. */
static void wait_takeover(struct fo *f, pid_t pid)
{
    struct takeover_wait w = {f, pid};

    if (!h_poll(leases_taken_over, &w, 30000))
        fail_msg("tasks leased by killed process %d were not taken over (seed %llu)", (int)pid,
                 (unsigned long long)f->seed);
}

/* Every connection the replicas hold to the database is ended by the server, as a PostgreSQL
 * failover or restart ends them; returns once the server has let them all go. */
static bool backends_gone(void *arg)
{
    struct fo *f = arg;
    char sql[1400];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s'"
             " AND pid = ANY(CAST(string_to_array('%s', ',') AS int[]))",
             f->dbname, f->ended);
    return psql_zero(f, "postgres", sql);
}

static void end_db_connections(struct fo *f)
{
    char sql[256];
    char *out;

    snprintf(sql, sizeof(sql),
             "SELECT string_agg(CAST(pid AS text), ',') FROM (SELECT pid,"
             " pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'"
             " AND pid <> pg_backend_pid()) t",
             f->dbname);
    out = psql_new(f, "postgres", sql);
    assert_non_null(out);
    out[strcspn(out, "\n")] = '\0';
    snprintf(f->ended, sizeof(f->ended), "%s", out[0] != '\0' ? out : "0");
    free(out);
    print_message("ended the replicas' database connections (%s)\n", f->ended);
    if (!h_poll(backends_gone, f, 10000))
        fail_msg("PostgreSQL did not end the connections %s", f->ended);
    for (int i = 0; i < REPLICAS; i++) { /* each answers at once, from a session opened anew */
        char path[128];

        snprintf(path, sizeof(path), "/v1/operations/%s", f->ops[0]);
        json_decref(h_api(f->r[i].p.url, f->c.key, "GET", path, NULL, 200));
    }
}

/* ---- load --------------------------------------------------------------------------------- */

static void vm_arm_id(int i, char *out, size_t cap)
{
    snprintf(out, cap,
             "/subscriptions/" SUB "/resourceGroups/%s/providers/Microsoft.Compute/"
             "virtualMachines/ha-vm-%03d",
             HA_RG(i), i);
}

static void enable_group(struct fo *f, int which, const char *rg)
{
    char path[256];
    char loc[256] = "";
    int i = any_up(f);
    struct resp r;
    const char *h[] = {h_bearer(f->c.key), NULL};
    char url[512];

    snprintf(path, sizeof(path), "/v1/subscriptions/" SUB "/resourceGroups/%s/entraLogin", rg);
    snprintf(url, sizeof(url), "%s%s", f->r[i].p.url, path);
    assert_int_equal(h_http("PUT", url, "{}", h, &r), 202);
    assert_true(h_resp_header(&r, "Location", loc, sizeof(loc)));
    assert_non_null(strstr(loc, "/v1/operations/"));
    snprintf(f->ops[which], sizeof(f->ops[which]), "%s", strrchr(loc, '/') + 1);
    h_resp_cleanup(&r);
}

/* Grant n: user n % USERS on VM n * 7 % FLEET (distinct VMs for n < FLEET), administrator or
 * user login by parity. */
static void plan_grants(struct fo *f)
{
    for (size_t n = 0; n < GRANTS; n++) {
        struct grant_req *g = &f->grants[n];

        vm_arm_id((int)(n * 7 % FLEET), g->scope, sizeof(g->scope));
        snprintf(g->principal, sizeof(g->principal), USER_ID_FMT, (int)(n % USERS));
        g->role = n % 2 == 0 ? "administrator" : "user";
        g->role_guid = n % 2 == 0 ? ADMIN_GUID : USER_GUID;
    }
}

/* ---- the writer: a client that posts the grants while replicas die under it --------------- */

/* A thread posts the grants with an Idempotency-Key each, the way a client of a replicated
 * service does: a request cut off by a killed replica (no answer) is sent again, with the same
 * key, to another replica. Between new grants it replays the ones made, which must answer the
 * same grant every time. It never asserts (cmocka is the main thread's): the first failure is
 * kept in error and asserted after the join. */
struct writer {
    struct fo *f;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    char urls[REPLICAS][128]; /* under mu; "" while the replica is down */
    size_t quota;             /* under mu: grants it may make so far */
    bool stop;                /* under mu */
    uint64_t rng;
    size_t made;
    long posts, cut_off;
    char error[600];
};

/* Waits up to ms for a change of the replicas or the quota (under mu): the client's pace, so
 * that it stays within the API's rate limit per caller. */
static void writer_pause(struct writer *w, long ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&w->cond, &w->mu, &ts);
}

/* A replica that is up (its URL copied to url), else false after waiting a little for one. */
static bool writer_url(struct writer *w, char *url, size_t cap)
{
    int start = (int)(w->rng++ % REPLICAS);
    bool found = false;

    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < REPLICAS && !found; i++) {
        const char *u = w->urls[(start + i) % REPLICAS];
        if (u[0] != '\0') {
            snprintf(url, cap, "%s", u);
            found = true;
        }
    }
    if (!found)
        writer_pause(w, 50);
    pthread_mutex_unlock(&w->mu);
    return found;
}

/* POSTs grant n until a replica answers it (60 s at most); the answer must be 202 and name the
 * grant this key made before, if any. */
static void writer_post(struct writer *w, size_t n)
{
    struct grant_req *g = &w->f->grants[n];
    char body[768], key[96], url[256];
    const char *h[] = {h_bearer(w->f->c.key), key, NULL};
    int64_t deadline = clock_mono_ms() + (int64_t)(60000 * h_timeout_scale());
    struct resp r = {0};

    snprintf(body, sizeof(body),
             "{\"scope\":\"%s\",\"role\":\"%s\",\"principal\":{\"objectId\":\"%s\","
             "\"type\":\"user\"}}",
             g->scope, g->role, g->principal);
    snprintf(key, sizeof(key), "Idempotency-Key: failover-%llu-%zu", (unsigned long long)w->f->seed,
             n);
    while (clock_mono_ms() < deadline) {
        if (!writer_url(w, url, sizeof(url) - 20))
            continue;
        strcat(url, "/v1/loginGrants");
        w->posts++;
        h_http("POST", url, body, h, &r);
        if (r.status != 0 && r.status != 429 && r.status < 500)
            break;
        /* the replica died under the request (or is busy): another one gets it */
        w->cut_off += r.status == 0;
        h_resp_cleanup(&r);
        pthread_mutex_lock(&w->mu);
        writer_pause(w, 100);
        pthread_mutex_unlock(&w->mu);
    }
    if (r.status != 202 || h_jstr(r.json, "id")[0] == '\0')
        snprintf(w->error, sizeof(w->error), "grant %zu: %ld %s", n, r.status,
                 r.body ? r.body : "(no answer)");
    else if (g->id[0] == '\0')
        snprintf(g->id, sizeof(g->id), "%s", h_jstr(r.json, "id"));
    else if (strcmp(g->id, h_jstr(r.json, "id")) != 0)
        snprintf(w->error, sizeof(w->error), "grant %zu: made %s, a replay answered %s", n, g->id,
                 h_jstr(r.json, "id"));
    h_resp_cleanup(&r);
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;

    while (w->error[0] == '\0') {
        size_t quota;
        bool stop;

        pthread_mutex_lock(&w->mu);
        quota = w->quota;
        stop = w->stop;
        pthread_mutex_unlock(&w->mu);
        if (w->made < quota)
            writer_post(w, w->made++);
        else if (stop)
            break;
        else if (w->made > 0)
            writer_post(w, (size_t)(w->rng++ % w->made)); /* a replay */
        pthread_mutex_lock(&w->mu);
        if (w->made >= w->quota && !w->stop)
            writer_pause(w, 50);
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

static void writer_set_url(struct writer *w, int i, const char *url)
{
    pthread_mutex_lock(&w->mu);
    snprintf(w->urls[i], sizeof(w->urls[i]), "%s", url);
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

static void writer_allow(struct writer *w, size_t quota)
{
    pthread_mutex_lock(&w->mu);
    w->quota = quota;
    pthread_mutex_unlock(&w->mu);
}

static void writer_start(struct writer *w, struct fo *f)
{
    memset(w, 0, sizeof(*w));
    w->f = f;
    w->rng = f->seed;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    for (int i = 0; i < REPLICAS; i++)
        writer_set_url(w, i, f->r[i].p.url);
    assert_int_equal(pthread_create(&w->thread, NULL, writer_main, w), 0);
}

/* Lets it make the rest, waits for it, and fails the test on what it found. */
static void writer_finish(struct writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->quota = GRANTS;
    w->stop = true;
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    print_message("the client posted %ld times, %ld cut off by a kill\n", w->posts, w->cut_off);
    if (w->error[0] != '\0')
        fail_msg("%s (seed %llu)", w->error, (unsigned long long)w->f->seed);
    assert_int_equal(w->made, GRANTS);
}

static void kill_replica(struct fo *f, struct writer *w, int i)
{
    writer_set_url(w, i, "");
    assert_true(f->nkilled < MAX_KILLED);
    f->killed[f->nkilled++] = f->r[i].p.pid;
    print_message("SIGKILL replica %d (pid %d)\n", i, (int)f->r[i].p.pid);
    h_proc_kill(&f->r[i].p);
    f->up[i] = false;
}

/* SIGTERM, as a rolling update stops a replica: it ends cleanly (status 0) within 8 s, its
 * leases given back or recorded. */
static void stop_replica(struct fo *f, struct writer *w, int i)
{
    int st;

    writer_set_url(w, i, "");
    print_message("SIGTERM replica %d (pid %d)\n", i, (int)f->r[i].p.pid);
    st = h_daemon_stop(&f->r[i]);
    if (st != 0)
        fail_msg("replica %d stopped with status %d (seed %llu)", i, st,
                 (unsigned long long)f->seed);
    f->up[i] = false;
}

static void restart_replica(struct fo *f, struct writer *w, int i)
{
    assert_true(h_daemon_restart(&f->r[i], NULL));
    f->up[i] = true;
    writer_set_url(w, i, f->r[i].p.url);
}

/* One round: grants posted, then one or two replicas killed once the rollout reaches a random
 * point in the round's share of it, and started again at once, after some more progress, or
 * (the middle round) once the others took its leased tasks over. */
static void chaos_round(struct fo *f, struct writer *w, int round)
{
    int64_t span = f->progress_total / ROUNDS;
    int64_t at = span * round + 1 + rnd_below(f, (int)span);
    int victim = rnd_below(f, REPLICAS);
    bool takeover = round == ROUNDS / 2;
    bool two = !takeover && rnd_below(f, 4) == 0;
    bool wait_after = rnd_below(f, 2) == 0;
    pid_t pid;

    writer_allow(w, (size_t)(round + 1) * GRANTS / ROUNDS);
    print_message("round %d: kill %s at %lld of %lld (now %lld)\n", round,
                  two ? "two replicas" : "one replica", (long long)at, (long long)f->progress_total,
                  (long long)progress(f));
    wait_progress(f, at); /* a rollout already past it: kill now */
    if (round == 1)
        end_db_connections(f);
    pid = f->r[victim].p.pid;
    if (!takeover && rnd_below(f, 4) == 0)
        stop_replica(f, w, victim);
    else
        kill_replica(f, w, victim);
    if (two)
        kill_replica(f, w, (victim + 1 + rnd_below(f, REPLICAS - 1)) % REPLICAS);
    if (takeover)
        wait_takeover(f, pid);
    else if (wait_after && (f->up[0] || f->up[1] || f->up[2]))
        wait_progress(f, progress(f) + 1 + rnd_below(f, 10));
    for (int i = 0; i < REPLICAS; i++)
        if (!f->up[i])
            restart_replica(f, w, i);
}

/* ---- checks ------------------------------------------------------------------------------- */

static void check_operation(struct fo *f, const char *op)
{
    char path[128];
    json_t *j;
    json_t *it;
    size_t i;

    snprintf(path, sizeof(path), "/v1/operations/%s", op);
    j = h_api(f->r[any_up(f)].p.url, f->c.key, "GET", path, NULL, 200);
    if (strcmp(h_jstr(j, "status"), "Succeeded") != 0)
        fail_msg("operation %s: %s", op, json_dumps(j, JSON_COMPACT));
    assert_int_equal(json_array_size(json_object_get(j, "virtualMachines")), FLEET / 2);
    json_array_foreach(json_object_get(j, "virtualMachines"), i, it)
    {
        if (strcmp(h_jstr(it, "status"), "Succeeded") != 0)
            fail_msg("operation %s item: %s", op, json_dumps(it, JSON_COMPACT));
    }
    json_decref(j);
}

/* azsim holds exactly one AADLoginForWindows extension, succeeded, and the identity. */
static void check_vm_in_azure(struct fo *f, int i)
{
    char id[300];
    json_t *vm;
    const json_t *e;
    int n = 0;

    vm_arm_id(i, id, sizeof(id));
    vm = sim_vm(&f->c, id);
    e = sim_aad(vm, &n);
    if (n != 1)
        fail_msg("%s holds %d AADLoginForWindows extensions", id, n);
    assert_string_equal(h_jstr(json_object_get(e, "properties"), "provisioningState"), "Succeeded");
    assert_string_equal(h_jstr(json_object_get(vm, "identity"), "type"), "SystemAssigned");
    json_decref(vm);
}

static bool ends_with_ci(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);

    return n >= m && strcasecmp(s + n - m, tail) == 0;
}

/* The grant is active and azsim holds exactly one assignment of its role to its principal at
 * its scope, the one the grant names. */
static void check_grant_in_azure(struct fo *f, const struct grant_req *g)
{
    char path[768];
    json_t *j, *v, *ra;
    size_t i;
    int same_role = 0;

    snprintf(path, sizeof(path), "/v1/loginGrants/%s", g->id);
    j = h_api(f->r[any_up(f)].p.url, f->c.key, "GET", path, NULL, 200);
    if (strcmp(h_jstr(j, "state"), "active") != 0)
        fail_msg("grant %s: %s", g->id, json_dumps(j, JSON_COMPACT));
    snprintf(path, sizeof(path), "/_sim/roleAssignments?scope=%s&principalId=%s", g->scope,
             g->principal);
    v = sim(&f->c, "GET", path, NULL);
    json_array_foreach(json_object_get(v, "value"), i, ra)
    {
        const json_t *p = json_object_get(ra, "properties");
        if (!ends_with_ci(h_jstr(p, "roleDefinitionId"), g->role_guid))
            continue;
        same_role++;
        assert_true(strcasecmp(h_jstr(ra, "name"), h_jstr(j, "assignmentName")) == 0);
    }
    if (same_role != 1)
        fail_msg("grant %s: %d assignments in azsim: %s", g->id, same_role,
                 json_dumps(v, JSON_COMPACT));
    json_decref(v);
    json_decref(j);
}

/* No task is dead or overdue (due a while ago and not picked up), and none is still leased by
 * a process that was killed. */
static void check_tasks(struct fo *f)
{
    char *bad = psql_new(f, f->dbname,
                         "SELECT kind, key, state, due_at FROM tasks WHERE state = 'dead' OR"
                         " (state = 'pending' AND due_at <"
                         " CAST(extract(epoch FROM now()) * 1000 AS bigint) - 15000)");
    char *owners = psql_new(f, f->dbname,
                            "SELECT DISTINCT lease_owner FROM tasks WHERE state = 'pending'"
                            " AND lease_owner IS NOT NULL");
    char *line, *save = NULL;

    assert_non_null(bad);
    assert_non_null(owners);
    if (bad[0] != '\0')
        fail_msg("dead or overdue tasks:\n%s", bad);
    for (line = strtok_r(owners, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        const char *slash = strchr(line, '/');
        long pid = slash ? strtol(slash + 1, NULL, 10) : 0;
        for (size_t k = 0; k < f->nkilled; k++)
            if (pid == (long)f->killed[k])
                fail_msg("a task is still leased by killed process %ld: %s", pid, line);
    }
    free(bad);
    free(owners);
}

/* ---- the same answers from every replica -------------------------------------------------- */

struct same_wait {
    struct fo *f;
    const char *path;
    const char *strip; /* a top-level member that is the time of the answer, or NULL */
    char *bodies[REPLICAS];
};

/* The body as given, or without w->strip (then re-serialised the same way for each). */
static char *answer_new(const struct same_wait *w, struct resp *r)
{
    char *b = r->body;

    if (w->strip == NULL || r->json == NULL) {
        r->body = NULL;
        return b;
    }
    json_object_del(r->json, w->strip);
    return json_dumps(r->json, JSON_COMPACT);
}

static bool same_from_all(void *arg)
{
    struct same_wait *w = arg;
    const char *h[] = {h_bearer(w->f->c.key), NULL};
    bool same = true;

    for (int i = 0; i < REPLICAS; i++) {
        char url[1024];
        struct resp r;

        snprintf(url, sizeof(url), "%s%s", w->f->r[i].p.url, w->path);
        assert_int_equal(h_http("GET", url, NULL, h, &r), 200);
        free(w->bodies[i]);
        w->bodies[i] = answer_new(w, &r);
        h_resp_cleanup(&r);
        if (i > 0 && strcmp(w->bodies[i], w->bodies[0]) != 0)
            same = false;
    }
    return same;
}

/* The replicas answer GET path with the same bytes (but for strip, when not NULL). The
 * reconciler keeps re-checking the scopes while the test reads, so three reads in a row may
 * straddle a change: they are read again until they agree, within a deadline. */
static void assert_same_answers(struct fo *f, const char *path, const char *strip)
{
    struct same_wait w = {.f = f, .path = path, .strip = strip};

    if (!h_poll(same_from_all, &w, 10000))
        fail_msg("GET %s differs between replicas:\n%s\n---\n%s\n---\n%s", path, w.bodies[0],
                 w.bodies[1], w.bodies[2]);
    for (int i = 0; i < REPLICAS; i++)
        free(w.bodies[i]);
}

static void check_replicas_agree(struct fo *f)
{
    char path[512];

    assert_same_answers(f, "/v1/virtualMachines?limit=20", NULL);
    assert_same_answers(f, "/v1/virtualMachines?limit=200", NULL);
    assert_same_answers(f, "/v1/loginGrants?limit=100", NULL);
    assert_same_answers(f, "/v1/subscriptions/" SUB "/resourceGroups/rg-ha-1/entraLogin", NULL);
    assert_same_answers(f, "/v1/compliance?subscription=" SUB, "generatedAt"); /* its time */
    assert_same_answers(f, "/v1/audit?limit=50", NULL);
    assert_same_answers(f, "/v1/principals/6b7c8d9e-0000-4000-8000-0000000e0001/access", NULL);
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof(path), "/v1/operations/%s", f->ops[k]);
        assert_same_answers(f, path, NULL);
    }
    for (size_t n = 0; n < 3; n++) {
        snprintf(path, sizeof(path), "/v1/loginGrants/%s", f->grants[n * 11].id);
        assert_same_answers(f, path, NULL);
        snprintf(path, sizeof(path),
                 "/v1/subscriptions/" SUB "/resourceGroups/%s/virtualMachines/ha-vm-%03d/access",
                 HA_RG((int)(n * 11 * 7 % FLEET)), (int)(n * 11 * 7 % FLEET));
        assert_same_answers(f, path, NULL);
    }
}

struct sync_wait {
    struct fo *f;
    int replica;
};

static bool sync_idle(void *arg)
{
    struct sync_wait *w = arg;
    json_t *j = h_api(w->f->r[w->replica].p.url, w->f->c.key, "GET", "/v1/sync", NULL, 200);
    bool idle = strcmp(h_jstr(j, "state"), "idle") == 0;

    json_decref(j);
    return idle;
}

/* A sync run cut off by a kill does not stay "running": the next run marks it interrupted. */
static void check_sync_not_stuck(struct fo *f)
{
    for (int i = 0; i < REPLICAS; i++) {
        struct sync_wait w = {f, i};

        if (!h_poll(sync_idle, &w, 30000))
            fail_msg("replica %d: GET /v1/sync stays running", i);
    }
}

static void check_audit(struct fo *f)
{
    for (int i = 0; i < REPLICAS; i++) {
        json_t *j = h_api(f->r[i].p.url, f->c.key, "GET", "/v1/audit/verification", NULL, 200);
        if (!json_is_true(json_object_get(j, "intact")))
            fail_msg("replica %d: audit chain not intact: %s", i, json_dumps(j, JSON_COMPACT));
        assert_true(json_integer_value(json_object_get(j, "rows")) > 0);
        json_decref(j);
    }
    /* and `vmlogind audit verify` on each replica's own checkpoint file, which a kill may
     * have cut off in the middle of an append */
    for (int i = 0; i < REPLICAS; i++) {
        const char *args[] = {"audit", "verify", NULL};
        char *out = NULL;

        if (h_daemon_run(&f->r[i], args, &out) != 0)
            fail_msg("replica %d: audit verify: %s", i, out);
        free(out);
    }
}

/* ---- the test ----------------------------------------------------------------------------- */

static void setup_fo(struct fo *f)
{
    const char *host = getenv("VMLOGIND_TEST_PGHOST");
    const char *sim_args[] = {"--time-scale", "0.02", NULL};
    char scenario[512];
    char key[512];
    char sql[128];

    memset(f, 0, sizeof(*f));
    if (host == NULL || *host == '\0' || AZSIM_BIN[0] == '\0')
        skip();
    f->seed = pick_seed();
    f->rng = f->seed;
    print_message("seed %llu (VMLOGIND_TEST_SEED=%llu replays this run)\n",
                  (unsigned long long)f->seed, (unsigned long long)f->seed);
    snprintf(f->pghost, sizeof(f->pghost), "%s", host);
    snprintf(f->dbname, sizeof(f->dbname), "vl_failover_%d", (int)getpid());
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->dbname);
    psql_ok(f, "postgres", sql);
    h_tmpdir(f->dir, sizeof(f->dir));
    write_scenario(f, scenario, sizeof(scenario));
    plan_grants(f);
    snprintf(key, sizeof(key), "%s/audit-key", f->dir);
    write_audit_key(key);
    assert_true(h_sim_start(&f->c.s, scenario, sim_args));
    start_replicas(f);
}

static void teardown_fo(struct fo *f)
{
    char sql[128];
    char cmd[400];

    for (int i = 0; i < REPLICAS; i++)
        if (f->up[i])
            assert_int_equal(h_daemon_stop(&f->r[i]), 0);
    h_sim_stop(&f->c.s);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->dbname);
    psql_ok(f, "postgres", sql);
    snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    for (int i = 0; i < REPLICAS; i++) {
        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", f->r[i].dir);
        assert_int_equal(system(cmd), 0);
    }
}

static void test_failover(void **state)
{
    static struct fo f;
    static struct writer w;
    int64_t t0 = clock_mono_ms();
    (void)state;

    setup_fo(&f);
    enable_group(&f, 0, "rg-ha-1");
    enable_group(&f, 1, "rg-ha-2");
    writer_start(&w, &f);
    for (int round = 0; round < ROUNDS; round++)
        chaos_round(&f, &w, round);
    writer_finish(&w);
    print_message("chaos done after %.1f s (%lld ARM writes)\n",
                  (double)(clock_mono_ms() - t0) / 1000.0, (long long)arm_writes(&f));
    if (!h_poll(converged, &f, 60000))
        fail_msg("no convergence within 60 s (seed %llu)", (unsigned long long)f.seed);
    print_message("converged after %.1f s\n", (double)(clock_mono_ms() - t0) / 1000.0);

    for (int k = 0; k < 2; k++)
        check_operation(&f, f.ops[k]);
    for (int i = 0; i < FLEET; i++)
        check_vm_in_azure(&f, i);
    for (size_t n = 0; n < GRANTS; n++)
        check_grant_in_azure(&f, &f.grants[n]);
    check_tasks(&f);
    check_sync_not_stuck(&f);
    check_audit(&f);
    check_replicas_agree(&f);
    teardown_fo(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failover),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The embedded service's store: executions in a SQLite file (schema/store.md).
 *
 * Every mutating call is one BEGIN IMMEDIATE transaction: it takes SQLite's
 * write lock (so two processes never interleave their read-modify-write),
 * loads the execution (core/exec.c's pd_exec) from its rows, applies the call,
 * writes exactly what pd_exec_take_changes reports, bumps the row's revision
 * and commits. A lease keeps its pd_exec between calls: while the row's
 * revision is the one it wrote last, nothing else changed the execution and
 * the cached state is used as is (the fast path); otherwise it reloads.
 *
 * Mutual exclusion of workers: perdure_store_lease writes a fresh random
 * lease token into the row in the same transaction that begins the
 * invocation. Every later call of the lease checks the token under the write
 * lock, so once another worker has taken the execution over (after the lease
 * expired) the old lease's calls are refused with PERDURE_E_CONFLICT.
 *
 * Chained invokes (protocol.md 4.10) stay inside the store: persisting a
 * caller starts the targets of its new invokes as executions of this store,
 * and persisting a target's end answers its caller, each in the transaction
 * at hand (schema/store.md, `invokes`). */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "exec.h"

#define DEFAULT_LEASE_MS 60000LL
#define DEFAULT_BUSY_MS 5000LL
#define COMPRESS_THRESHOLD 4096
#define DEFAULT_TIMEOUT_S 31622400LL
#define REGION "us-east-1"
#define ACCOUNT "000000000000"
#define INVOCATION_RETRY_DELAY_MS 1000
#define LEASE_CANDIDATES 16

/* More than the distinct SQL literals below; past it statements are not cached. */
#define STMT_CACHE_SIZE 48

typedef struct file_group file_group;

struct perdure_store {
    sqlite3 *db;
    file_group *group;       /* NULL for :memory: */
    bool writing;            /* holds group->write (between begin_tx and commit/rollback) */
    long long busy_ms;
    perdure_clock_fn clock;
    void *clock_user;
    long long lease_ms;
    int memory;
    bool sync_wal;           /* synchronous=NORMAL, and wal_sync_group after each commit */
    int inotify_fd;          /* -1 for :memory: */
    char *wal_name, *db_name;   /* base names watched in the directory */
    sqlite3_int64 data_version;  /* the last seen PRAGMA data_version */
    pd_err err;
    /* Prepared statements of the SQL literals, prepared once (see sql_prepare). */
    struct cached_stmt {
        const char *sql;     /* the literal's address: the cache key */
        sqlite3_stmt *stmt;
        bool busy;           /* handed out and not yet released */
    } stmts[STMT_CACHE_SIZE];
    unsigned nstmts;
};

struct perdure_lease {
    perdure_store *store;
    sqlite3_int64 exec_id;
    sqlite3_int64 revision;  /* the row's revision the cached exec matches */
    pd_exec *x;              /* cached; NULL: reload */
    char *arn, *function, *worker;
    char token[33];
    long long expires_ms;
    pd_buf input;
    pd_err err;
};

/* ---- environment ---------------------------------------------------------- */

static int os_random(void *user, void *buf, size_t len)
{
    (void)user;
    unsigned char *p = buf;
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int random_hex(char *out, size_t bytes)
{
    unsigned char b[32];
    if (bytes > sizeof b || os_random(NULL, b, bytes))
        return -1;
    for (size_t i = 0; i < bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    return 0;
}

static long long now_ms(const perdure_store *s)
{
    if (s->clock)
        return s->clock(s->clock_user);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pd_exec_config exec_config(void)
{
    return (pd_exec_config){.random = os_random,
                            .max_failed_invocations = 0,
                            .invocation_retry_delay_ms = INVOCATION_RETRY_DELAY_MS,
                            .max_step_result = PD_MAX_STEP_RESULT};
}

/* ---- SQL helpers ------------------------------------------------------------ */

static perdure_status sql_fail(perdure_store *s, int rc, const char *what)
{
    int prim = rc & 0xff;
    perdure_status st = (prim == SQLITE_BUSY || prim == SQLITE_LOCKED) ? PERDURE_E_BUSY
                        : prim == SQLITE_NOMEM                           ? PERDURE_E_NOMEM
                                                                         : PERDURE_E_STORE;
    return pd_fail(&s->err, st, "store: %s: %s", what, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

static perdure_status sql_exec(perdure_store *s, const char *sql)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? PERDURE_OK : sql_fail(s, rc, sql);
}

/* Prepares SQL text that is not a literal (built per call): never cached.
 * Release the statement with sql_release like any other. */
static perdure_status sql_prepare_once(perdure_store *s, const char *sql, sqlite3_stmt **out)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, out, NULL);
    return rc == SQLITE_OK ? PERDURE_OK : sql_fail(s, rc, "prepare");
}

/* Prepares a SQL string literal, or hands out the statement prepared for it
 * before: sql must keep its address and text for the store's lifetime. A
 * statement still in use (a nested caller) gets a fresh uncached one. Release
 * with sql_release. */
static perdure_status sql_prepare(perdure_store *s, const char *sql, sqlite3_stmt **out)
{
    sqlite3_mutex *m = sqlite3_db_mutex(s->db);
    sqlite3_mutex_enter(m);
    struct cached_stmt *slot = NULL;
    for (unsigned i = 0; i < s->nstmts; i++) {
        if (s->stmts[i].sql == sql) {
            slot = &s->stmts[i];
            break;
        }
    }
    if (slot && !slot->busy) {
        slot->busy = true;
        *out = slot->stmt;
        sqlite3_mutex_leave(m);
        return PERDURE_OK;
    }
    if (slot || s->nstmts == STMT_CACHE_SIZE) {
        sqlite3_mutex_leave(m);
        return sql_prepare_once(s, sql, out);
    }
    int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    if (rc == SQLITE_OK && *out)
        s->stmts[s->nstmts++] = (struct cached_stmt){.sql = sql, .stmt = *out, .busy = true};
    sqlite3_mutex_leave(m);
    return rc == SQLITE_OK ? PERDURE_OK : sql_fail(s, rc, "prepare");
}

/* Gives back a statement from sql_prepare or sql_prepare_once (NULL: no-op):
 * a cached one is reset for its next use, any other finalized. */
static void sql_release(perdure_store *s, sqlite3_stmt *q)
{
    if (!q)
        return;
    sqlite3_mutex *m = sqlite3_db_mutex(s->db);
    sqlite3_mutex_enter(m);
    for (unsigned i = 0; i < s->nstmts; i++) {
        if (s->stmts[i].stmt == q) {
            sqlite3_reset(q);
            sqlite3_clear_bindings(q);
            s->stmts[i].busy = false;
            sqlite3_mutex_leave(m);
            return;
        }
    }
    sqlite3_mutex_leave(m);
    sqlite3_finalize(q);
}

/* Steps a statement that returns no row, then releases it. */
static perdure_status sql_done(perdure_store *s, sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);
    perdure_status st = rc == SQLITE_DONE ? PERDURE_OK : sql_fail(s, rc, "write");
    sql_release(s, q);
    return st;
}

static void bind_text_or_null(sqlite3_stmt *q, int i, const char *t, size_t len)
{
    if (t)
        sqlite3_bind_text(q, i, t, (int)len, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(q, i);
}

/* Steps a cached statement that returns no row (BEGIN/COMMIT: sqlite3_exec
 * would parse them again on every call). */
static perdure_status sql_run(perdure_store *s, const char *sql)
{
    sqlite3_stmt *q;
    TRY(sql_prepare(s, sql, &q));
    int rc = sqlite3_step(q);
    sql_release(s, q);
    return rc == SQLITE_DONE ? PERDURE_OK : sql_fail(s, rc, sql);
}

/* ---- transactions and group commit -----------------------------------------
 *
 * The handles of one database file in this process share a file_group (the
 * only process-wide state; it is internal and locked, so distinct handles
 * stay independent for their callers):
 *
 * - `write` is held from BEGIN IMMEDIATE to COMMIT/ROLLBACK, so that this
 *   process's writers queue on a mutex instead of SQLite's busy handler,
 *   which sleeps 1, 2, 5, 10... ms between polls of the file lock. Other
 *   processes still meet the busy handler.
 * - Group commit. A durable handle runs SQLite with synchronous=NORMAL, so
 *   COMMIT appends its WAL frames without fdatasync, then wal_sync_group()
 *   makes them durable before the call returns: each committer takes a
 *   ticket; one of them (the leader) fdatasyncs the -wal file for every
 *   ticket issued so far while the next writers commit; the others wait for
 *   a sync that began after their commit. One fdatasync thus acknowledges
 *   every checkpoint committed while the previous one ran, and each
 *   transaction still stands alone (a failed batch rolls back only itself).
 *
 * Why this is as durable as synchronous=FULL: a commit is durable once its
 * frames, and the WAL header naming their salts, are on disk. COMMIT has
 * write()n the frames before it returns and the leader's fdatasync starts
 * after that, so it covers them (fdatasync flushes the file, whichever
 * descriptor or process wrote it). The header is synced by SQLite itself
 * whenever it is (re)written (NORMAL syncs at WAL creation and restart), and
 * a WAL is restarted only after a checkpoint has copied every frame into the
 * database file and synced it (NORMAL syncs checkpoints). What NORMAL alone
 * loses on power failure is exactly the commits not yet fdatasync'ed, and no
 * call returns before its commit is. One difference remains: another
 * connection can read a commit during the fdatasync that follows it; a power
 * loss then drops a state that was read but never acknowledged to its
 * writer. Writers are safe: whatever they commit after reading it lies later
 * in the WAL, so their own sync covers it. */
struct file_group {
    dev_t dev;
    ino_t ino;
    unsigned refs;
    file_group *next;
    pthread_mutex_t write;
    pthread_mutex_t mu;                 /* guards the fields below */
    pthread_cond_t synced_cv;
    unsigned long long committed;       /* tickets issued: commits whose frames are written */
    unsigned long long synced;          /* every ticket up to this one is durable */
    bool syncing;                       /* a leader is in fdatasync */
};

static pthread_mutex_t groups_mu = PTHREAD_MUTEX_INITIALIZER;
static file_group *groups;

static file_group *group_join(const struct stat *st)
{
    pthread_mutex_lock(&groups_mu);
    file_group *g = groups;
    while (g && (g->dev != st->st_dev || g->ino != st->st_ino))
        g = g->next;
    if (!g && (g = calloc(1, sizeof *g))) {
        g->dev = st->st_dev;
        g->ino = st->st_ino;
        pthread_mutex_init(&g->write, NULL);
        pthread_mutex_init(&g->mu, NULL);
        pthread_cond_init(&g->synced_cv, NULL);
        g->next = groups;
        groups = g;
    }
    if (g)
        g->refs++;
    pthread_mutex_unlock(&groups_mu);
    return g;
}

static void group_leave(file_group *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&groups_mu);
    if (--g->refs == 0) {
        file_group **p = &groups;
        while (*p != g)
            p = &(*p)->next;
        *p = g->next;
        pthread_mutex_destroy(&g->write);
        pthread_mutex_destroy(&g->mu);
        pthread_cond_destroy(&g->synced_cv);
        free(g);
    }
    pthread_mutex_unlock(&groups_mu);
}

/* Takes the process's write mutex of the file, waiting at most the busy
 * timeout (as SQLite would for the file lock). */
static perdure_status write_lock(perdure_store *s)
{
    if (!s->group || s->writing)
        return PERDURE_OK;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(s->busy_ms / 1000);
    until.tv_nsec += (long)(s->busy_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int rc = pthread_mutex_timedlock(&s->group->write, &until);
    if (rc)
        return pd_fail(&s->err, rc == ETIMEDOUT ? PERDURE_E_BUSY : PERDURE_E_STORE,
                       "store: another handle of this process keeps the database locked (%s)", strerror(rc));
    s->writing = true;
    return PERDURE_OK;
}

static void write_unlock(perdure_store *s)
{
    if (s->writing) {
        s->writing = false;
        pthread_mutex_unlock(&s->group->write);
    }
}

static perdure_status begin_tx(perdure_store *s)
{
    TRY(write_lock(s));
    perdure_status st = sql_run(s, "BEGIN IMMEDIATE");
    if (st)
        write_unlock(s);
    return st;
}

static void rollback(perdure_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    write_unlock(s);
}

/* fdatasync of the -wal file through this connection's SQLite handle of it. */
static int wal_fdatasync(perdure_store *s)
{
    sqlite3_file *f = NULL;
    int rc = sqlite3_file_control(s->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &f);
    if (rc == SQLITE_OK && f && f->pMethods)
        rc = f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
    return rc;
}

/* Returns once every commit up to `ticket` is durable (see above). */
static perdure_status wal_sync_group(perdure_store *s, unsigned long long ticket)
{
    file_group *g = s->group;
    int rc = SQLITE_OK;
    pthread_mutex_lock(&g->mu);
    while (g->synced < ticket && rc == SQLITE_OK) {
        if (g->syncing) {
            pthread_cond_wait(&g->synced_cv, &g->mu);
            continue;
        }
        g->syncing = true;
        unsigned long long target = g->committed;
        pthread_mutex_unlock(&g->mu);
        rc = wal_fdatasync(s);
        pthread_mutex_lock(&g->mu);
        g->syncing = false;
        if (rc == SQLITE_OK && target > g->synced)
            g->synced = target;
        /* On failure the waiters wake too, and each tries a sync of its own. */
        pthread_cond_broadcast(&g->synced_cv);
    }
    pthread_mutex_unlock(&g->mu);
    return rc == SQLITE_OK ? PERDURE_OK
                           : pd_fail(&s->err, PERDURE_E_STORE,
                                     "store: syncing the WAL failed (%s): the last commit may not be durable",
                                     sqlite3_errstr(rc));
}

static perdure_status commit(perdure_store *s)
{
    perdure_status st = sql_run(s, "COMMIT");
    if (st) {
        rollback(s);
        return st;
    }
    if (!s->sync_wal) {
        write_unlock(s);
        return PERDURE_OK;
    }
    pthread_mutex_lock(&s->group->mu);
    unsigned long long ticket = ++s->group->committed;
    pthread_mutex_unlock(&s->group->mu);
    write_unlock(s);
    return wal_sync_group(s, ticket);
}

/* ---- schema ------------------------------------------------------------------ */

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', '1');"
    "CREATE TABLE IF NOT EXISTS executions("
    " id INTEGER PRIMARY KEY,"
    " arn TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL UNIQUE,"
    " function TEXT NOT NULL,"
    " version TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " start_ms INTEGER NOT NULL,"
    " end_ms INTEGER,"
    " input BLOB,"
    " result BLOB,"
    " error TEXT,"
    " state TEXT NOT NULL,"
    " wants_invocation INTEGER NOT NULL DEFAULT 0,"
    " next_wakeup_ms INTEGER,"
    " ready_ms INTEGER,"
    " lease_owner TEXT,"
    " lease_token TEXT,"
    " lease_expires_ms INTEGER,"
    " revision INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS executions_ready ON executions(function, version, ready_ms)"
    " WHERE status = 'RUNNING';"
    "CREATE INDEX IF NOT EXISTS executions_by_function ON executions(function, start_ms);"
    "CREATE TABLE IF NOT EXISTS operations("
    " execution INTEGER NOT NULL REFERENCES executions(id) ON DELETE CASCADE,"
    " position INTEGER NOT NULL,"
    " id TEXT NOT NULL,"
    " record BLOB NOT NULL,"
    " PRIMARY KEY (execution, position)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS events("
    " execution INTEGER NOT NULL REFERENCES executions(id) ON DELETE CASCADE,"
    " event_id INTEGER NOT NULL,"
    " type TEXT NOT NULL,"
    " json TEXT NOT NULL,"
    " PRIMARY KEY (execution, event_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS status_events("
    " sequence INTEGER PRIMARY KEY AUTOINCREMENT,"
    " execution INTEGER NOT NULL REFERENCES executions(id) ON DELETE CASCADE,"
    " arn TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " time_ms INTEGER NOT NULL,"
    " detail TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS callbacks("
    " callback_id TEXT PRIMARY KEY,"
    " execution INTEGER NOT NULL REFERENCES executions(id) ON DELETE CASCADE,"
    " op_id TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS invokes("
    " target INTEGER PRIMARY KEY REFERENCES executions(id) ON DELETE CASCADE,"
    " caller INTEGER NOT NULL REFERENCES executions(id) ON DELETE CASCADE,"
    " op_id TEXT NOT NULL,"
    " answered INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS invokes_by_caller ON invokes(caller);";

static perdure_status read_data_version(perdure_store *s, sqlite3_int64 *out)
{
    sqlite3_stmt *q;
    TRY(sql_prepare(s, "PRAGMA data_version", &q));
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        perdure_status st = sql_fail(s, rc, "data_version");
        sql_release(s, q);
        return st;
    }
    *out = sqlite3_column_int64(q, 0);
    sql_release(s, q);
    return PERDURE_OK;
}

/* Watches the database's directory for writes to the db and -wal files. */
static void watch_files(perdure_store *s, const char *path)
{
    s->inotify_fd = -1;
    if (s->memory)
        return;
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    const char *base = slash ? slash + 1 : path;
    s->db_name = strdup(base);
    size_t n = strlen(base) + 5;
    s->wal_name = malloc(n);
    if (!dir || !s->db_name || !s->wal_name) {
        free(dir);
        return;
    }
    snprintf(s->wal_name, n, "%s-wal", base);
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd >= 0 && inotify_add_watch(fd, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
        close(fd);
        fd = -1;
    }
    free(dir);
    s->inotify_fd = fd;
}

perdure_status perdure_store_open(const char *path, const perdure_store_options *opts, perdure_store **out)
{
    if (!out)
        return PERDURE_E_MISUSE;
    *out = NULL;
    if (!path)
        return PERDURE_E_MISUSE;
    perdure_store_options o = {.size = sizeof o};
    if (opts) {
        if (opts->size < sizeof(unsigned int))
            return PERDURE_E_MISUSE;
        memcpy(&o, opts, opts->size < sizeof o ? opts->size : sizeof o);
    }
    if (o.lease_ms < 0 || o.busy_timeout_ms < 0 || o.busy_timeout_ms > INT_MAX)
        return PERDURE_E_INVALID;
    perdure_store *s = calloc(1, sizeof *s);
    if (!s)
        return PERDURE_E_NOMEM;
    s->inotify_fd = -1;
    s->clock = o.clock;
    s->clock_user = o.clock_user;
    s->lease_ms = o.lease_ms ? o.lease_ms : DEFAULT_LEASE_MS;
    s->memory = strcmp(path, ":memory:") == 0;
    *out = s;   /* returned even on failure, for its errmsg; the caller closes it */
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK)
        return sql_fail(s, rc, path);
    s->busy_ms = o.busy_timeout_ms ? o.busy_timeout_ms : DEFAULT_BUSY_MS;
    sqlite3_busy_timeout(s->db, (int)s->busy_ms);
    sqlite3_extended_result_codes(s->db, 1);
    if (!s->memory) {
        /* Two processes creating the same file race for the WAL switch, and
         * SQLite answers the loser BUSY without calling the busy handler (a
         * lock upgrade could deadlock): retry within the busy timeout. */
        long long budget_ms = o.busy_timeout_ms ? o.busy_timeout_ms : DEFAULT_BUSY_MS;
        bool wal = false;
        for (long long waited = 0;; waited += 10) {
            sqlite3_stmt *q;
            TRY(sql_prepare_once(s, "PRAGMA journal_mode=WAL", &q));
            rc = sqlite3_step(q);
            const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) : NULL;
            wal = mode && strcmp(mode, "wal") == 0;
            sql_release(s, q);
            if ((rc & 0xff) != SQLITE_BUSY || waited >= budget_ms)
                break;
            nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
        }
        if (rc != SQLITE_ROW)
            return sql_fail(s, rc, "journal_mode=WAL");
        if (!wal)
            return pd_fail(&s->err, PERDURE_E_STORE, "store: %s: could not switch to WAL mode", path);
    }
    if (!s->memory) {
        struct stat fst;
        if (stat(path, &fst))
            return pd_fail(&s->err, PERDURE_E_STORE, "store: %s: %s", path, strerror(errno));
        if (!(s->group = group_join(&fst)))
            return pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory");
    }
    /* Durable (the default): NORMAL plus our own group fdatasync per commit,
     * which is FULL's guarantee at a shared cost (see file_group). */
    s->sync_wal = !s->memory && !o.synchronous_normal;
    TRY(sql_exec(s, "PRAGMA synchronous=NORMAL"));
    TRY(sql_exec(s, "PRAGMA foreign_keys=ON"));
    TRY(begin_tx(s));
    perdure_status st = sql_exec(s, SCHEMA);
    if (!st) {
        sqlite3_stmt *q;
        st = sql_prepare_once(s, "SELECT value FROM meta WHERE key = 'schema'", &q);
        if (!st) {
            if (sqlite3_step(q) != SQLITE_ROW || sqlite3_column_int(q, 0) != PERDURE_SCHEMA_VERSION)
                st = pd_fail(&s->err, PERDURE_E_STORE, "store: %s: unsupported schema version %s (this build reads %d)",
                             path, sqlite3_column_text(q, 0) ? (const char *)sqlite3_column_text(q, 0) : "?",
                             PERDURE_SCHEMA_VERSION);
            sql_release(s, q);
        }
    }
    if (st) {
        rollback(s);
        return st;
    }
    TRY(commit(s));
    TRY(read_data_version(s, &s->data_version));
    watch_files(s, path);
    return PERDURE_OK;
}

void perdure_store_close(perdure_store *store)
{
    if (!store)
        return;
    for (unsigned i = 0; i < store->nstmts; i++)
        sqlite3_finalize(store->stmts[i].stmt);
    if (store->db)
        sqlite3_close_v2(store->db);
    group_leave(store->group);
    if (store->inotify_fd >= 0)
        close(store->inotify_fd);
    free(store->wal_name);
    free(store->db_name);
    free(store);
}

const char *perdure_store_errmsg(const perdure_store *store)
{
    return store ? store->err.msg : "store is NULL";
}

/* ---- loading and persisting one execution ----------------------------------- */

typedef struct row {
    sqlite3_int64 id, revision;
    char status[16];
    char lease_token[33];     /* "" when not leased */
    char *lease_owner;
    long long lease_expires_ms;
    bool has_ready;
    long long ready_ms;
} row;

static void row_free(row *r)
{
    free(r->lease_owner);
    r->lease_owner = NULL;
}

/* The row of an execution by id (arn NULL) or by ARN. */
static perdure_status load_row(perdure_store *s, sqlite3_int64 id, const char *arn, row *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q;
    TRY(sql_prepare(s,
                    arn ? "SELECT id, revision, status, lease_token, lease_owner, lease_expires_ms, ready_ms "
                          "FROM executions WHERE arn = ?"
                        : "SELECT id, revision, status, lease_token, lease_owner, lease_expires_ms, ready_ms "
                          "FROM executions WHERE id = ?",
                    &q));
    if (arn)
        sqlite3_bind_text(q, 1, arn, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    perdure_status st = PERDURE_OK;
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(q, 0);
        out->revision = sqlite3_column_int64(q, 1);
        snprintf(out->status, sizeof out->status, "%s", (const char *)sqlite3_column_text(q, 2));
        if (sqlite3_column_type(q, 3) != SQLITE_NULL)
            snprintf(out->lease_token, sizeof out->lease_token, "%s", (const char *)sqlite3_column_text(q, 3));
        if (sqlite3_column_type(q, 4) != SQLITE_NULL &&
            !(out->lease_owner = strdup((const char *)sqlite3_column_text(q, 4))))
            st = pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory");
        out->lease_expires_ms = sqlite3_column_int64(q, 5);
        out->has_ready = sqlite3_column_type(q, 6) != SQLITE_NULL;
        out->ready_ms = sqlite3_column_int64(q, 6);
    } else if (rc == SQLITE_DONE) {
        st = pd_fail(&s->err, PERDURE_E_NOT_FOUND, "no execution %s", arn ? arn : "with this id");
    } else {
        st = sql_fail(s, rc, "read execution");
    }
    sql_release(s, q);
    return st;
}

static perdure_status load_exec(perdure_store *s, sqlite3_int64 id, pd_exec **out)
{
    *out = NULL;
    pd_op_list ops = {0};
    pd_event *events = NULL;
    size_t n_events = 0, cap = 0;
    char *state = NULL;
    size_t state_len = 0;
    sqlite3_stmt *q = NULL;
    perdure_status st = sql_prepare(s, "SELECT record FROM operations WHERE execution = ? ORDER BY position", &q);
    int rc;
    if (st)
        goto done;
    sqlite3_bind_int64(q, 1, id);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        pd_operation *op = pd_op_list_push(&ops);
        if (!op) {
            st = pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory");
            goto done;
        }
        st = pd_mp_decode_operation(sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0), op, &s->err);
        if (st)
            goto done;
    }
    if (rc != SQLITE_DONE) {
        st = sql_fail(s, rc, "read operations");
        goto done;
    }
    sql_release(s, q);
    q = NULL;
    if ((st = sql_prepare(s, "SELECT json FROM events WHERE execution = ? ORDER BY event_id", &q)))
        goto done;
    sqlite3_bind_int64(q, 1, id);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n_events == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            pd_event *grown = realloc(events, ncap * sizeof *events);
            if (!grown) {
                st = pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory");
                goto done;
            }
            events = grown;
            cap = ncap;
        }
        st = pd_event_decode_json(sqlite3_column_text(q, 0), (size_t)sqlite3_column_bytes(q, 0), &events[n_events],
                                  &s->err);
        if (st)
            goto done;
        n_events++;
    }
    if (rc != SQLITE_DONE) {
        st = sql_fail(s, rc, "read events");
        goto done;
    }
    sql_release(s, q);
    q = NULL;
    if ((st = sql_prepare(s, "SELECT state FROM executions WHERE id = ?", &q)))
        goto done;
    sqlite3_bind_int64(q, 1, id);
    if ((rc = sqlite3_step(q)) != SQLITE_ROW) {
        st = rc == SQLITE_DONE ? pd_fail(&s->err, PERDURE_E_NOT_FOUND, "execution vanished") : sql_fail(s, rc, "read");
        goto done;
    }
    state_len = (size_t)sqlite3_column_bytes(q, 0);
    state = malloc(state_len + 1);
    if (!state) {
        st = pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory");
        goto done;
    }
    memcpy(state, sqlite3_column_text(q, 0), state_len);
    state[state_len] = 0;
    pd_exec_config cfg = exec_config();
    st = pd_exec_load(&cfg, ops.items, ops.len, events, n_events, state, state_len, out, &s->err);
    if (st && st != PERDURE_E_NOMEM)
        st = pd_fail(&s->err, PERDURE_E_STORE, "store: execution %lld is corrupt: %s", (long long)id, s->err.msg);
done:
    sql_release(s, q);
    pd_op_list_free(&ops);
    for (size_t i = 0; i < n_events; i++)
        pd_event_clear(&events[i]);
    free(events);
    free(state);
    return st;
}

/* The function ARN: the execution ARN before "/durable-execution/". */
static size_t function_arn_len(const char *arn)
{
    const char *p = strstr(arn, "/durable-execution/");
    return p ? (size_t)(p - arn) : strlen(arn);
}

static void iso_time(long long ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static perdure_status insert_status_event(perdure_store *s, sqlite3_int64 id, const pd_exec *x, long long now)
{
    pd_exec_info info;
    pd_exec_get_info(x, &info);
    const pd_operation *op = pd_exec_operation_at(x, 0);
    const char *status = pd_exec_status_name(pd_exec_status(x));
    json_t *d = json_object();
    json_object_set_new(d, "durableExecutionArn", json_string(info.arn));
    json_object_set_new(d, "durableExecutionName", json_string(info.name));
    json_object_set_new(d, "functionArn", json_stringn(info.arn, function_arn_len(info.arn)));
    json_object_set_new(d, "status", json_string(status));
    json_object_set_new(d, "startTimestamp", json_integer(op->start_ms));
    if (op->end_ms)
        json_object_set_new(d, "endTimestamp", json_integer(op->end_ms));
    char *text = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    if (!text)
        return pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory");
    sqlite3_stmt *q;
    perdure_status st = sql_prepare(
        s, "INSERT INTO status_events(execution, arn, status, time_ms, detail) VALUES (?, ?, ?, ?, ?)", &q);
    if (!st) {
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_text(q, 2, info.arn, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, status, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 4, now);
        sqlite3_bind_text(q, 5, text, -1, SQLITE_STATIC);
        st = sql_done(s, q);
    }
    free(text);
    return st;
}

/* Lease columns to write: kept only while an invocation runs. */
typedef struct lease_cols {
    const char *owner, *token;
    long long expires_ms;
} lease_cols;

static perdure_status launch_invokes(perdure_store *s, sqlite3_int64 caller, pd_exec *x, bool idle, long long now);
static perdure_status deliver_answers(perdure_store *s, sqlite3_int64 caller, pd_exec *x, long long now);
static perdure_status complete_invoker(perdure_store *s, sqlite3_int64 target, long long now);

/* Writes what changed in x since the last take, plus the derived columns, and
 * bumps the revision (returned in *revision). old: the row before (NULL: a
 * new execution). */
static perdure_status persist(perdure_store *s, sqlite3_int64 id, pd_exec *x, const row *old,
                              const lease_cols *lease, long long now, sqlite3_int64 *revision)
{
    /* Chained invokes START'ed by this change: their targets start in this
     * transaction, and their ARNs go into ChainedInvokeStarted before the
     * changes are taken. Targets that have ended are answered here, once no
     * invocation runs (an answer during one would leave its suspension
     * nothing to wait for). */
    bool idle = pd_exec_status(x) == PERDURE_STATUS_STARTED && !pd_exec_invocation_running(x);
    if (pd_exec_pending_invokes(x, NULL, 0))
        TRY(launch_invokes(s, id, x, idle, now));
    if (idle)
        TRY(deliver_answers(s, id, x, now));
    pd_exec_changes c;
    TRY(pd_exec_take_changes(x, &c, &s->err));
    perdure_status st = PERDURE_OK;
    pd_buf b, state;
    pd_buf_init(&b);
    pd_buf_init(&state);
    sqlite3_stmt *q = NULL, *cb = NULL;
    if (c.n_ops) {
        if ((st = sql_prepare(s, /* an upsert: INSERT OR REPLACE would delete the row first */
                              "INSERT INTO operations(execution, position, id, record) VALUES (?,?,?,?) "
                              "ON CONFLICT DO UPDATE SET id = excluded.id, record = excluded.record",
                              &q)) ||
            (st = sql_prepare(s, "INSERT OR IGNORE INTO callbacks(callback_id, execution, op_id) VALUES (?,?,?)", &cb)))
            goto done;
        for (size_t i = 0; i < c.n_ops; i++) {
            const pd_operation *op = pd_exec_operation_at(x, c.ops[i]);
            b.len = 0;
            if ((st = pd_mp_encode_operation(op, COMPRESS_THRESHOLD, &b, &s->err)))
                goto done;
            sqlite3_reset(q);
            sqlite3_bind_int64(q, 1, id);
            sqlite3_bind_int64(q, 2, (sqlite3_int64)c.ops[i]);
            sqlite3_bind_text(q, 3, op->id, -1, SQLITE_STATIC);
            sqlite3_bind_blob(q, 4, b.data, (int)b.len, SQLITE_STATIC);
            int rc = sqlite3_step(q);
            if (rc != SQLITE_DONE) {
                st = sql_fail(s, rc, "write operation");
                goto done;
            }
            if (op->type == PERDURE_TYPE_CALLBACK && op->callback_id.present && op->callback_id.len) {
                sqlite3_reset(cb);
                sqlite3_bind_text(cb, 1, op->callback_id.data, (int)op->callback_id.len, SQLITE_STATIC);
                sqlite3_bind_int64(cb, 2, id);
                sqlite3_bind_text(cb, 3, op->id, -1, SQLITE_STATIC);
                if ((rc = sqlite3_step(cb)) != SQLITE_DONE) {
                    st = sql_fail(s, rc, "write callback");
                    goto done;
                }
            }
        }
        sql_release(s, q);
        sql_release(s, cb);
        q = cb = NULL;
    }
    if (c.n_events) {
        if ((st = sql_prepare(s, "INSERT INTO events(execution, event_id, type, json) VALUES (?,?,?,?) "
                              "ON CONFLICT DO UPDATE SET type = excluded.type, json = excluded.json",
                              &q)))
            goto done;
        for (size_t i = 0; i < c.n_events; i++) {
            const pd_event *e = pd_exec_event_at(x, (size_t)(c.events[i] - 1));
            b.len = 0;
            if ((st = pd_event_encode_json(e, true, &b, &s->err)))
                goto done;
            sqlite3_reset(q);
            sqlite3_bind_int64(q, 1, id);
            sqlite3_bind_int64(q, 2, (sqlite3_int64)c.events[i]);
            sqlite3_bind_text(q, 3, pd_event_type_name(e->type), -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 4, (const char *)b.data, (int)b.len, SQLITE_STATIC);
            int rc = sqlite3_step(q);
            if (rc != SQLITE_DONE) {
                st = sql_fail(s, rc, "write event");
                goto done;
            }
        }
        sql_release(s, q);
        q = NULL;
    }
    if (c.state && (st = pd_exec_state_json(x, &state, &s->err)))
        goto done;
    /* the derived columns, and the state when it changed: one row write */
    {
        const char *status = pd_exec_status_name(pd_exec_status(x));
        bool running = pd_exec_status(x) == PERDURE_STATUS_STARTED;
        bool invoking = pd_exec_invocation_running(x);
        bool wants = running && pd_exec_wants_invocation(x, now);
        int64_t wake = 0;
        bool has_wake = running && pd_exec_next_wakeup(x, &wake);
        bool has_ready = true;
        long long ready = 0;
        if (!running)
            has_ready = false;
        else if (invoking)
            ready = lease ? lease->expires_ms : 0;
        else if (wants)
            ready = now;
        else if (has_wake)
            ready = wake;
        else
            has_ready = false;
        const pd_bytes *result;
        const pd_error *error;
        pd_exec_result(x, &result, &error);
        b.len = 0;
        if (error && (st = pd_json_encode_error(error, &b, &s->err)))
            goto done;
        const pd_operation *op = pd_exec_operation_at(x, 0);
        /* Setting status or ready_ms rewrites the executions_ready entry even
         * to the same value (SQLite picks the indexes to update by the SET
         * list): leave them out when they did not change, as during every
         * checkpoint of an invocation. */
        bool same_ready = old && strcmp(old->status, status) == 0 && old->has_ready == has_ready &&
                          (!has_ready || old->ready_ms == ready);
        if ((st = sql_prepare(s,
                              same_ready
                                  ? "UPDATE executions SET end_ms = ?2, result = ?3, error = ?4, "
                                    "wants_invocation = ?5, next_wakeup_ms = ?6, lease_owner = ?8, "
                                    "lease_token = ?9, lease_expires_ms = ?10, state = coalesce(?12, state), "
                                    "revision = revision + 1 WHERE id = ?11"
                                  : "UPDATE executions SET status = ?1, end_ms = ?2, result = ?3, error = ?4, "
                                    "wants_invocation = ?5, next_wakeup_ms = ?6, ready_ms = ?7, lease_owner = ?8, "
                                    "lease_token = ?9, lease_expires_ms = ?10, state = coalesce(?12, state), "
                                    "revision = revision + 1 WHERE id = ?11",
                              &q)))
            goto done;
        sqlite3_bind_text(q, 1, status, -1, SQLITE_STATIC);
        if (op->end_ms)
            sqlite3_bind_int64(q, 2, op->end_ms);
        if (result && result->present)
            sqlite3_bind_blob(q, 3, result->data ? result->data : "", (int)result->len, SQLITE_STATIC);
        if (error)
            sqlite3_bind_text(q, 4, (const char *)b.data, (int)b.len, SQLITE_STATIC);
        sqlite3_bind_int(q, 5, wants);
        if (has_wake)
            sqlite3_bind_int64(q, 6, wake);
        if (has_ready)
            sqlite3_bind_int64(q, 7, ready);
        if (invoking && lease) {
            sqlite3_bind_text(q, 8, lease->owner, -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 9, lease->token, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 10, lease->expires_ms);
        }
        sqlite3_bind_int64(q, 11, id);
        if (c.state)
            sqlite3_bind_text(q, 12, (const char *)state.data, (int)state.len, SQLITE_STATIC);
        /* No RETURNING: SQLite would buffer its row in a temporary b-tree
         * opened per statement. The row read in this transaction gives the
         * new revision. */
        int rc = sqlite3_step(q);
        if (rc != SQLITE_DONE || sqlite3_changes(s->db) != 1) {
            st = rc == SQLITE_DONE ? pd_fail(&s->err, PERDURE_E_STORE, "store: execution row vanished")
                                   : sql_fail(s, rc, "update execution");
            goto done;
        }
        if (revision && old)
            *revision = old->revision + 1;
        sql_release(s, q);
        q = NULL;
        if (!old || strcmp(old->status, status) != 0) {
            st = insert_status_event(s, id, x, now);
            /* The target of a chained invoke ended: answer its caller. */
            if (!st && !running)
                st = complete_invoker(s, id, now);
        }
    }
done:
    sql_release(s, q);
    sql_release(s, cb);
    pd_buf_free(&b);
    pd_buf_free(&state);
    pd_exec_changes_free(&c);
    return st;
}

/* Maps a pd_exec refusal to a public status (the message stays). */
static perdure_status public_status(perdure_status st)
{
    switch (st) {
    case PD_EXEC_E_NOT_FOUND:
        return PERDURE_E_NOT_FOUND;
    case PD_EXEC_E_COMPLETED:
    case PD_EXEC_E_TIMED_OUT:
    case PD_EXEC_E_ENDED:
        return PERDURE_E_CONFLICT;
    default:
        return st;
    }
}

/* Whether a status from pd_exec leaves it consistent (persist what changed). */
static bool exec_usable(perdure_status st) { return st != PERDURE_E_NOMEM && st != PERDURE_E_INTERNAL; }

/* ---- starting ------------------------------------------------------------------ */

/* Inserts a new execution and persists its first changes, inside the
 * caller's transaction. *out gets the pd_exec (the caller frees it). */
static perdure_status create_execution(perdure_store *s, const char *function, const char *version,
                                       const char *name, const char *input, size_t input_len, long long timeout_s,
                                       long long now, pd_exec **out, sqlite3_int64 *id)
{
    *out = NULL;
    pd_exec_config cfg = exec_config();
    pd_exec_options eo = {.region = REGION, .account = ACCOUNT, .function_name = function, .version = version,
                          .name = name, .id = NULL, .input = input, .input_len = input_len,
                          .execution_timeout_s = timeout_s ? timeout_s : DEFAULT_TIMEOUT_S};
    pd_exec *x = NULL;
    TRY(pd_exec_new(&cfg, &eo, now, &x, &s->err));
    pd_exec_info info;
    pd_exec_get_info(x, &info);
    sqlite3_stmt *q;
    perdure_status st = sql_prepare(s,
                                    "INSERT INTO executions(arn, name, function, version, status, start_ms, input, "
                                    "state) VALUES (?, ?, ?, ?, 'RUNNING', ?, ?, '{}')",
                                    &q);
    if (!st) {
        sqlite3_bind_text(q, 1, info.arn, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, info.name, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, info.function_name, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, info.version, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 5, now);
        bind_text_or_null(q, 6, input, input_len);
        st = sql_done(s, q);
    }
    if (!st) {
        *id = sqlite3_last_insert_rowid(s->db);
        st = persist(s, *id, x, NULL, NULL, now, NULL);
    }
    if (st) {
        pd_exec_free(x);
        return st;
    }
    *out = x;
    return PERDURE_OK;
}

/* A generated DurableExecutionName: a random UUID. */
static perdure_status generate_name(perdure_store *s, char out[37])
{
    char hex[33];
    if (random_hex(hex, 16))
        return pd_fail(&s->err, PERDURE_E_STORE, "getrandom failed: %s", strerror(errno));
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
    return PERDURE_OK;
}

/* ---- chained invokes ----------------------------------------------------------- */

/* The target of a chained invoke: FunctionName is "<name>[:<qualifier>]", or
 * an ARN "arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]"
 * (or its partial form "<account>:function:<name>[:<qualifier>]"). */
typedef struct invoke_target {
    char name[65];
    char version[129];
} invoke_target;

static bool name_char(char c, bool qualifier)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           (qualifier && c == '$');
}

static bool parse_invoke_target(const char *text, invoke_target *t)
{
    const char *p = text, *f = strstr(text, ":function:");
    if (f)
        p = f + strlen(":function:");
    else if (strncmp(text, "arn:", 4) == 0)
        return false;
    const char *colon = strchr(p, ':');
    size_t n = colon ? (size_t)(colon - p) : strlen(p);
    if (n < 1 || n >= sizeof t->name)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(p[i], false))
            return false;
    memcpy(t->name, p, n);
    t->name[n] = 0;
    if (!colon) {
        snprintf(t->version, sizeof t->version, "$LATEST");
        return true;
    }
    const char *q = colon + 1;
    size_t qn = strlen(q);
    if (qn < 1 || qn >= sizeof t->version)
        return false;
    for (size_t i = 0; i < qn; i++)
        if (!name_char(q[i], true))
            return false;
    if (strchr(q, '$') && strcmp(q, "$LATEST") != 0)
        return false;
    memcpy(t->version, q, qn + 1);
    return true;
}

/* Ends chained invoke op_id of x as FAILED with this error, at once. */
static perdure_status fail_invoke(perdure_store *s, pd_exec *x, const char *op_id, const char *type,
                                  const char *message, long long now)
{
    perdure_error_info info = {.error_type = type, .error_message = message};
    pd_error *e = pd_error_from_info(&info);
    if (!e)
        return pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory");
    perdure_status st = pd_exec_invoke_complete(x, op_id, PERDURE_STATUS_FAILED, NULL, 0, e, now, &s->err);
    pd_error_free(e);
    return st;
}

/* Starts the target of every pending chained invoke of execution `caller` as
 * a new execution in this store, links it to (caller, op) and records its
 * ARN in the caller's ChainedInvokeStarted. An unusable FunctionName fails
 * the invoke, once the caller is idle (no invocation running). */
static perdure_status launch_invokes(perdure_store *s, sqlite3_int64 caller, pd_exec *x, bool idle, long long now)
{
    for (;;) {
        /* The views are borrowed until x changes: take one, handle it, look again. */
        pd_exec_invoke pending[16];
        size_t n = pd_exec_pending_invokes(x, pending, 16);
        if (n > 16)
            n = 16;
        const pd_exec_invoke *inv = NULL;
        invoke_target t;
        bool valid = false;
        for (size_t i = 0; i < n && !inv; i++) {
            char fn[300];
            size_t fn_len = pending[i].function_name->present ? pending[i].function_name->len : 0;
            valid = fn_len < sizeof fn;
            if (valid) {
                memcpy(fn, fn_len ? pending[i].function_name->data : "", fn_len);
                fn[fn_len] = 0;
                valid = strlen(fn) == fn_len && parse_invoke_target(fn, &t);
            }
            if (valid || idle)
                inv = &pending[i];
        }
        if (!inv)
            return PERDURE_OK;
        char op_id[PD_MAX_ID + 1];
        snprintf(op_id, sizeof op_id, "%s", inv->op_id);
        if (!valid) {
            char m[400];
            snprintf(m, sizeof m, "Invalid function name: %.*s",
                     (int)(inv->function_name->len < 256 ? inv->function_name->len : 256),
                     inv->function_name->data ? inv->function_name->data : "");
            TRY(pd_exec_invoke_launched(x, op_id, NULL, NULL, &s->err));
            perdure_status st = fail_invoke(s, x, op_id, "InvalidParameterValueException", m, now);
            if (st)
                return exec_usable(st) ? pd_fail(&s->err, PERDURE_E_INTERNAL, "invoke %s: %s", op_id, s->err.msg)
                                       : st;
            continue;
        }
        const char *input = "null";
        size_t input_len = 4;
        if (inv->input->present) {
            input = inv->input->data ? inv->input->data : "";
            input_len = inv->input->len;
        }
        char name[37];
        TRY(generate_name(s, name));
        pd_exec *target = NULL;
        sqlite3_int64 target_id;
        TRY(create_execution(s, t.name, t.version, name, input, input_len, 0, now, &target, &target_id));
        pd_exec_info info;
        pd_exec_get_info(target, &info);
        sqlite3_stmt *q;
        perdure_status st = sql_prepare(s, "INSERT INTO invokes(target, caller, op_id) VALUES (?, ?, ?)", &q);
        if (!st) {
            sqlite3_bind_int64(q, 1, target_id);
            sqlite3_bind_int64(q, 2, caller);
            sqlite3_bind_text(q, 3, op_id, -1, SQLITE_STATIC);
            st = sql_done(s, q);
        }
        if (!st)
            st = pd_exec_invoke_launched(x, op_id, info.arn, info.version, &s->err);
        pd_exec_free(target);
        TRY(st);
    }
}

static perdure_op_status status_from_name(const char *name)
{
    return strcmp(name, "SUCCEEDED") == 0   ? PERDURE_STATUS_SUCCEEDED
           : strcmp(name, "TIMED_OUT") == 0 ? PERDURE_STATUS_TIMED_OUT
           : strcmp(name, "STOPPED") == 0   ? PERDURE_STATUS_STOPPED
                                            : PERDURE_STATUS_FAILED;
}

/* Answers every chained invoke of idle execution `caller` (x) whose target
 * has ended and was not answered yet: ChainedInvokeSucceeded{Result} /
 * Failed / TimedOut / Stopped{Error}, after which x wants an invocation. An
 * operation that was answered otherwise, or an x that has ended meanwhile,
 * just marks the link answered. */
static perdure_status deliver_answers(perdure_store *s, sqlite3_int64 caller, pd_exec *x, long long now)
{
    for (;;) {
        sqlite3_stmt *q;
        TRY(sql_prepare(s,
                        "SELECT i.target, i.op_id, e.status, e.result, e.error FROM invokes i "
                        "JOIN executions e ON e.id = i.target "
                        "WHERE i.caller = ? AND i.answered = 0 AND e.status <> 'RUNNING' ORDER BY i.target LIMIT 1",
                        &q));
        sqlite3_bind_int64(q, 1, caller);
        int rc = sqlite3_step(q);
        if (rc != SQLITE_ROW) {
            perdure_status st = rc == SQLITE_DONE ? PERDURE_OK : sql_fail(s, rc, "find invoke answers");
            sql_release(s, q);
            return st;
        }
        sqlite3_int64 target = sqlite3_column_int64(q, 0);
        char op_id[PD_MAX_ID + 1];
        snprintf(op_id, sizeof op_id, "%s", (const char *)sqlite3_column_text(q, 1));
        perdure_op_status status = status_from_name((const char *)sqlite3_column_text(q, 2));
        pd_error *error = NULL;
        perdure_status st = PERDURE_OK;
        if (status != PERDURE_STATUS_SUCCEEDED && sqlite3_column_type(q, 4) != SQLITE_NULL)
            st = pd_json_decode_error(sqlite3_column_text(q, 4), (size_t)sqlite3_column_bytes(q, 4), &error, &s->err);
        if (st) {
            sql_release(s, q);
            return st == PERDURE_E_NOMEM ? st : pd_fail(&s->err, PERDURE_E_STORE, "store: bad error: %s", s->err.msg);
        }
        const void *result = NULL;
        size_t len = 0;
        if (status == PERDURE_STATUS_SUCCEEDED && sqlite3_column_type(q, 3) != SQLITE_NULL) {
            result = sqlite3_column_blob(q, 3);
            len = (size_t)sqlite3_column_bytes(q, 3);
            if (!result)
                result = "";
        }
        pd_err keep = s->err;
        perdure_status applied = pd_exec_invoke_complete(x, op_id, status, result, len, error, now, &s->err);
        if (applied == PERDURE_E_INVALID)   /* a result the caller cannot take */
            applied = fail_invoke(s, x, op_id, "InvalidParameterValueException", s->err.msg, now);
        sql_release(s, q);
        pd_error_free(error);
        if (!exec_usable(applied))
            return applied;
        if (applied)
            s->err = keep;   /* answered otherwise, or x has ended */
        TRY(sql_prepare(s, "UPDATE invokes SET answered = 1 WHERE target = ?", &q));
        sqlite3_bind_int64(q, 1, target);
        TRY(sql_done(s, q));
    }
}

/* Execution `target` has just ended (its row is written): if a chained
 * invoke started it and its caller is idle, the caller is answered now;
 * a caller whose invocation runs is answered when that invocation ends. */
static perdure_status complete_invoker(perdure_store *s, sqlite3_int64 target, long long now)
{
    sqlite3_stmt *q;
    TRY(sql_prepare(s, "SELECT caller FROM invokes WHERE target = ? AND answered = 0", &q));
    sqlite3_bind_int64(q, 1, target);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        perdure_status st = rc == SQLITE_DONE ? PERDURE_OK : sql_fail(s, rc, "find invoker");
        sql_release(s, q);
        return st;
    }
    sqlite3_int64 caller = sqlite3_column_int64(q, 0);
    sql_release(s, q);
    row r;
    pd_exec *cx = NULL;
    perdure_status st = load_row(s, caller, NULL, &r);
    if (!st && strcmp(r.status, "RUNNING") == 0 && !r.lease_token[0] && !(st = load_exec(s, caller, &cx)))
        st = persist(s, caller, cx, &r, NULL, now, NULL);   /* persist answers it */
    pd_exec_free(cx);
    row_free(&r);
    return st;
}

static perdure_status existing_by_name(perdure_store *s, const char *name, const char *function, perdure_buf *arn,
                                       bool *found)
{
    *found = false;
    sqlite3_stmt *q;
    TRY(sql_prepare(s, "SELECT arn, function FROM executions WHERE name = ?", &q));
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    perdure_status st = PERDURE_OK;
    if (rc == SQLITE_ROW) {
        *found = true;
        if (strcmp((const char *)sqlite3_column_text(q, 1), function) != 0) {
            st = pd_fail(&s->err, PERDURE_E_CONFLICT,
                         "the execution name \"%s\" is already used by an execution of function %s", name,
                         (const char *)sqlite3_column_text(q, 1));
        } else {
            pd_buf b;
            pd_buf_init(&b);
            pd_buf_append(&b, sqlite3_column_text(q, 0), (size_t)sqlite3_column_bytes(q, 0) + 1);
            if (b.oom)
                st = pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory");
            else {
                b.len--;   /* the NUL stays after the data */
                arn->data = b.data;
                arn->len = b.len;
            }
        }
    } else if (rc != SQLITE_DONE) {
        st = sql_fail(s, rc, "find name");
    }
    sql_release(s, q);
    return st;
}

perdure_status perdure_store_start(perdure_store *store, const perdure_start_options *opts, perdure_buf *arn,
                                   int *existed)
{
    if (!store || !opts || !arn || opts->size < sizeof(unsigned int))
        return PERDURE_E_MISUSE;
    perdure_start_options o = {0};
    memcpy(&o, opts, opts->size < sizeof o ? opts->size : sizeof o);
    *arn = (perdure_buf){0};
    if (existed)
        *existed = 0;
    perdure_store *s = store;
    if (!o.function_name)
        return pd_fail(&s->err, PERDURE_E_INVALID, "start: function_name is required");
    if (o.execution_timeout_seconds < 0 || o.execution_timeout_seconds > DEFAULT_TIMEOUT_S)
        return pd_fail(&s->err, PERDURE_E_INVALID, "start: execution_timeout_seconds must be 1..31622400");
    char generated[37];
    const char *name = o.name;
    if (!name) {
        TRY(generate_name(s, generated));
        name = generated;
    }
    const char *input = o.input ? (const char *)o.input : "null";
    size_t input_len = o.input ? (size_t)o.input_len : 4;
    TRY(begin_tx(s));
    bool found;
    perdure_status st = existing_by_name(s, name, o.function_name, arn, &found);
    if (st || found) {
        rollback(s);
        if (!st && existed)
            *existed = 1;
        return st;
    }
    long long now = now_ms(s);
    pd_exec *x = NULL;
    sqlite3_int64 id;
    if ((st = create_execution(s, o.function_name, o.version ? o.version : "$LATEST", name, input, input_len,
                               o.execution_timeout_seconds, now, &x, &id)) ||
        (st = commit(s)))
        goto fail;
    pd_exec_info info;
    pd_exec_get_info(x, &info);
    size_t n = strlen(info.arn);
    arn->data = malloc(n + 1);
    if (!arn->data) {
        pd_exec_free(x);
        return pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory");
    }
    memcpy(arn->data, info.arn, n + 1);
    arn->len = n;
    pd_exec_free(x);
    return PERDURE_OK;
fail:
    rollback(s);
    pd_exec_free(x);
    return st;
}

/* ---- readers ------------------------------------------------------------------- */

static perdure_status dump_json(perdure_store *s, json_t *root, perdure_buf *out)
{
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!text)
        return pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory");
    out->data = (unsigned char *)text;
    out->len = strlen(text);
    return PERDURE_OK;
}

static json_t *seconds(long long ms) { return json_real((double)ms / 1000.0); }

#define SUMMARY_COLUMNS "arn, name, status, start_ms, end_ms, version, input, result, error"

/* One execution from a row of SUMMARY_COLUMNS; full: GetDurableExecution's. */
static json_t *execution_json(sqlite3_stmt *q, bool full)
{
    json_t *o = json_object();
    const char *arn = (const char *)sqlite3_column_text(q, 0);
    json_object_set_new(o, "DurableExecutionArn", json_string(arn));
    json_object_set_new(o, "DurableExecutionName", json_string((const char *)sqlite3_column_text(q, 1)));
    json_object_set_new(o, "FunctionArn", json_stringn(arn, function_arn_len(arn)));
    if (full && sqlite3_column_type(q, 6) != SQLITE_NULL)
        json_object_set_new(o, "InputPayload",
                            json_stringn((const char *)sqlite3_column_blob(q, 6), (size_t)sqlite3_column_bytes(q, 6)));
    if (full && sqlite3_column_type(q, 7) != SQLITE_NULL)
        json_object_set_new(o, "Result",
                            json_stringn(sqlite3_column_blob(q, 7) ? (const char *)sqlite3_column_blob(q, 7) : "",
                                         (size_t)sqlite3_column_bytes(q, 7)));
    if (full && sqlite3_column_type(q, 8) != SQLITE_NULL) {
        json_t *e = json_loadb((const char *)sqlite3_column_text(q, 8), (size_t)sqlite3_column_bytes(q, 8), 0, NULL);
        if (e)
            json_object_set_new(o, "Error", e);
    }
    json_object_set_new(o, "StartTimestamp", seconds(sqlite3_column_int64(q, 3)));
    json_object_set_new(o, "Status", json_string((const char *)sqlite3_column_text(q, 2)));
    if (sqlite3_column_type(q, 4) != SQLITE_NULL)
        json_object_set_new(o, "EndTimestamp", seconds(sqlite3_column_int64(q, 4)));
    if (full)
        json_object_set_new(o, "Version", json_string((const char *)sqlite3_column_text(q, 5)));
    return o;
}

perdure_status perdure_store_describe(perdure_store *store, const char *arn, perdure_buf *json)
{
    if (!store || !arn || !json)
        return PERDURE_E_MISUSE;
    *json = (perdure_buf){0};
    sqlite3_stmt *q;
    TRY(sql_prepare(store, "SELECT " SUMMARY_COLUMNS " FROM executions WHERE arn = ?", &q));
    sqlite3_bind_text(q, 1, arn, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    perdure_status st;
    if (rc == SQLITE_ROW)
        st = dump_json(store, execution_json(q, true), json);
    else if (rc == SQLITE_DONE)
        st = pd_fail(&store->err, PERDURE_E_NOT_FOUND, "no execution %s", arn);
    else
        st = sql_fail(store, rc, "describe");
    sql_release(store, q);
    return st;
}

perdure_status perdure_store_list(perdure_store *store, const char *function_name, const char *status,
                                  perdure_buf *json)
{
    if (!store || !json)
        return PERDURE_E_MISUSE;
    *json = (perdure_buf){0};
    sqlite3_stmt *q;
    TRY(sql_prepare(store,
                    "SELECT " SUMMARY_COLUMNS " FROM executions WHERE (?1 IS NULL OR function = ?1) "
                    "AND (?2 IS NULL OR status = ?2) ORDER BY start_ms, id",
                    &q));
    bind_text_or_null(q, 1, function_name, function_name ? strlen(function_name) : 0);
    bind_text_or_null(q, 2, status, status ? strlen(status) : 0);
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        json_array_append_new(arr, execution_json(q, false));
    sql_release(store, q);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return sql_fail(store, rc, "list");
    }
    json_t *root = json_object();
    json_object_set_new(root, "DurableExecutions", arr);
    return dump_json(store, root, json);
}

static perdure_status execution_id(perdure_store *s, const char *arn, sqlite3_int64 *id)
{
    sqlite3_stmt *q;
    TRY(sql_prepare(s, "SELECT id FROM executions WHERE arn = ?", &q));
    sqlite3_bind_text(q, 1, arn, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    perdure_status st = PERDURE_OK;
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(q, 0);
    else if (rc == SQLITE_DONE)
        st = pd_fail(&s->err, PERDURE_E_NOT_FOUND, "no execution %s", arn);
    else
        st = sql_fail(s, rc, "find execution");
    sql_release(s, q);
    return st;
}

perdure_status perdure_store_operations(perdure_store *store, const char *arn, perdure_buf *json)
{
    if (!store || !arn || !json)
        return PERDURE_E_MISUSE;
    *json = (perdure_buf){0};
    perdure_store *s = store;
    sqlite3_int64 id;
    TRY(sql_exec(s, "BEGIN"));   /* one snapshot */
    perdure_status st = execution_id(s, arn, &id);
    pd_checkpoint_response r = {0};
    sqlite3_stmt *q = NULL;
    int rc;
    if (st || (st = sql_prepare(s, "SELECT record FROM operations WHERE execution = ? ORDER BY position", &q)))
        goto done;
    sqlite3_bind_int64(q, 1, id);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        pd_operation *op = pd_op_list_push(&r.ops);
        if (!op) {
            st = pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory");
            goto done;
        }
        if ((st = pd_mp_decode_operation(sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0), op,
                                         &s->err)))
            goto done;
    }
    if (rc != SQLITE_DONE) {
        st = sql_fail(s, rc, "read operations");
        goto done;
    }
    /* The checkpoint response's encoder writes Operations with timestamps in
     * epoch seconds; take its NewExecutionState.Operations. */
    pd_buf b;
    pd_buf_init(&b);
    if (!(st = pd_json_encode_checkpoint_response(&r, &b, &s->err))) {
        json_t *root = json_loadb((const char *)b.data, b.len, 0, NULL);
        json_t *ops = root ? json_object_get(json_object_get(root, "NewExecutionState"), "Operations") : NULL;
        json_t *outj = json_object();
        json_object_set(outj, "Operations", ops ? ops : json_array());
        if (!ops)
            json_decref(json_object_get(outj, "Operations"));
        json_decref(root);
        st = dump_json(s, outj, json);
    }
    pd_buf_free(&b);
done:
    sql_release(s, q);
    pd_checkpoint_response_free(&r);
    sql_exec(s, "COMMIT");
    return st;
}

perdure_status perdure_store_history(perdure_store *store, const char *arn, int include_data, perdure_buf *json)
{
    if (!store || !arn || !json)
        return PERDURE_E_MISUSE;
    *json = (perdure_buf){0};
    perdure_store *s = store;
    sqlite3_int64 id;
    TRY(sql_exec(s, "BEGIN"));
    perdure_status st = execution_id(s, arn, &id);
    sqlite3_stmt *q = NULL;
    pd_buf b;
    pd_buf_init(&b);
    int rc;
    if (st || (st = sql_prepare(s, "SELECT json FROM events WHERE execution = ? ORDER BY event_id", &q)))
        goto done;
    sqlite3_bind_int64(q, 1, id);
    pd_buf_append_str(&b, "{\"Events\":[");
    bool first = true;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (!first)
            pd_buf_append(&b, ",", 1);
        first = false;
        const unsigned char *text = sqlite3_column_text(q, 0);
        size_t len = (size_t)sqlite3_column_bytes(q, 0);
        if (include_data) {
            pd_buf_append(&b, text, len);
        } else {
            pd_event e;
            if ((st = pd_event_decode_json(text, len, &e, &s->err)))
                goto done;
            st = pd_event_encode_json(&e, false, &b, &s->err);
            pd_event_clear(&e);
            if (st)
                goto done;
        }
    }
    if (rc != SQLITE_DONE) {
        st = sql_fail(s, rc, "read events");
        goto done;
    }
    pd_buf_append_str(&b, "]}");
    if (b.oom) {
        st = pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory");
        goto done;
    }
    pd_buf_release(&b, json);
done:
    sql_release(s, q);
    pd_buf_free(&b);
    sql_exec(s, "COMMIT");
    return st;
}

perdure_status perdure_store_status_events(perdure_store *store, long long after, perdure_buf *json, long long *last)
{
    if (!store || !json)
        return PERDURE_E_MISUSE;
    *json = (perdure_buf){0};
    if (last)
        *last = after;
    sqlite3_stmt *q;
    TRY(sql_prepare(store, "SELECT sequence, time_ms, detail FROM status_events WHERE sequence > ? ORDER BY sequence",
                    &q));
    sqlite3_bind_int64(q, 1, after);
    json_t *arr = json_array();
    int rc;
    long long newest = after;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        json_t *e = json_object();
        newest = sqlite3_column_int64(q, 0);
        char when[32];
        iso_time(sqlite3_column_int64(q, 1), when);
        json_object_set_new(e, "Sequence", json_integer(newest));
        json_object_set_new(e, "detail-type", json_string("Durable Execution Status Change"));
        json_object_set_new(e, "source", json_string("perdure"));
        json_object_set_new(e, "time", json_string(when));
        json_t *d = json_loadb((const char *)sqlite3_column_text(q, 2), (size_t)sqlite3_column_bytes(q, 2), 0, NULL);
        json_object_set_new(e, "detail", d ? d : json_object());
        json_array_append_new(arr, e);
    }
    sql_release(store, q);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return sql_fail(store, rc, "read status events");
    }
    json_t *root = json_object();
    json_object_set_new(root, "Events", arr);
    TRY(dump_json(store, root, json));
    if (last)
        *last = newest;
    return PERDURE_OK;
}

/* ---- the outside world ----------------------------------------------------- */

typedef enum cb_kind { CB_SUCCEED, CB_FAIL, CB_HEARTBEAT } cb_kind;

/* Loads the execution in a write transaction, applies, persists, commits. */
static perdure_status mutate_callback(perdure_store *s, const char *callback_id, cb_kind kind, const void *result,
                                      size_t len, const perdure_error_info *error)
{
    pd_error *e = NULL;
    if (kind == CB_FAIL && error && !(e = pd_error_from_info(error)))
        return pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory");
    perdure_status st = begin_tx(s);
    if (st) {
        pd_error_free(e);
        return st;
    }
    sqlite3_stmt *q = NULL;
    pd_exec *x = NULL;
    row r = {0};
    if ((st = sql_prepare(s, "SELECT execution FROM callbacks WHERE callback_id = ?", &q)))
        goto done;
    sqlite3_bind_text(q, 1, callback_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        st = pd_fail(&s->err, PERDURE_E_NOT_FOUND, "no callback with id %s", callback_id);
        goto done;
    }
    if (rc != SQLITE_ROW) {
        st = sql_fail(s, rc, "find callback");
        goto done;
    }
    sqlite3_int64 id = sqlite3_column_int64(q, 0);
    if ((st = load_row(s, id, NULL, &r)) || (st = load_exec(s, id, &x)))
        goto done;
    long long now = now_ms(s);
    perdure_status applied = kind == CB_SUCCEED ? pd_exec_callback_succeed(x, callback_id, result, len, now, &s->err)
                             : kind == CB_FAIL  ? pd_exec_callback_fail(x, callback_id, e, now, &s->err)
                                                : pd_exec_callback_heartbeat(x, callback_id, now, &s->err);
    if (!exec_usable(applied)) {
        st = applied;
        goto done;
    }
    pd_err keep = s->err;
    lease_cols lc = {r.lease_owner, r.lease_token, r.lease_expires_ms};
    if ((st = persist(s, id, x, &r, &lc, now, NULL)) || (st = commit(s)))
        goto done;
    s->err = keep;
    st = public_status(applied);
    if (st == PERDURE_E_CONFLICT && strstr(s->err.msg, callback_id) == NULL) {
        char m[sizeof s->err.msg];
        snprintf(m, sizeof m, "%s", s->err.msg);
        pd_fail(&s->err, st, "callback %s: %s", callback_id, m);
    }
done:
    if (st)
        rollback(s);
    sql_release(s, q);
    pd_exec_free(x);
    row_free(&r);
    pd_error_free(e);
    return st;
}

perdure_status perdure_store_callback_succeed(perdure_store *store, const char *callback_id, const void *result,
                                              unsigned long long len)
{
    if (!store || !callback_id || (!result && len))
        return PERDURE_E_MISUSE;
    return mutate_callback(store, callback_id, CB_SUCCEED, result ? result : "", (size_t)len, NULL);
}

perdure_status perdure_store_callback_fail(perdure_store *store, const char *callback_id,
                                           const perdure_error_info *error)
{
    if (!store || !callback_id)
        return PERDURE_E_MISUSE;
    return mutate_callback(store, callback_id, CB_FAIL, NULL, 0, error);
}

perdure_status perdure_store_callback_heartbeat(perdure_store *store, const char *callback_id)
{
    if (!store || !callback_id)
        return PERDURE_E_MISUSE;
    return mutate_callback(store, callback_id, CB_HEARTBEAT, NULL, 0, NULL);
}

perdure_status perdure_store_stop(perdure_store *store, const char *arn, const perdure_error_info *error)
{
    if (!store || !arn)
        return PERDURE_E_MISUSE;
    perdure_store *s = store;
    pd_error *e = NULL;
    if (error && !(e = pd_error_from_info(error)))
        return pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory");
    perdure_status st = begin_tx(s);
    if (st) {
        pd_error_free(e);
        return st;
    }
    pd_exec *x = NULL;
    row r = {0};
    if ((st = load_row(s, 0, arn, &r)) || (st = load_exec(s, r.id, &x)))
        goto done;
    if (pd_exec_status(x) != PERDURE_STATUS_STARTED) {
        st = pd_fail(&s->err, PERDURE_E_CONFLICT, "execution %s has already ended (%s)", arn, r.status);
        goto done;
    }
    long long now = now_ms(s);
    if ((st = pd_exec_stop(x, e, now, NULL, &s->err)))
        goto done;
    lease_cols lc = {r.lease_owner, r.lease_token, r.lease_expires_ms};
    if ((st = persist(s, r.id, x, &r, &lc, now, NULL)))
        goto done;
    st = commit(s);
done:
    if (st)
        rollback(s);
    pd_exec_free(x);
    row_free(&r);
    pd_error_free(e);
    return public_status(st);
}

/* ---- leases ------------------------------------------------------------------- */

static void lease_free(perdure_lease *l)
{
    if (!l)
        return;
    pd_exec_free(l->x);
    free(l->arn);
    free(l->function);
    free(l->worker);
    pd_buf_free(&l->input);
    free(l);
}

/* Tries to begin an invocation of execution id. *out stays NULL when the
 * execution does not want one after all (its row is refreshed). */
static perdure_status try_lease(perdure_store *s, sqlite3_int64 id, const char *worker, long long now,
                                perdure_lease **out)
{
    row r;
    pd_exec *x = NULL;
    perdure_lease *l = NULL;
    pd_invocation inv = {0};
    perdure_status st = load_row(s, id, NULL, &r);
    if (st || (st = load_exec(s, id, &x)))
        goto done;
    if (pd_exec_invocation_running(x)) {
        if (r.lease_token[0] && r.lease_expires_ms > now)
            goto done;   /* leased and valid: not ours */
        if ((st = pd_exec_invocation_end(x, NULL, "lease expired", now, &s->err)) && st != PERDURE_E_INVALID)
            goto done;
        st = PERDURE_OK;
    }
    if ((st = pd_exec_fire_timers(x, now, &s->err)))
        goto done;
    if (!pd_exec_wants_invocation(x, now)) {
        st = persist(s, id, x, &r, NULL, now, NULL);
        goto done;
    }
    if (!(l = calloc(1, sizeof *l))) {
        st = pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory");
        goto done;
    }
    pd_buf_init(&l->input);
    char rid[33];
    if (random_hex(l->token, 16) || random_hex(rid, 16)) {
        st = pd_fail(&s->err, PERDURE_E_STORE, "lease: getrandom failed: %s", strerror(errno));
        goto done;
    }
    if ((st = pd_exec_invocation_begin(x, now, rid, &inv, &s->err)) ||
        (st = pd_mp_encode_invocation(&inv, COMPRESS_THRESHOLD, &l->input, &s->err)))
        goto done;
    pd_exec_info info;
    pd_exec_get_info(x, &info);
    l->store = s;
    l->exec_id = id;
    l->expires_ms = now + s->lease_ms;
    l->arn = strdup(info.arn);
    l->function = strdup(info.function_name);
    l->worker = strdup(worker);
    if (!l->arn || !l->function || !l->worker) {
        st = pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory");
        goto done;
    }
    lease_cols lc = {l->worker, l->token, l->expires_ms};
    if ((st = persist(s, id, x, &r, &lc, now, &l->revision)))
        goto done;
    l->x = x;
    x = NULL;
    *out = l;
    l = NULL;
done:
    pd_invocation_free(&inv);
    pd_exec_free(x);
    lease_free(l);
    row_free(&r);
    return st;
}

/* " OR ".join("(function = ? AND version = ?)") */
static perdure_status functions_clause(perdure_store *s, unsigned n, pd_buf *sql)
{
    pd_buf_append_str(sql, "(");
    for (unsigned i = 0; i < n; i++)
        pd_buf_printf(sql, "%s(function = ?%u AND version = ?%u)", i ? " OR " : "", 2 * i + 2, 2 * i + 3);
    pd_buf_append_str(sql, ")");
    return sql->oom ? pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory") : PERDURE_OK;
}

static void bind_functions(sqlite3_stmt *q, const perdure_function_ref *functions, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        sqlite3_bind_text(q, (int)(2 * i + 2), functions[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, (int)(2 * i + 3), functions[i].version ? functions[i].version : "$LATEST", -1,
                          SQLITE_STATIC);
    }
}

static bool functions_ok(const perdure_function_ref *functions, unsigned n)
{
    if (!functions || !n || n > 1000)
        return false;
    for (unsigned i = 0; i < n; i++)
        if (!functions[i].name)
            return false;
    return true;
}

perdure_status perdure_store_lease(perdure_store *store, const perdure_function_ref *functions, unsigned int n,
                                   const char *worker_id, perdure_lease **out)
{
    if (!out)
        return PERDURE_E_MISUSE;
    *out = NULL;
    if (!store || !functions_ok(functions, n))
        return PERDURE_E_MISUSE;
    perdure_store *s = store;
    pd_buf sql;
    pd_buf_init(&sql);
    pd_buf_append_str(&sql, "SELECT id FROM executions WHERE status = 'RUNNING' AND ready_ms <= ?1 AND ");
    perdure_status st = functions_clause(s, n, &sql);
    pd_buf_printf(&sql, " ORDER BY ready_ms, id LIMIT %d", LEASE_CANDIDATES);
    if (!st && sql.oom)
        st = pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory");
    pd_buf_append(&sql, "", 1);
    if (st || (st = begin_tx(s))) {
        pd_buf_free(&sql);
        return st;
    }
    long long now = now_ms(s);
    sqlite3_stmt *q = NULL;
    sqlite3_int64 ids[LEASE_CANDIDATES];
    size_t n_ids = 0;
    if ((st = sql_prepare_once(s, (const char *)sql.data, &q)))
        goto done;
    sqlite3_bind_int64(q, 1, now);
    bind_functions(q, functions, n);
    int rc;
    while (n_ids < LEASE_CANDIDATES && (rc = sqlite3_step(q)) == SQLITE_ROW)
        ids[n_ids++] = sqlite3_column_int64(q, 0);
    if (n_ids < LEASE_CANDIDATES && rc != SQLITE_DONE) {
        st = sql_fail(s, rc, "find ready executions");
        goto done;
    }
    sql_release(s, q);
    q = NULL;
    for (size_t i = 0; i < n_ids && !*out; i++)
        if ((st = try_lease(s, ids[i], worker_id ? worker_id : "worker", now, out)))
            goto done;
    if ((st = commit(s))) {
        lease_free(*out);
        *out = NULL;
    }
done:
    if (st) {
        rollback(s);
        lease_free(*out);
        *out = NULL;
    }
    sql_release(s, q);
    pd_buf_free(&sql);
    return st;
}

perdure_status perdure_store_release_worker(perdure_store *store, const char *worker_id, unsigned int *released)
{
    if (released)
        *released = 0;
    if (!store || !worker_id)
        return PERDURE_E_MISUSE;
    perdure_store *s = store;
    perdure_status st = begin_tx(s);
    if (st)
        return st;
    /* An expired lease is taken over at the next perdure_store_lease, which
     * records the interrupted invocation as crashed. */
    long long now = now_ms(s);
    sqlite3_stmt *q = NULL;
    if ((st = sql_prepare(s, "UPDATE executions SET lease_expires_ms = ?1, ready_ms = ?1 "
                             "WHERE lease_owner = ?2 AND lease_token IS NOT NULL AND lease_token != '' "
                             "AND status = 'RUNNING'", &q)))
        goto done;
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_text(q, 2, worker_id, -1, SQLITE_STATIC);
    if ((st = sql_done(s, q)))
        goto done;
    if (released)
        *released = (unsigned)sqlite3_changes(s->db);
    st = commit(s);
done:
    if (st)
        rollback(s);
    return st;
}

perdure_status perdure_lease_input(const perdure_lease *lease, const unsigned char **data, unsigned long long *len)
{
    if (!lease || !data || !len)
        return PERDURE_E_MISUSE;
    *data = lease->input.data;
    *len = lease->input.len;
    return PERDURE_OK;
}

const char *perdure_lease_function(const perdure_lease *lease) { return lease ? lease->function : NULL; }
const char *perdure_lease_arn(const perdure_lease *lease) { return lease ? lease->arn : NULL; }
const char *perdure_lease_errmsg(const perdure_lease *lease) { return lease ? lease->err.msg : "lease is NULL"; }

/* Opens the lease's write transaction: checks that the lease still holds the
 * execution and makes l->x current. */
static perdure_status lease_begin(perdure_lease *l, row *r)
{
    perdure_store *s = l->store;
    memset(r, 0, sizeof *r);
    perdure_status st = begin_tx(s);
    if (st)
        return pd_fail(&l->err, st, "%s", s->err.msg);
    if ((st = load_row(s, l->exec_id, NULL, r)))
        goto fail;
    if (strcmp(r->lease_token, l->token) != 0) {
        st = pd_fail(&s->err, PERDURE_E_CONFLICT,
                     "the lease on %s was lost: it expired and the execution was taken over", l->arn);
        goto fail;
    }
    if (!l->x || r->revision != l->revision) {
        pd_exec_free(l->x);
        l->x = NULL;
        if ((st = load_exec(s, l->exec_id, &l->x)))
            goto fail;
    }
    return PERDURE_OK;
fail:
    rollback(s);
    row_free(r);
    return pd_fail(&l->err, st, "%s", s->err.msg);
}

/* Persists and commits; on failure drops the cached exec. */
static perdure_status lease_commit(perdure_lease *l, row *r, long long now)
{
    perdure_store *s = l->store;
    lease_cols lc = {l->worker, l->token, l->expires_ms};
    perdure_status st = persist(s, l->exec_id, l->x, r, &lc, now, &l->revision);
    if (!st)
        st = commit(s);
    if (st) {
        rollback(s);
        pd_exec_free(l->x);
        l->x = NULL;
        pd_fail(&l->err, st, "%s", s->err.msg);
    }
    row_free(r);
    return st;
}

static void lease_abort(perdure_lease *l, row *r)
{
    rollback(l->store);
    pd_exec_free(l->x);
    l->x = NULL;
    row_free(r);
}

perdure_status perdure_lease_checkpoint(void *lease, const unsigned char *request, unsigned long long len,
                                        perdure_buf *response)
{
    perdure_lease *l = lease;
    if (!l || !request || !response)
        return PERDURE_E_MISUSE;
    *response = (perdure_buf){0};
    pd_bytes token = {0}, client_token = {0};
    pd_update *updates = NULL;
    size_t n = 0;
    TRY(pd_mp_decode_checkpoint_request(request, (size_t)len, &token, &updates, &n, &client_token, &l->err));
    row r;
    perdure_status st = lease_begin(l, &r);
    if (st)
        goto out;
    long long now = now_ms(l->store);
    pd_checkpoint_response resp = {0};
    perdure_status applied = pd_exec_checkpoint(l->x, token.data, updates, n,
                                                client_token.present ? client_token.data : NULL, now, &resp, &l->err);
    if (!exec_usable(applied)) {
        lease_abort(l, &r);
        st = applied;
        goto out;
    }
    pd_err keep = l->err;
    if ((st = lease_commit(l, &r, now))) {
        pd_checkpoint_response_free(&resp);
        goto out;
    }
    if (applied) {
        l->err = keep;
        st = public_status(applied);
        l->err.code = st;
        goto out;
    }
    pd_buf b;
    pd_buf_init(&b);
    st = pd_mp_encode_checkpoint_response(&resp, COMPRESS_THRESHOLD, &b, &l->err);
    pd_checkpoint_response_free(&resp);
    if (st)
        pd_buf_free(&b);
    else
        pd_buf_release(&b, response);
out:
    pd_updates_free(updates, n);
    pd_bytes_clear(&token);
    pd_bytes_clear(&client_token);
    return st;
}

/* Ends the invocation (output NULL: a crash). */
static perdure_status lease_end(perdure_lease *l, const pd_output *output, const char *crash)
{
    row r;
    perdure_status st = lease_begin(l, &r);
    if (st)
        return st;
    long long now = now_ms(l->store);
    perdure_status applied = pd_exec_invocation_end(l->x, output, crash, now, &l->err);
    if (!exec_usable(applied)) {
        lease_abort(l, &r);
        return applied;
    }
    pd_err keep = l->err;
    TRY(lease_commit(l, &r, now));
    l->err = keep;
    return public_status(applied);
}

/* Ends the invocation with its output; the lease stays allocated so that
 * its message can be read. */
static perdure_status lease_finish(perdure_lease *l, const void *output, unsigned long long len)
{
    pd_output o = {0};
    perdure_status st;
    if (!output) {
        st = lease_end(l, NULL, "the worker completed the lease without an output");
        if (!st)
            st = pd_fail(&l->err, PERDURE_E_MISUSE, "the worker completed the lease without an output");
    } else if ((st = pd_mp_decode_output(output, (size_t)len, &o, &l->err))) {
        char m[sizeof l->err.msg + 32];
        snprintf(m, sizeof m, "invalid invocation output: %s", l->err.msg);
        pd_err keep = l->err;
        perdure_status ended = lease_end(l, NULL, m);
        (void)ended;
        l->err = keep;
    } else {
        st = lease_end(l, &o, NULL);
    }
    pd_output_free(&o);
    return st;
}

/* The lease is freed whatever the status: its reason moves to the store,
 * where perdure_store_errmsg reads it. */
static void lease_ended(perdure_lease *lease, perdure_status st)
{
    if (st)
        lease->store->err = lease->err;
    lease_free(lease);
}

perdure_status perdure_lease_complete(perdure_lease *lease, const void *output, unsigned long long len)
{
    if (!lease)
        return PERDURE_E_MISUSE;
    perdure_status st = lease_finish(lease, output, len);
    lease_ended(lease, st);
    return st;
}

perdure_status perdure_lease_abandon(perdure_lease *lease, const char *reason)
{
    if (!lease)
        return PERDURE_E_MISUSE;
    perdure_status st = lease_end(lease, NULL, reason);
    lease_ended(lease, st);
    return st;
}

/* ---- waking up ---------------------------------------------------------------- */

perdure_status perdure_store_next_wakeup(perdure_store *store, const perdure_function_ref *functions, unsigned int n,
                                         long long *due_ms)
{
    if (!due_ms)
        return PERDURE_E_MISUSE;
    *due_ms = -1;
    if (!store || !functions_ok(functions, n))
        return PERDURE_E_MISUSE;
    perdure_store *s = store;
    pd_buf sql;
    pd_buf_init(&sql);
    pd_buf_append_str(&sql, "SELECT min(ready_ms) FROM executions WHERE status = 'RUNNING' AND ready_ms IS NOT NULL "
                            "AND ?1 IS NOT NULL AND ");
    perdure_status st = functions_clause(s, n, &sql);
    pd_buf_append(&sql, "", 1);
    sqlite3_stmt *q = NULL;
    if (!st && sql.oom)
        st = pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory");
    if (!st && !(st = sql_prepare_once(s, (const char *)sql.data, &q))) {
        sqlite3_bind_int(q, 1, 1);
        bind_functions(q, functions, n);
        int rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            if (sqlite3_column_type(q, 0) != SQLITE_NULL) {
                long long due = sqlite3_column_int64(q, 0), now = now_ms(s);
                *due_ms = due < now ? now : due;
            }
        } else {
            st = sql_fail(s, rc, "next wakeup");
        }
    }
    sql_release(s, q);
    pd_buf_free(&sql);
    return st;
}

/* A commit by another connection changes PRAGMA data_version (SQLite's own
 * cheap test). The wait itself is poll() on an inotify descriptor watching the
 * database's directory for writes to the db and -wal files: every commit in
 * WAL mode writes the -wal file, so the process sleeps in the kernel until
 * some process commits or the timeout passes. Events from this process's own
 * writes wake it too; data_version tells them apart. */
perdure_status perdure_store_wait_change(perdure_store *store, long long timeout_ms, int *changed)
{
    if (!changed)
        return PERDURE_E_MISUSE;
    *changed = 0;
    if (!store || timeout_ms < 0)
        return PERDURE_E_MISUSE;
    perdure_store *s = store;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (!s->memory) {
            sqlite3_int64 v;
            TRY(read_data_version(s, &v));
            if (v != s->data_version) {
                s->data_version = v;
                *changed = 1;
                return PERDURE_OK;
            }
        }
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long long elapsed = (long long)(t.tv_sec - start.tv_sec) * 1000 + (t.tv_nsec - start.tv_nsec) / 1000000;
        long long left = timeout_ms - elapsed;
        if (left <= 0)
            return PERDURE_OK;
        if (s->inotify_fd < 0) {
            /* :memory: (nothing else can write), or no inotify: sleep, then
             * re-check data_version (a file store polls at 1 s at worst). */
            long long nap = s->memory ? left : (left < 1000 ? left : 1000);
            struct timespec ts = {.tv_sec = nap / 1000, .tv_nsec = (nap % 1000) * 1000000};
            while (nanosleep(&ts, &ts) && errno == EINTR) {
            }
            continue;
        }
        struct pollfd p = {.fd = s->inotify_fd, .events = POLLIN};
        int rc = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (rc < 0 && errno != EINTR)
            return pd_fail(&s->err, PERDURE_E_STORE, "wait_change: poll: %s", strerror(errno));
        if (rc > 0) {
            char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
            while (read(s->inotify_fd, buf, sizeof buf) > 0) {
            }
        }
    }
}

/* ---- the worker runtime ------------------------------------------------------- */

long long perdure_store_now(perdure_store *store) { return store ? now_ms(store) : -1; }

static long long monotonic_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A lease attempt that finds nothing although something is due now (a race
 * with another worker, a timer that fired into nothing) is retried at once
 * the first time, then after this pause, so that a row that stays due but is
 * never leasable cannot make the loop spin. */
#define LEASE_RETRY_PAUSE_MS 10

perdure_status perdure_store_lease_wait(perdure_store *store, const perdure_function_ref *functions, unsigned int n,
                                        const char *worker_id, long long max_wait_ms, perdure_lease **out)
{
    if (!out)
        return PERDURE_E_MISUSE;
    *out = NULL;
    if (!store || !functions_ok(functions, n))
        return PERDURE_E_MISUSE;
    long long start = monotonic_ms();
    bool due_missed = false;
    for (;;) {
        TRY(perdure_store_lease(store, functions, n, worker_id, out));
        if (*out)
            return PERDURE_OK;
        long long left = max_wait_ms < 0 ? LLONG_MAX : max_wait_ms - (monotonic_ms() - start);
        if (left <= 0)
            return PERDURE_OK;
        long long due;
        TRY(perdure_store_next_wakeup(store, functions, n, &due));
        long long nap = left;
        if (due >= 0) {
            long long until = due - now_ms(store);
            if (until <= 0) {
                until = due_missed ? LEASE_RETRY_PAUSE_MS : 0;
                due_missed = true;
            } else {
                due_missed = false;
            }
            if (until < nap)
                nap = until;
        }
        if (nap > 0) {
            int changed;
            TRY(perdure_store_wait_change(store, nap, &changed));
        }
    }
}

/* The entry i of an array of perdure_worker_function whose stride is the
 * first entry's size (a struct that grew is still read as the caller wrote it). */
static const perdure_worker_function *worker_function_at(const perdure_worker_function *functions, unsigned i)
{
    return (const perdure_worker_function *)(const void *)((const unsigned char *)functions +
                                                            (size_t)i * functions[0].size);
}

/* Copies a lease's message into the store's, where the caller reads it. */
static perdure_status store_fail_from_lease(perdure_store *s, perdure_status st, const char *what,
                                            const perdure_lease *l)
{
    return pd_fail(&s->err, st, "%s %s: %s", what, l->arn, l->err.msg[0] ? l->err.msg : perdure_status_name(st));
}

perdure_status perdure_worker_run_one(perdure_store *store, const perdure_worker_function *functions, unsigned int n,
                                      const char *worker_id, long long max_wait_ms, int *ran)
{
    if (!ran)
        return PERDURE_E_MISUSE;
    *ran = 0;
    if (!store || !functions || !n || n > 1000 || functions[0].size < sizeof(perdure_worker_function))
        return PERDURE_E_MISUSE;
    for (unsigned i = 0; i < n; i++) {
        const perdure_worker_function *f = worker_function_at(functions, i);
        if (f->size != functions[0].size || !f->name || !f->handler)
            return PERDURE_E_MISUSE;
    }
    perdure_store *s = store;
    perdure_function_ref *refs = calloc(n, sizeof *refs);
    if (!refs)
        return pd_fail(&s->err, PERDURE_E_NOMEM, "out of memory");
    for (unsigned i = 0; i < n; i++) {
        const perdure_worker_function *f = worker_function_at(functions, i);
        refs[i] = (perdure_function_ref){f->name, f->version};
    }
    perdure_lease *l = NULL;
    perdure_status st = perdure_store_lease_wait(s, refs, n, worker_id, max_wait_ms, &l);
    free(refs);
    if (st || !l)
        return st;
    *ran = 1;
    /* The lease's execution is pinned to one (function, version) of ours. */
    pd_exec_info info;
    pd_exec_get_info(l->x, &info);
    const perdure_worker_function *fn = NULL;
    for (unsigned i = 0; i < n && !fn; i++) {
        const perdure_worker_function *f = worker_function_at(functions, i);
        if (strcmp(f->name, info.function_name) == 0 &&
            strcmp(f->version ? f->version : "$LATEST", info.version) == 0)
            fn = f;
    }
    if (!fn) {   /* cannot happen: the lease matched one of refs */
        st = pd_fail(&s->err, PERDURE_E_INTERNAL, "leased %s, which no function serves", l->arn);
        perdure_status ended = lease_end(l, NULL, s->err.msg);
        (void)ended;
        lease_free(l);
        return st;
    }
    perdure_vm_options opts = {.size = sizeof opts};
    perdure_vm_options_init(&opts);
    opts.wire = PERDURE_WIRE_MSGPACK;
    perdure_buf output = {0};
    st = perdure_invoke_handler(&opts, l->input.data, l->input.len, now_ms(s), fn->handler, fn->user,
                                perdure_lease_checkpoint, l, &output);
    if (st) {
        /* The invocation could not finish: record a crash so that the
         * execution is re-invoked from its last checkpoint. */
        store_fail_from_lease(s, st, "invocation of", l);
        pd_err invoke_err = s->err;
        perdure_status ended = lease_end(l, NULL, s->err.msg);
        if (ended && ended != PERDURE_E_CONFLICT)
            st = store_fail_from_lease(s, ended, "abandoning", l);
        else
            s->err = invoke_err;
    } else {
        st = lease_finish(l, output.data, output.len);
        if (st)
            store_fail_from_lease(s, st, "completing", l);
    }
    perdure_buf_free(&output);
    lease_free(l);
    return st;
}

/*
 * perdure_bench: one measurement of one workload, printed as one JSON line.
 *
 *     perdure_bench WORKLOAD [--quick] [options]
 *
 * benches/run calls it at least five times per workload and takes medians;
 * `meson test --benchmark` runs the quick set. It uses only the public header
 * and libperdure, as any worker would. Workloads:
 *
 *   checkpoint  --payload BYTES --steps N [--batched]   the VM's checkpoint path, no I/O
 *   fsync       --dir D --count N                       raw write+fdatasync appends (the floor)
 *   commit      --dir D --batches N                     checkpoint batches committed to a SQLite store
 *   sequential  --store memory|durable --steps N        one execution of N steps (C worker)
 *   many        --dir D --executions N --steps N --threads T
 *   map         --store memory|durable --items N --concurrency C
 *   replay      --ops N                                 resume after N recorded operations
 *
 * Durable stores live in a fresh directory under --dir (default: the current
 * directory, or $PERDURE_BENCH_DIR), removed afterwards.
 */
#include <perdure.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- small helpers ---------------------------------------------------- */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("perdure_bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define CHECK(call)                                                                       \
    do {                                                                                  \
        perdure_status st_ = (call);                                                      \
        if (st_ != PERDURE_OK)                                                            \
            die("%s:%d: %s: %s", __FILE__, __LINE__, #call, perdure_status_name(st_));    \
    } while (0)

#define CHECK_VM(vm, call)                                                                \
    do {                                                                                  \
        perdure_status st_ = (call);                                                      \
        if (st_ != PERDURE_OK)                                                            \
            die("%s:%d: %s: %s: %s", __FILE__, __LINE__, #call, perdure_status_name(st_), \
                perdure_vm_errmsg(vm));                                                   \
    } while (0)

#define CHECK_STORE(store, call)                                                          \
    do {                                                                                  \
        perdure_status st_ = (call);                                                      \
        if (st_ != PERDURE_OK)                                                            \
            die("%s:%d: %s: %s: %s", __FILE__, __LINE__, #call, perdure_status_name(st_), \
                perdure_store_errmsg(store));                                             \
    } while (0)

/* A growable byte buffer with just enough msgpack to write invocation inputs
 * and checkpoint responses (schema/records.md). */
typedef struct {
    unsigned char *p;
    size_t len, cap;
} wbuf;

static void wb_put(wbuf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p)
            die("out of memory");
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void wb_byte(wbuf *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    wb_put(b, &c, 1);
}

static void wb_be(wbuf *b, unsigned long long v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        wb_byte(b, (unsigned)(v >> (8 * i)) & 0xff);
}

static void mp_uint(wbuf *b, unsigned long long v)
{
    if (v < 128) {
        wb_byte(b, (unsigned)v);
    } else if (v < 256) {
        wb_byte(b, 0xcc);
        wb_be(b, v, 1);
    } else if (v < 65536) {
        wb_byte(b, 0xcd);
        wb_be(b, v, 2);
    } else if (v < 4294967296ULL) {
        wb_byte(b, 0xce);
        wb_be(b, v, 4);
    } else {
        wb_byte(b, 0xcf);
        wb_be(b, v, 8);
    }
}

static void mp_map(wbuf *b, unsigned n)
{
    if (n < 16) {
        wb_byte(b, 0x80 | n);
    } else {
        wb_byte(b, 0xde);
        wb_be(b, n, 2);
    }
}

static void mp_array(wbuf *b, unsigned long long n)
{
    if (n < 16) {
        wb_byte(b, 0x90 | (unsigned)n);
    } else if (n < 65536) {
        wb_byte(b, 0xdc);
        wb_be(b, n, 2);
    } else {
        wb_byte(b, 0xdd);
        wb_be(b, n, 4);
    }
}

static void mp_str(wbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (n < 32) {
        wb_byte(b, 0xa0 | (unsigned)n);
    } else if (n < 256) {
        wb_byte(b, 0xd9);
        wb_be(b, n, 1);
    } else {
        wb_byte(b, 0xda);
        wb_be(b, n, 2);
    }
    wb_put(b, s, n);
}

static void mp_bin(wbuf *b, const void *data, size_t n)
{
    if (n < 256) {
        wb_byte(b, 0xc4);
        wb_be(b, n, 1);
    } else if (n < 65536) {
        wb_byte(b, 0xc5);
        wb_be(b, n, 2);
    } else {
        wb_byte(b, 0xc6);
        wb_be(b, n, 4);
    }
    wb_put(b, data, n);
}

/* A ~100-byte JSON object (exactly 100 bytes), different for each i. */
static void json_payload_100(unsigned long long i, char out[101])
{
    int n = snprintf(out, 101, "{\"id\":%08llu,\"sku\":\"SKU-%06llu\",\"qty\":%3llu,\"status\":\"shipped\",\"note\":\"",
                     i % 100000000ULL, (i * 7919) % 1000000ULL, i % 997);
    for (; n < 98; n++)
        out[n] = (char)('a' + (i + (unsigned long long)n) % 26);
    out[98] = '"';
    out[99] = '}';
    out[100] = 0;
}

static void fill_payload(unsigned char out[100], unsigned long long seed)
{
    char one[101];
    json_payload_100(seed, one);
    memcpy(out, one, 100);
}

/* A JSON document of `size` bytes (>= 100): an array of such objects, as
 * compressible as real JSON records. */
static unsigned char *json_payload(size_t size, unsigned long long seed)
{
    unsigned char *p = malloc(size);
    if (!p)
        die("out of memory");
    if (size <= 100) {
        char one[101];
        json_payload_100(seed, one);
        memcpy(p, one, size);
        return p;
    }
    size_t len = 0;
    p[len++] = '[';
    for (unsigned long long i = 0; len + 102 <= size - 1; i++) {
        char one[101];
        json_payload_100(seed * 1000 + i, one);
        if (i)
            p[len++] = ',';
        memcpy(p + len, one, 100);
        len += 100;
    }
    while (len < size - 1)
        p[len++] = ' ';
    p[len++] = ']';
    return p;
}

static const char ARN[] = "arn:aws:lambda:us-east-1:000000000000:function:bench:$LATEST/durable-execution/b/1";

/* An invocation input (records.md 1.6) holding the EXECUTION operation and
 * `ops` SUCCEEDED root steps named "s" with 100-byte results. */
static void build_input(wbuf *b, unsigned long long ops)
{
    static const char input[] = "{\"order\":42}";
    mp_map(b, 4);
    mp_uint(b, 0);
    mp_uint(b, 1);
    mp_uint(b, 1);
    mp_str(b, ARN);
    mp_uint(b, 2);
    mp_str(b, "token-0");
    mp_uint(b, 3);
    mp_array(b, ops + 1);
    mp_map(b, 5);
    mp_uint(b, 1);
    mp_str(b, "execution-0");
    mp_uint(b, 4);
    mp_uint(b, PERDURE_TYPE_EXECUTION);
    mp_uint(b, 6);
    mp_uint(b, PERDURE_STATUS_STARTED);
    mp_uint(b, 7);
    mp_uint(b, 1767225600000ULL);
    mp_uint(b, 9);
    mp_bin(b, input, sizeof input - 1);
    for (unsigned long long n = 1; n <= ops; n++) {
        char raw[32], id[80], payload[101];
        snprintf(raw, sizeof raw, "%llu", n);
        CHECK(perdure_id_hash(PERDURE_IDS_BLAKE2B, raw, id, sizeof id));
        json_payload_100(n, payload);
        mp_map(b, 9);
        mp_uint(b, 1);
        mp_str(b, id);
        mp_uint(b, 3);
        mp_str(b, "s");
        mp_uint(b, 4);
        mp_uint(b, PERDURE_TYPE_STEP);
        mp_uint(b, 5);
        mp_str(b, "Step");
        mp_uint(b, 6);
        mp_uint(b, PERDURE_STATUS_SUCCEEDED);
        mp_uint(b, 7);
        mp_uint(b, 1767225600000ULL + n);
        mp_uint(b, 8);
        mp_uint(b, 1767225600000ULL + n + 1);
        mp_uint(b, 11);
        mp_bin(b, payload, 100);
        mp_uint(b, 13);
        mp_uint(b, 1);
    }
}

/* The smallest valid checkpoint response (records.md 1.8): a new token and no
 * operations, which is what the embedded service answers to a plain step. */
static const unsigned char MIN_RESPONSE[] = {0x82, 0x00, 0x01, 0x01, 0xa3, 't', 'o', 'k'};

/* Number of updates in a msgpack checkpoint request (records.md 1.7): the
 * encoder writes key 0, key 1 (the token, a str) and key 2 (the array). */
static unsigned long long count_updates(const unsigned char *p, unsigned long long len)
{
    unsigned long long i = 0;
    if (len < 4 || (p[0] & 0xf0) != 0x80 || p[1] != 0x00 || p[3] != 0x01)
        die("unexpected checkpoint request layout");
    i = 4;
    unsigned long long slen;
    if ((p[i] & 0xe0) == 0xa0) {
        slen = p[i] & 0x1f;
        i += 1;
    } else if (p[i] == 0xd9) {
        slen = p[i + 1];
        i += 2;
    } else if (p[i] == 0xda) {
        slen = ((unsigned long long)p[i + 1] << 8) | p[i + 2];
        i += 3;
    } else {
        die("unexpected token encoding 0x%02x", p[i]);
        return 0;
    }
    i += slen;
    if (i + 1 >= len || p[i] != 0x02)
        return 0;
    i++;
    if ((p[i] & 0xf0) == 0x90)
        return p[i] & 0x0f;
    if (p[i] == 0xdc)
        return ((unsigned long long)p[i + 1] << 8) | p[i + 2];
    die("unexpected updates encoding 0x%02x", p[i]);
    return 0;
}

static long long read_status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long long v = -1;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, key, klen) && line[klen] == ':') {
            v = atoll(line + klen + 1);
            break;
        }
    }
    fclose(f);
    return v;
}

/* ---- options ---------------------------------------------------------- */

typedef struct {
    int quick;
    const char *dir;
    const char *store;
    long long payload, steps, count, batches, executions, threads, items, concurrency, ops;
    int batched;
} options;

static long long opt_num(const char *name, const char *v)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || n < 0)
        die("%s: not a number: %s", name, v);
    return n;
}

static void parse_options(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->dir = getenv("PERDURE_BENCH_DIR") ? getenv("PERDURE_BENCH_DIR") : ".";
    o->store = "durable";
    o->payload = -1;
    o->steps = o->count = o->batches = o->executions = o->threads = o->items = o->concurrency = o->ops = -1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--quick")) {
            o->quick = 1;
            continue;
        }
        if (!strcmp(a, "--batched")) {
            o->batched = 1;
            continue;
        }
        if (i + 1 >= argc)
            die("%s needs a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--dir"))
            o->dir = v;
        else if (!strcmp(a, "--store"))
            o->store = v;
        else if (!strcmp(a, "--payload"))
            o->payload = opt_num(a, v);
        else if (!strcmp(a, "--steps"))
            o->steps = opt_num(a, v);
        else if (!strcmp(a, "--count"))
            o->count = opt_num(a, v);
        else if (!strcmp(a, "--batches"))
            o->batches = opt_num(a, v);
        else if (!strcmp(a, "--executions"))
            o->executions = opt_num(a, v);
        else if (!strcmp(a, "--threads"))
            o->threads = opt_num(a, v);
        else if (!strcmp(a, "--items"))
            o->items = opt_num(a, v);
        else if (!strcmp(a, "--concurrency"))
            o->concurrency = opt_num(a, v);
        else if (!strcmp(a, "--ops"))
            o->ops = opt_num(a, v);
        else
            die("unknown option %s", a);
    }
}

static long long pick(long long given, int quick, long long quick_default, long long full_default)
{
    return given >= 0 ? given : quick ? quick_default : full_default;
}

/* A fresh directory for one run's files, on the disk of --dir. */
static char workdir[4096];

static const char *make_workdir(const char *parent)
{
    snprintf(workdir, sizeof workdir, "%s/perdure-bench.XXXXXX", parent);
    if (!mkdtemp(workdir))
        die("mkdtemp %s: %s", workdir, strerror(errno));
    return workdir;
}

static void remove_workdir(void)
{
    if (!workdir[0])
        return;
    static const char *const suffixes[] = {"/store.db", "/store.db-wal", "/store.db-shm", "/store.db-journal",
                                           "/append.log"};
    char path[4200];
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        snprintf(path, sizeof path, "%s%s", workdir, suffixes[i]);
        unlink(path);
    }
    rmdir(workdir);
}

static perdure_store *open_store(const options *o, int durable, char *path, size_t path_size)
{
    if (durable)
        snprintf(path, path_size, "%s/store.db", workdir[0] ? workdir : make_workdir(o->dir));
    else
        snprintf(path, path_size, ":memory:");
    perdure_store_options so = {.size = sizeof so};
    perdure_store *store = NULL;
    perdure_status st = perdure_store_open(path, &so, &store);
    if (st != PERDURE_OK)
        die("perdure_store_open %s: %s: %s", path, perdure_status_name(st), store ? perdure_store_errmsg(store) : "");
    return store;
}

static int store_kind(const options *o)
{
    if (!strcmp(o->store, "durable"))
        return 1;
    if (!strcmp(o->store, "memory"))
        return 0;
    die("--store: memory or durable, not %s", o->store);
    return 0;
}

static void start_execution(perdure_store *store, const char *function, const char *name)
{
    static const char input[] = "{\"order\":42}";
    perdure_start_options so = {.size = sizeof so, .function_name = function, .name = name,
                                .input = input, .input_len = sizeof input - 1};
    perdure_buf arn = {0};
    int existed = 0;
    CHECK_STORE(store, perdure_store_start(store, &so, &arn, &existed));
    perdure_buf_free(&arn);
}

/* ---- workload 1: the VM's checkpoint path ------------------------------- */

static void bench_checkpoint(const options *o)
{
    long long payload_len = o->payload >= 0 ? o->payload : 100;
    long long steps = pick(o->steps, o->quick, payload_len > 1000 ? 5000 : 50000,
                           payload_len > 1000 ? 50000 : 500000);
    const long long per_vm = 1000;          /* a fresh VM (one invocation) every 1,000 steps */
    const long long per_batch = 125;        /* batched: 125 steps = 250 updates, the batch limit */
    wbuf in = {0};
    build_input(&in, 0);
    /* distinct payloads, so that compression and copies see real data */
    enum { NPAYLOADS = 64 };
    unsigned char *payloads[NPAYLOADS];
    for (int i = 0; i < NPAYLOADS; i++)
        payloads[i] = json_payload((size_t)payload_len, (unsigned long long)i);

    perdure_vm_options vo;
    vo.size = sizeof vo;
    CHECK(perdure_vm_options_init(&vo));
    vo.wire = PERDURE_WIRE_MSGPACK;
    vo.random_seed = 1;
    perdure_step_config cfg = {.size = sizeof cfg, .semantics = PERDURE_AT_LEAST_ONCE_PER_RETRY, .retry = NULL};

    unsigned long long updates = 0, batches = 0, wire_bytes = 0;
    perdure_op *ops = malloc(sizeof *ops * (size_t)per_batch);
    double t0 = now_s();
    for (long long done = 0; done < steps;) {
        perdure_vm *vm;
        CHECK(perdure_vm_new(&vo, &vm));
        CHECK_VM(vm, perdure_vm_start(vm, in.p, in.len, 1767225600000LL));
        long long end = done + per_vm < steps ? done + per_vm : steps;
        while (done < end) {
            long long group = o->batched ? (end - done < per_batch ? end - done : per_batch) : 1;
            for (long long g = 0; g < group; g++) {
                perdure_next next;
                CHECK_VM(vm, perdure_vm_step(vm, PERDURE_ROOT, "s", &cfg, &ops[g]));
                CHECK_VM(vm, perdure_vm_op_next(vm, ops[g], &next));
                if (next != PERDURE_NEXT_EXECUTE)
                    die("step: expected EXECUTE, got %d", (int)next);
                CHECK_VM(vm, perdure_vm_op_succeed(vm, ops[g], payloads[(done + g) % NPAYLOADS],
                                                   (unsigned long long)payload_len));
            }
            for (;;) {
                perdure_buf req = {0};
                CHECK_VM(vm, perdure_vm_take_batch(vm, &req));
                if (!req.len)
                    break;
                updates += count_updates(req.data, req.len);
                wire_bytes += req.len;
                batches++;
                perdure_buf_free(&req);
                CHECK_VM(vm, perdure_vm_apply_response(vm, MIN_RESPONSE, sizeof MIN_RESPONSE));
            }
            for (long long g = 0; g < group; g++) {
                perdure_next next;
                CHECK_VM(vm, perdure_vm_op_next(vm, ops[g], &next));
                if (next != PERDURE_NEXT_RESULT)
                    die("step: expected RESULT, got %d", (int)next);
            }
            done += group;
        }
        perdure_vm_free(vm);
    }
    double dt = now_s() - t0;
    printf("{\"workload\":\"checkpoint\",\"payload_bytes\":%lld,\"batched\":%s,\"steps\":%lld,"
           "\"updates\":%llu,\"batches\":%llu,\"seconds\":%.6f,\"updates_per_s\":%.1f,\"steps_per_s\":%.1f,"
           "\"payload_mb_per_s\":%.2f,\"wire_mb_per_s\":%.2f}\n",
           payload_len, o->batched ? "true" : "false", steps, updates, batches, dt, (double)updates / dt,
           (double)steps / dt, (double)steps * (double)payload_len / dt / 1e6, (double)wire_bytes / dt / 1e6);
    for (int i = 0; i < NPAYLOADS; i++)
        free(payloads[i]);
    free(ops);
    free(in.p);
}

/* ---- workload 2a: the physical floor ----------------------------------- */

static void bench_fsync(const options *o)
{
    long long count = pick(o->count, o->quick, 200, 1000);
    char path[4200];
    snprintf(path, sizeof path, "%s/append.log", make_workdir(o->dir));
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
    if (fd < 0)
        die("open %s: %s", path, strerror(errno));
    char rec[256];
    memset(rec, 'x', sizeof rec);
    double t0 = now_s();
    for (long long i = 0; i < count; i++) {
        if (write(fd, rec, sizeof rec) != (ssize_t)sizeof rec)
            die("write: %s", strerror(errno));
        if (fdatasync(fd))
            die("fdatasync: %s", strerror(errno));
    }
    double dt = now_s() - t0;
    close(fd);
    remove_workdir();
    printf("{\"workload\":\"fsync\",\"count\":%lld,\"record_bytes\":256,\"seconds\":%.6f,\"per_s\":%.1f}\n", count, dt,
           (double)count / dt);
}

/* ---- workload 2b: checkpoint batches committed to the store ------------- */

static void bench_commit(const options *o)
{
    long long batches = pick(o->batches, o->quick, 200, 1000);
    char path[4200];
    perdure_store *store = open_store(o, store_kind(o), path, sizeof path);
    start_execution(store, "commit", "commit-1");
    perdure_function_ref fn = {"commit", NULL};
    perdure_lease *lease = NULL;
    CHECK_STORE(store, perdure_store_lease(store, &fn, 1, "bench", &lease));
    if (!lease)
        die("no lease");
    const unsigned char *input;
    unsigned long long input_len;
    CHECK(perdure_lease_input(lease, &input, &input_len));
    perdure_vm_options vo;
    vo.size = sizeof vo;
    CHECK(perdure_vm_options_init(&vo));
    vo.wire = PERDURE_WIRE_MSGPACK;
    perdure_vm *vm;
    CHECK(perdure_vm_new(&vo, &vm));
    CHECK_VM(vm, perdure_vm_start(vm, input, input_len, perdure_store_now(store)));
    perdure_step_config cfg = {.size = sizeof cfg};
    unsigned char *payload = json_payload(100, 1);
    long long committed = 0;
    double t0 = now_s();
    while (committed < batches) {
        perdure_op op;
        perdure_next next;
        CHECK_VM(vm, perdure_vm_step(vm, PERDURE_ROOT, "s", &cfg, &op));
        CHECK_VM(vm, perdure_vm_op_next(vm, op, &next));
        CHECK_VM(vm, perdure_vm_op_succeed(vm, op, payload, 100));
        for (;;) {
            perdure_buf req = {0}, resp = {0};
            CHECK_VM(vm, perdure_vm_take_batch(vm, &req));
            if (!req.len)
                break;
            perdure_status st = perdure_lease_checkpoint(lease, req.data, req.len, &resp);
            if (st)
                die("perdure_lease_checkpoint: %s: %s", perdure_status_name(st), perdure_lease_errmsg(lease));
            committed++;
            CHECK_VM(vm, perdure_vm_apply_response(vm, resp.data, resp.len));
            perdure_buf_free(&req);
            perdure_buf_free(&resp);
        }
    }
    double dt = now_s() - t0;
    perdure_lease_abandon(lease, "benchmark over");
    perdure_vm_free(vm);
    free(payload);
    perdure_store_close(store);
    remove_workdir();
    printf("{\"workload\":\"commit\",\"store\":\"%s\",\"batches\":%lld,\"seconds\":%.6f,\"batches_per_s\":%.1f}\n",
           o->store, committed, dt, (double)committed / dt);
}

/* ---- handlers for the worker workloads ------------------------------------ */

typedef struct {
    long long steps;
    unsigned char payload[100];
} step_user;

static int step_body(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)attempt;
    (void)error;
    step_user *u = user;
    result->data = malloc(100);
    if (!result->data)
        return 1;
    memcpy(result->data, u->payload, 100);
    result->len = 100;
    return 0;
}

static int steps_handler(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long len,
                         perdure_buf *result, perdure_error_info *error)
{
    (void)input;
    (void)len;
    step_user *u = user;
    for (long long i = 0; i < u->steps; i++) {
        perdure_sdk_outcome outcome;
        const unsigned char *value;
        unsigned long long value_len;
        if (perdure_context_step(ctx, "s", NULL, step_body, u, &outcome, &value, &value_len) != PERDURE_OK ||
            outcome != PERDURE_SDK_OK) {
            error->error_type = "BenchError";
            error->error_message = "a step did not succeed";
            return outcome == PERDURE_SDK_SUSPEND ? 0 : 1;
        }
    }
    result->data = malloc(4);
    memcpy(result->data, "true", 4);
    result->len = 4;
    return 0;
}

static void expect_all_succeeded(perdure_store *store, const char *function, long long n)
{
    perdure_buf json = {0};
    CHECK_STORE(store, perdure_store_list(store, function, "SUCCEEDED", &json));
    long long found = 0;
    const char *p = (const char *)json.data;
    const char *end = p + json.len;
    while (p && p < end && (p = strstr(p, "\"DurableExecutionArn\"")) != NULL) {
        found++;
        p++;
    }
    perdure_buf_free(&json);
    if (found != n)
        die("%lld of %lld executions of %s succeeded", found, n, function);
}

/* ---- workload 3: one execution of N sequential steps ---------------------- */

static void bench_sequential(const options *o)
{
    int durable = store_kind(o);
    long long steps = pick(o->steps, o->quick, durable ? 200 : 2000, 10000);
    char path[4200];
    perdure_store *store = open_store(o, durable, path, sizeof path);
    step_user u = {.steps = steps};
    fill_payload(u.payload, 7);
    perdure_worker_function fn = {sizeof fn, "seq", NULL, steps_handler, &u};
    start_execution(store, "seq", "seq-1");
    int ran = 0;
    double t0 = now_s();
    CHECK_STORE(store, perdure_worker_run_one(store, &fn, 1, "bench", 0, &ran));
    double dt = now_s() - t0;
    if (!ran)
        die("nothing ran");
    expect_all_succeeded(store, "seq", 1);
    perdure_store_close(store);
    remove_workdir();
    printf("{\"workload\":\"sequential\",\"store\":\"%s\",\"steps\":%lld,\"seconds\":%.6f,\"steps_per_s\":%.1f}\n",
           o->store, steps, dt, (double)steps / dt);
}

/* ---- workload 4: many concurrent executions ------------------------------- */

typedef struct {
    const char *path;
    step_user *user;
    long long executions;
    long long invocations, errors;
    char first_error[256];
} many_thread;

static long long count_succeeded(perdure_store *store, const char *function)
{
    perdure_buf json = {0};
    if (perdure_store_list(store, function, "SUCCEEDED", &json) != PERDURE_OK)
        return -1;
    long long found = 0;
    const char *p = (const char *)json.data;
    const char *end = p + json.len;
    while (p && p < end && (p = strstr(p, "\"DurableExecutionArn\"")) != NULL) {
        found++;
        p++;
    }
    perdure_buf_free(&json);
    return found;
}

/* A worker thread: its own store handle, run_one until every execution has
 * succeeded (an invocation that fails is abandoned by the worker runtime and
 * re-invoked later, as after a crash). */
static void *many_worker(void *arg)
{
    many_thread *t = arg;
    perdure_store_options so = {.size = sizeof so};
    perdure_store *store = NULL;
    if (perdure_store_open(t->path, &so, &store) != PERDURE_OK)
        die("open %s: %s", t->path, store ? perdure_store_errmsg(store) : "");
    perdure_worker_function fn = {sizeof fn, "many", NULL, steps_handler, t->user};
    char id[32];
    snprintf(id, sizeof id, "bench-%p", (void *)t);
    for (;;) {
        int ran = 0;
        perdure_status st = perdure_worker_run_one(store, &fn, 1, id, 0, &ran);
        if (st != PERDURE_OK) {
            if (!t->errors++)
                snprintf(t->first_error, sizeof t->first_error, "%s: %s", perdure_status_name(st),
                         perdure_store_errmsg(store));
        }
        if (ran) {
            t->invocations++;
        } else if (st == PERDURE_OK) {
            long long done = count_succeeded(store, "many");
            if (done >= t->executions)
                break;
            /* the rest are leased by other threads or waiting for a re-invocation */
            ran = 0;
            st = perdure_worker_run_one(store, &fn, 1, id, 200, &ran);
            if (ran)
                t->invocations++;
            else if (st != PERDURE_OK && !t->errors++)
                snprintf(t->first_error, sizeof t->first_error, "%s: %s", perdure_status_name(st),
                         perdure_store_errmsg(store));
        }
    }
    perdure_store_close(store);
    return NULL;
}

static void bench_many(const options *o)
{
    long long executions = pick(o->executions, o->quick, 50, 1000);
    long long steps = pick(o->steps, o->quick, 10, 10);
    long long threads = pick(o->threads, o->quick, 4, 4);
    char path[4200];
    perdure_store *store = open_store(o, 1, path, sizeof path);
    for (long long i = 0; i < executions; i++) {
        char name[32];
        snprintf(name, sizeof name, "many-%lld", i);
        start_execution(store, "many", name);
    }
    step_user u = {.steps = steps};
    fill_payload(u.payload, 9);
    many_thread *ts = calloc((size_t)threads, sizeof *ts);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    double t0 = now_s();
    for (long long i = 0; i < threads; i++) {
        ts[i].path = path;
        ts[i].user = &u;
        ts[i].executions = executions;
        if (pthread_create(&tid[i], NULL, many_worker, &ts[i]))
            die("pthread_create");
    }
    long long invocations = 0, errors = 0;
    const char *first_error = "";
    for (long long i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        invocations += ts[i].invocations;
        errors += ts[i].errors;
        if (!*first_error && ts[i].errors)
            first_error = ts[i].first_error;
    }
    double dt = now_s() - t0;
    expect_all_succeeded(store, "many", executions);
    perdure_store_close(store);
    remove_workdir();
    free(ts);
    free(tid);
    printf("{\"workload\":\"many\",\"executions\":%lld,\"steps_each\":%lld,\"threads\":%lld,\"invocations\":%lld,"
           "\"errors\":%lld,\"seconds\":%.6f,\"steps_per_s\":%.1f,\"first_error\":\"",
           executions, steps, threads, invocations, errors, dt, (double)(executions * steps) / dt);
    for (const char *c = first_error; *c; c++)
        if (*c != '"' && *c != '\\' && (unsigned char)*c >= 0x20)
            putchar(*c);
    printf("\"}\n");
}

/* ---- workload 5: map ------------------------------------------------------- */

typedef struct {
    long long items, concurrency;
    step_user step;
} map_user;

static int map_item(perdure_context *ctx, void *user, unsigned index, perdure_buf *result, perdure_error_info *error)
{
    (void)index;
    map_user *u = user;
    perdure_sdk_outcome outcome;
    const unsigned char *value;
    unsigned long long value_len;
    if (perdure_context_step(ctx, "item", NULL, step_body, &u->step, &outcome, &value, &value_len) != PERDURE_OK ||
        outcome == PERDURE_SDK_ERROR) {
        error->error_type = "BenchError";
        error->error_message = "an item's step failed";
        return 1;
    }
    if (outcome == PERDURE_SDK_SUSPEND)
        return 0;
    result->data = malloc(value_len);
    memcpy(result->data, value, value_len);
    result->len = value_len;
    return 0;
}

static int map_handler(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long len,
                       perdure_buf *result, perdure_error_info *error)
{
    (void)input;
    (void)len;
    map_user *u = user;
    perdure_batch_config cfg = {.size = sizeof cfg, .max_concurrency = (int)u->concurrency};
    perdure_sdk_outcome outcome;
    perdure_op batch;
    if (perdure_context_map(ctx, "items", (unsigned)u->items, &cfg, map_item, u, &outcome, &batch) != PERDURE_OK ||
        outcome == PERDURE_SDK_ERROR) {
        error->error_type = "BenchError";
        error->error_message = "map failed";
        return 1;
    }
    if (outcome == PERDURE_SDK_SUSPEND)
        return 0;
    result->data = malloc(4);
    memcpy(result->data, "true", 4);
    result->len = 4;
    return 0;
}

static void bench_map(const options *o)
{
    int durable = store_kind(o);
    map_user u = {.items = pick(o->items, o->quick, durable ? 100 : 1000, 1000),
                  .concurrency = pick(o->concurrency, o->quick, 50, 50)};
    fill_payload(u.step.payload, 11);
    char path[4200];
    perdure_store *store = open_store(o, durable, path, sizeof path);
    perdure_worker_function fn = {sizeof fn, "map", NULL, map_handler, &u};
    start_execution(store, "map", "map-1");
    int ran = 0;
    double t0 = now_s();
    CHECK_STORE(store, perdure_worker_run_one(store, &fn, 1, "bench", 0, &ran));
    double dt = now_s() - t0;
    if (!ran)
        die("nothing ran");
    expect_all_succeeded(store, "map", 1);
    perdure_store_close(store);
    remove_workdir();
    printf("{\"workload\":\"map\",\"store\":\"%s\",\"items\":%lld,\"max_concurrency\":%lld,\"seconds\":%.6f,"
           "\"items_per_s\":%.1f}\n",
           o->store, u.items, u.concurrency, dt, (double)u.items / dt);
}

/* ---- workload 6: replay ------------------------------------------------------ */

typedef struct {
    long long recorded;
    double first_new;      /* when the first new step's body ran */
    step_user step;
} replay_user;

static int replay_new_body(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    replay_user *u = user;
    if (u->first_new == 0)
        u->first_new = now_s();
    return step_body(&u->step, attempt, result, error);
}

static int replay_recorded_body(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)user;
    (void)attempt;
    (void)result;
    error->error_type = "BenchError";
    error->error_message = "a recorded step ran again";
    return 1;
}

static int replay_handler(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long len,
                          perdure_buf *result, perdure_error_info *error)
{
    (void)input;
    (void)len;
    replay_user *u = user;
    for (long long i = 0; i <= u->recorded; i++) {
        perdure_sdk_outcome outcome;
        const unsigned char *value;
        unsigned long long value_len;
        perdure_step_fn fn = i < u->recorded ? replay_recorded_body : replay_new_body;
        if (perdure_context_step(ctx, "s", NULL, fn, u, &outcome, &value, &value_len) != PERDURE_OK ||
            outcome != PERDURE_SDK_OK) {
            error->error_type = "BenchError";
            error->error_message = "a step did not succeed";
            return 1;
        }
    }
    result->data = malloc(4);
    memcpy(result->data, "true", 4);
    result->len = 4;
    return 0;
}

static perdure_status min_transport(void *user, const unsigned char *request, unsigned long long request_len,
                                    perdure_buf *response)
{
    (void)user;
    (void)request;
    (void)request_len;
    response->data = malloc(sizeof MIN_RESPONSE);
    if (!response->data)
        return PERDURE_E_NOMEM;
    memcpy(response->data, MIN_RESPONSE, sizeof MIN_RESPONSE);
    response->len = sizeof MIN_RESPONSE;
    return PERDURE_OK;
}

static void bench_replay(const options *o)
{
    long long ops = pick(o->ops, o->quick, 10000, 100000);
    wbuf in = {0};
    build_input(&in, (unsigned long long)ops);
    replay_user u = {.recorded = ops};
    fill_payload(u.step.payload, 13);
    perdure_vm_options vo;
    vo.size = sizeof vo;
    CHECK(perdure_vm_options_init(&vo));
    vo.wire = PERDURE_WIRE_MSGPACK;
    /* reset the peak RSS to the current RSS (Linux), then measure the growth */
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    if (fd >= 0) {
        if (write(fd, "5", 1) != 1) {
            /* an older kernel: VmHWM then also counts building the input */
        }
        close(fd);
    }
    long long rss_before = read_status_kb("VmRSS");
    perdure_buf output = {0};
    double t0 = now_s();
    perdure_status st = perdure_invoke_handler(&vo, in.p, in.len, 1767225600000LL + ops + 10, replay_handler, &u,
                                               min_transport, NULL, &output);
    double t1 = now_s();
    if (st != PERDURE_OK)
        die("perdure_invoke_handler: %s", perdure_status_name(st));
    long long hwm = read_status_kb("VmHWM");
    if (u.first_new == 0 || !output.data || output.len < 4)
        die("the replay did not reach a new step and succeed");
    perdure_buf_free(&output);
    printf("{\"workload\":\"replay\",\"ops\":%lld,\"input_bytes\":%zu,\"seconds_to_first_new\":%.6f,"
           "\"seconds_total\":%.6f,\"rss_before_kb\":%lld,\"peak_rss_kb\":%lld,\"rss_growth_mb\":%.2f}\n",
           ops, in.len, u.first_new - t0, t1 - t0, rss_before, hwm, (double)(hwm - rss_before) / 1024.0);
    free(in.p);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(stderr, "usage: perdure_bench checkpoint|fsync|commit|sequential|many|map|replay [--quick] [options]\n"
                        "(see the comment at the top of benches/bench.c)\n");
        return argc < 2 ? 2 : 0;
    }
    options o;
    parse_options(argc, argv, &o);
    const char *w = argv[1];
    if (!strcmp(w, "checkpoint"))
        bench_checkpoint(&o);
    else if (!strcmp(w, "fsync"))
        bench_fsync(&o);
    else if (!strcmp(w, "commit"))
        bench_commit(&o);
    else if (!strcmp(w, "sequential"))
        bench_sequential(&o);
    else if (!strcmp(w, "many"))
        bench_many(&o);
    else if (!strcmp(w, "map"))
        bench_map(&o);
    else if (!strcmp(w, "replay"))
        bench_replay(&o);
    else
        die("unknown workload %s", w);
    fflush(stdout);
    return 0;
}

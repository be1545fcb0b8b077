/* The replay VM (core/vm.c), driven through the JSON wire like a binding
 * would: an invocation input is loaded, operations are declared and asked
 * what to do next, every checkpoint request is parsed with jansson and
 * asserted field by field, and the test answers it as the service would
 * (protocol.md §4). Jitter uses a fixed seed, so every delay is exact. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "internal.h"
#include "vm_internal.h"

/* ---- fixtures -------------------------------------------------------------- */

#define ARN "arn:aws:lambda:us-east-1:123456789012:function:fn:$LATEST/durable-execution/name/exec-1"
#define T0_MS 1767225600000LL
#define NOW_MS (T0_MS + 5000)
#define SEED 42ULL

/* protocol.md §2 vectors */
#define ID1 "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"
#define ID2 "c5faca15ac2f93578b39ef4b6bbb871bdedce4ddd584fd31f0bb66fade3947e6"
#define ID3 "6f760b9e9eac89f07ab0223b0f4acb04d1e355d893a1b86a83f4d4b405adee99"
#define ID1_0 "1712f93e2f51df042e2b933907d75accfe34a48fe4a42a24e0b08131bc72d591"
#define ID1_1 "974bfc6321e227b0ff101342eaf19b336f002dc6cc99c18f0941a7755cc20fc4"

typedef struct opid {
    char s[PD_MAX_ID + 1];
} opid;

/* H(raw) in the py scheme; raw is printf-formatted. */
static opid H(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static opid H(const char *fmt, ...)
{
    char raw[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    opid id;
    cr_assert_eq(perdure_id_hash(PERDURE_IDS_BLAKE2B, raw, id.s, sizeof id.s), PERDURE_OK);
    return id;
}

/* The Id of operation n inside the context (or batch) whose Id is parent. */
static opid HC(const char *parent, unsigned n) { return H("%s-%u", parent, n); }

/* ---- the harness ------------------------------------------------------------ */

typedef struct harness {
    perdure_vm *vm;
    int answered;     /* batches answered so far; the next token is t<answered> */
    json_t *req;      /* the last request */
    json_t *log;      /* every update sent, in order */
} harness;

static void h_init_opts(harness *h, const perdure_vm_options *opts)
{
    memset(h, 0, sizeof *h);
    cr_assert_eq(perdure_vm_new(opts, &h->vm), PERDURE_OK);
    cr_assert_not_null(h->vm);
    h->log = json_array();
}

static perdure_vm_options json_opts(void)
{
    perdure_vm_options o = {.size = sizeof o};
    cr_assert_eq(perdure_vm_options_init(&o), PERDURE_OK);
    o.wire = PERDURE_WIRE_JSON;
    o.random_seed = SEED;
    return o;
}

static void h_init(harness *h)
{
    perdure_vm_options o = json_opts();
    h_init_opts(h, &o);
}

static void h_free(harness *h)
{
    perdure_vm_free(h->vm);
    json_decref(h->req);
    json_decref(h->log);
    memset(h, 0, sizeof *h);
}

static const char *err(const harness *h) { return perdure_vm_errmsg(h->vm); }

/* A recorded operation; name and parent may be NULL. */
static json_t *rec(const char *id, const char *type, const char *sub_type, const char *name, const char *status)
{
    json_t *r = json_pack("{s:s,s:s,s:s}", "Id", id, "Type", type, "Status", status);
    if (sub_type)
        json_object_set_new(r, "SubType", json_string(sub_type));
    if (name)
        json_object_set_new(r, "Name", json_string(name));
    return r;
}

static json_t *with_parent(json_t *r, const char *parent)
{
    json_object_set_new(r, "ParentId", json_string(parent));
    return r;
}

static json_t *with(json_t *r, const char *details, json_t *value)
{
    json_object_set_new(r, details, value);
    return r;
}

static json_t *error_obj(const char *type, const char *message)
{
    return json_pack("{s:s,s:s}", "ErrorType", type, "ErrorMessage", message);
}

/* Loads the invocation input: the EXECUTION record, then `ops` (stolen; may
 * be NULL). Timestamps are epoch milliseconds here. */
static void h_start(harness *h, json_t *ops)
{
    json_t *all = json_array();
    json_array_append_new(all, json_pack("{s:s,s:s,s:s,s:I,s:{s:s}}", "Id", "exec-1", "Type", "EXECUTION", "Status",
                                         "STARTED", "StartTimestamp", (json_int_t)T0_MS, "ExecutionDetails",
                                         "InputPayload", "{}"));
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op)
    {
        if (!json_object_get(op, "StartTimestamp"))
            json_object_set_new(op, "StartTimestamp", json_integer(T0_MS + 100));
        json_array_append(all, op);
    }
    json_decref(ops);
    json_t *input = json_pack("{s:s,s:s,s:{s:o}}", "DurableExecutionArn", ARN, "CheckpointToken", "t0",
                              "InitialExecutionState", "Operations", all);
    char *text = json_dumps(input, JSON_COMPACT);
    json_decref(input);
    perdure_status st = perdure_vm_start(h->vm, text, strlen(text), NOW_MS);
    free(text);
    cr_assert_eq(st, PERDURE_OK, "perdure_vm_start: %s", err(h));
}

/* Takes the next batch, checks its token, and answers it with `ops` (stolen;
 * may be NULL; timestamps in epoch seconds). Without a token the response says
 * the execution ended. Returns the batch's Updates (valid until the next flush). */
static json_t *h_flush_ex(harness *h, json_t *ops, bool with_token)
{
    perdure_buf b = {0};
    perdure_status st = perdure_vm_take_batch(h->vm, &b);
    cr_assert_eq(st, PERDURE_OK, "take_batch: %s", err(h));
    cr_assert(b.len > 0 && b.data, "take_batch returned an empty batch");
    json_error_t je;
    json_t *req = json_loadb((const char *)b.data, b.len, 0, &je);
    cr_assert_not_null(req, "request is not JSON: %s", je.text);
    perdure_buf_free(&b);
    char token[16];
    snprintf(token, sizeof token, "t%d", h->answered);
    cr_assert_str_eq(json_string_value(json_object_get(req, "CheckpointToken")), token);
    json_t *updates = json_object_get(req, "Updates");
    cr_assert(json_is_array(updates), "Updates is not an array");
    json_array_extend(h->log, updates);
    json_decref(h->req);
    h->req = req;

    if (!ops)
        ops = json_array();
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op)
    {
        if (!json_object_get(op, "StartTimestamp"))
            json_object_set_new(op, "StartTimestamp", json_real(1767225600.5));
    }
    h->answered++;
    snprintf(token, sizeof token, "t%d", h->answered);
    json_t *resp = json_pack("{s:{s:o}}", "NewExecutionState", "Operations", ops);
    if (with_token)
        json_object_set_new(resp, "CheckpointToken", json_string(token));
    char *text = json_dumps(resp, JSON_COMPACT);
    json_decref(resp);
    st = perdure_vm_apply_response(h->vm, text, strlen(text));
    free(text);
    cr_assert_eq(st, PERDURE_OK, "apply_response: %s", err(h));
    return updates;
}

static json_t *h_flush(harness *h, json_t *ops) { return h_flush_ex(h, ops, true); }

/* Asserts that nothing is queued: no batch would be sent. */
static void expect_no_batch(harness *h)
{
    cr_expect_eq(perdure_vm_wants_flush(h->vm), 0);
    perdure_buf b = {0};
    cr_assert_eq(perdure_vm_take_batch(h->vm, &b), PERDURE_OK, "%s", err(h));
    cr_expect_eq(b.len, 0, "a batch was queued: %.*s", (int)b.len, b.data ? (const char *)b.data : "");
    perdure_buf_free(&b);
}

static perdure_next next_of(harness *h, perdure_op op)
{
    perdure_next n = 0;
    perdure_status st = perdure_vm_op_next(h->vm, op, &n);
    cr_assert_eq(st, PERDURE_OK, "op_next: %s (%s)", perdure_status_name(st), err(h));
    return n;
}

/* Asks until the answer is not CHECKPOINT, flushing with empty responses. */
static perdure_next drive(harness *h, perdure_op op)
{
    for (;;) {
        perdure_next n = next_of(h, op);
        if (n != PERDURE_NEXT_CHECKPOINT)
            return n;
        h_flush(h, NULL);
    }
}

/* ---- update assertions ---- */

static const char *ustr(const json_t *u, const char *key) { return json_string_value(json_object_get(u, key)); }

static const char *ustr2(const json_t *u, const char *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(u, obj), key));
}

static json_int_t uint2(const json_t *u, const char *obj, const char *key)
{
    json_t *v = json_object_get(json_object_get(u, obj), key);
    cr_assert(json_is_integer(v), "%s.%s is not an integer", obj, key);
    return json_integer_value(v);
}

static void expect_str(const json_t *u, const char *key, const char *want)
{
    const char *got = ustr(u, key);
    if (!want)
        cr_expect_null(json_object_get(u, key), "%s should be absent, got %s", key, got ? got : "(non-string)");
    else
        cr_expect(got && strcmp(got, want) == 0, "%s: got %s, want %s", key, got ? got : "(absent)", want);
}

/* Checks an update's identity; NULL name/parent/sub_type mean absent. */
static void expect_update(const json_t *u, const char *id, const char *type, const char *sub_type,
                          const char *action, const char *name, const char *parent)
{
    cr_assert_not_null(u, "missing update (want %s %s)", type, action);
    expect_str(u, "Id", id);
    expect_str(u, "Type", type);
    expect_str(u, "SubType", sub_type);
    expect_str(u, "Action", action);
    expect_str(u, "Name", name);
    expect_str(u, "ParentId", parent);
}

static json_t *upd(json_t *updates, size_t i) { return json_array_get(updates, i); }

static void expect_count(json_t *updates, size_t n)
{
    cr_assert_eq(json_array_size(updates), n, "batch has %zu updates, want %zu: %s", json_array_size(updates), n,
                 json_dumps(updates, JSON_COMPACT));
}

/* ---- views ---- */

static void expect_result(harness *h, perdure_op op, const char *want)
{
    const unsigned char *data = NULL;
    unsigned long long len = 0;
    cr_assert_eq(perdure_vm_op_result(h->vm, op, &data, &len), PERDURE_OK);
    if (!want) {
        cr_expect_null(data);
        return;
    }
    cr_assert_eq(len, strlen(want), "result length %llu, want %zu", len, strlen(want));
    cr_expect(len == 0 || memcmp(data, want, len) == 0, "result %.*s, want %s", (int)len, (const char *)data, want);
}

static perdure_error_view error_of(harness *h, perdure_op op)
{
    perdure_error_view e;
    cr_assert_eq(perdure_vm_op_error(h->vm, op, &e), PERDURE_OK);
    return e;
}

static void expect_error(harness *h, perdure_op op, perdure_error_kind kind, const char *type, const char *message)
{
    perdure_error_view e = error_of(h, op);
    cr_expect_eq(e.kind, kind, "error kind %d, want %d", (int)e.kind, (int)kind);
    if (type)
        cr_expect(e.error_type && strcmp(e.error_type, type) == 0, "error type %s, want %s",
                  e.error_type ? e.error_type : "(null)", type);
    if (message)
        cr_expect(e.error_message && strcmp(e.error_message, message) == 0, "error message %s, want %s",
                  e.error_message ? e.error_message : "(null)", message);
}

static perdure_op_status status_of(harness *h, perdure_op op)
{
    perdure_op_status s;
    cr_assert_eq(perdure_vm_op_status(h->vm, op, &s), PERDURE_OK);
    return s;
}

static unsigned attempt_of(harness *h, perdure_op op)
{
    unsigned a = 0;
    cr_assert_eq(perdure_vm_op_attempt(h->vm, op, &a), PERDURE_OK);
    return a;
}

/* ---- configs ---- */

static perdure_retry_config retry_none_jitter(unsigned max_attempts, double initial, double rate, double max_delay)
{
    perdure_retry_config r = {.size = sizeof r};
    cr_assert_eq(perdure_retry_config_preset(&r, PERDURE_RETRY_CONFIG_DEFAULTS), PERDURE_OK);
    r.max_attempts = max_attempts;
    r.initial_delay_seconds = initial;
    r.backoff_rate = rate;
    r.max_delay_seconds = max_delay;
    r.jitter = PERDURE_JITTER_NONE;
    return r;
}

static perdure_step_config step_cfg(perdure_step_semantics sem, const perdure_retry_config *retry)
{
    return (perdure_step_config){.size = sizeof(perdure_step_config), .semantics = sem, .retry = retry};
}

static perdure_op step(harness *h, perdure_ctx ctx, const char *name, const perdure_step_config *cfg)
{
    perdure_op op = 0;
    perdure_status st = perdure_vm_step(h->vm, ctx, name, cfg, &op);
    cr_assert_eq(st, PERDURE_OK, "perdure_vm_step: %s", err(h));
    return op;
}

static perdure_op child(harness *h, perdure_ctx ctx, const char *name)
{
    perdure_op op = 0;
    perdure_status st = perdure_vm_child(h->vm, ctx, name, NULL, 0, &op);
    cr_assert_eq(st, PERDURE_OK, "perdure_vm_child: %s", err(h));
    return op;
}

static void succeed(harness *h, perdure_op op, const char *payload)
{
    perdure_status st = perdure_vm_op_succeed(h->vm, op, payload, payload ? strlen(payload) : 0);
    cr_assert_eq(st, PERDURE_OK, "op_succeed: %s", err(h));
}

static void fail(harness *h, perdure_op op, const char *type, const char *message)
{
    perdure_error_info e = {.error_type = type, .error_message = message};
    perdure_status st = perdure_vm_op_fail(h->vm, op, &e);
    cr_assert_eq(st, PERDURE_OK, "op_fail: %s", err(h));
}

/* Runs a step body to success in one go: EXECUTE, succeed, flush, RESULT. */
static void run_step_ok(harness *h, perdure_op op, const char *payload)
{
    cr_assert_eq(next_of(h, op), PERDURE_NEXT_EXECUTE);
    succeed(h, op, payload);
    cr_assert_eq(drive(h, op), PERDURE_NEXT_RESULT);
}

/* The step record of a finished attempt. */
static json_t *step_rec(const char *id, const char *name, const char *status, int attempt)
{
    return with(rec(id, "STEP", "Step", name, status), "StepDetails", json_pack("{s:i}", "Attempt", attempt));
}

/* ===========================================================================
 * ids
 * ======================================================================== */

Test(ids, vectors_match_protocol)
{
    cr_expect_str_eq(H("1").s, ID1);
    cr_expect_str_eq(H("2").s, ID2);
    cr_expect_str_eq(H("3").s, ID3);
    cr_expect_str_eq(HC(ID1, 0).s, ID1_0);
    cr_expect_str_eq(HC(ID1, 1).s, ID1_1);
}

Test(ids, root_ops_count_from_one)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op a = step(&h, PERDURE_ROOT, "a", NULL), b = step(&h, PERDURE_ROOT, "b", NULL);
    perdure_op w;
    cr_assert_eq(perdure_vm_wait(h.vm, PERDURE_ROOT, NULL, 5, &w), PERDURE_OK);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, a), ID1);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, b), ID2);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, w), ID3);
    h_free(&h);
}

Test(ids, md5_path_scheme_uses_raw_paths)
{
    perdure_vm_options o = json_opts();
    o.id_scheme = PERDURE_IDS_MD5_PATH;
    harness h;
    h_init_opts(&h, &o);
    h_start(&h, NULL);
    perdure_op c = child(&h, PERDURE_ROOT, "c");
    cr_expect_str_eq(perdure_vm_op_id(h.vm, c), "c4ca4238a0b92382");   /* md5("1") */
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_EXECUTE);
    perdure_op s1 = step(&h, c, "s", NULL);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, s1), "ea66c06c1e1c05fa");   /* md5("1-1") */
    cr_assert_eq(next_of(&h, s1), PERDURE_NEXT_EXECUTE);
    perdure_op c2 = child(&h, c, "c2");                                 /* raw "1-2" */
    cr_assert_eq(next_of(&h, c2), PERDURE_NEXT_EXECUTE);
    perdure_op s3 = step(&h, c2, NULL, NULL);                           /* raw "1-2-1" */
    char want[65];
    cr_assert_eq(perdure_id_hash(PERDURE_IDS_MD5_PATH, "1-2", want, sizeof want), PERDURE_OK);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, c2), want);
    cr_assert_eq(perdure_id_hash(PERDURE_IDS_MD5_PATH, "1-2-1", want, sizeof want), PERDURE_OK);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, s3), want);
    /* ParentId stays the hashed Id of the enclosing context. */
    cr_assert_eq(next_of(&h, s3), PERDURE_NEXT_EXECUTE);
    succeed(&h, s3, "1");
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 5);
    expect_update(upd(u, 3), want, "STEP", "Step", "START", NULL, perdure_vm_op_id(h.vm, c2));
    expect_update(upd(u, 2), perdure_vm_op_id(h.vm, c2), "CONTEXT", "RunInChildContext", "START", "c2",
                  "c4ca4238a0b92382");
    h_free(&h);
}

Test(ids, md5_path_map_items)
{
    perdure_vm_options o = json_opts();
    o.id_scheme = PERDURE_IDS_MD5_PATH;
    harness h;
    h_init_opts(&h, &o);
    h_start(&h, NULL);
    perdure_op m;
    cr_assert_eq(perdure_vm_batch(h.vm, PERDURE_ROOT, "m", PERDURE_BATCH_MAP, 2, NULL, &m), PERDURE_OK);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    perdure_batch_poll p;
    cr_assert_eq(perdure_vm_batch_poll(h.vm, m, &p), PERDURE_OK);
    cr_assert_eq(p.action, PERDURE_BATCH_RUN_ITEM);
    char want[65];
    cr_assert_eq(perdure_id_hash(PERDURE_IDS_MD5_PATH, "1-0", want, sizeof want), PERDURE_OK);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, p.item), want);
    cr_assert_eq(next_of(&h, p.item), PERDURE_NEXT_EXECUTE);
    perdure_op s = step(&h, p.item, NULL, NULL);
    cr_assert_eq(perdure_id_hash(PERDURE_IDS_MD5_PATH, "1-0-1", want, sizeof want), PERDURE_OK);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, s), want);
    h_free(&h);
}

/* ===========================================================================
 * steps
 * ======================================================================== */

Test(step, first_run_start_rides_along_with_succeed)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 0);
    perdure_op op = step(&h, PERDURE_ROOT, "charge", NULL);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, op), ID1);
    cr_expect_eq(status_of(&h, op), PERDURE_STATUS_ABSENT);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    /* At-least-once START is async: nothing asks for a flush yet. */
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 0);
    cr_expect_eq(attempt_of(&h, op), 1);
    cr_expect_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE, "asking again repeats EXECUTE");
    succeed(&h, op, "\"ok\"");
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 1);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    cr_expect_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT, "still unacknowledged");
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 2);
    expect_update(upd(u, 0), ID1, "STEP", "Step", "START", "charge", NULL);
    expect_str(upd(u, 0), "Payload", NULL);
    expect_update(upd(u, 1), ID1, "STEP", "Step", "SUCCEED", "charge", NULL);
    expect_str(upd(u, 1), "Payload", "\"ok\"");
    cr_expect_null(json_object_get(upd(u, 1), "Error"));
    cr_expect_null(json_object_get(upd(u, 1), "StepOptions"));
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_RESULT);
    expect_result(&h, op, "\"ok\"");
    cr_expect_eq(status_of(&h, op), PERDURE_STATUS_SUCCEEDED);
    cr_expect_eq(next_of(&h, op), PERDURE_NEXT_RESULT, "final answers repeat");
    expect_no_batch(&h);
    h_free(&h);
}

Test(step, unnamed_step_sends_no_name)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op = step(&h, PERDURE_ROOT, NULL, NULL);
    run_step_ok(&h, op, "1");
    json_t *u = h.log;
    expect_count(u, 2);
    expect_update(upd(u, 0), ID1, "STEP", "Step", "START", NULL, NULL);
    expect_update(upd(u, 1), ID1, "STEP", "Step", "SUCCEED", NULL, NULL);
    h_free(&h);
}

Test(step, empty_result_is_an_empty_payload)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op = step(&h, PERDURE_ROOT, "s", NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    cr_assert_eq(perdure_vm_op_succeed(h.vm, op, NULL, 0), PERDURE_OK);
    json_t *u = h_flush(&h, NULL);
    expect_str(upd(u, 1), "Payload", "");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_RESULT);
    expect_result(&h, op, "");
    h_free(&h);
}

Test(step, result_over_step_limit_is_refused)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op = step(&h, PERDURE_ROOT, "s", NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    size_t n = PD_MAX_STEP_RESULT + 1;
    char *big = malloc(n);
    memset(big, 'a', n);
    cr_expect_eq(perdure_vm_op_succeed(h.vm, op, big, n), PERDURE_E_TOO_LARGE);
    cr_expect_eq(perdure_vm_op_succeed(h.vm, op, big, n - 1), PERDURE_OK, "exactly 262144 bytes is allowed");
    free(big);
    h_free(&h);
}

Test(step, replay_succeeded_never_executes)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", with(rec(ID1, "STEP", "Step", "charge", "SUCCEEDED"), "StepDetails",
                                       json_pack("{s:i,s:s}", "Attempt", 1, "Result", "\"ok\""))));
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 1);
    perdure_op op = step(&h, PERDURE_ROOT, "charge", NULL);
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 0, "its only completed record is replayed: replay is over");
    cr_expect_eq(status_of(&h, op), PERDURE_STATUS_SUCCEEDED);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_RESULT);
    expect_result(&h, op, "\"ok\"");
    cr_expect_eq(perdure_vm_op_succeed(h.vm, op, "1", 1), PERDURE_E_MISUSE, "no body runs");
    expect_no_batch(&h);
    h_free(&h);
}

Test(step, replay_failed_reraises_recorded_error)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", with(rec(ID1, "STEP", "Step", "charge", "FAILED"), "StepDetails",
                                       json_pack("{s:i,s:o}", "Attempt", 6, "Error",
                                                 json_pack("{s:s,s:s,s:s,s:[s,s]}", "ErrorType", "ValueError",
                                                           "ErrorMessage", "boom", "ErrorData", "{\"x\":1}",
                                                           "StackTrace", "l1", "l2")))));
    perdure_op op = step(&h, PERDURE_ROOT, "charge", NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_ERROR);
    perdure_error_view e = error_of(&h, op);
    cr_expect_eq(e.kind, PERDURE_ERRK_STEP);
    cr_expect_str_eq(e.error_type, "ValueError");
    cr_expect_str_eq(e.error_message, "boom");
    cr_expect_str_eq(e.error_data, "{\"x\":1}");
    cr_assert_eq(e.stack_trace_len, 2);
    cr_expect_str_eq(e.stack_trace[1], "l2");
    expect_no_batch(&h);
    h_free(&h);
}

Test(step, replay_pending_suspends_without_updates)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", with(rec(ID1, "STEP", "Step", NULL, "PENDING"), "StepDetails",
                                       json_pack("{s:i,s:I}", "Attempt", 1, "NextAttemptTimestamp",
                                                 (json_int_t)(T0_MS + 60000)))));
    perdure_op op = step(&h, PERDURE_ROOT, NULL, NULL);
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 0);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_SUSPEND);
    expect_no_batch(&h);
    perdure_next n;
    cr_assert_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_PENDING, NULL, 0, NULL, &n), PERDURE_OK, "%s", err(&h));
    cr_expect_eq(n, PERDURE_NEXT_RESULT);
    h_free(&h);
}

/* A retry that came due during the invocation (a parallel branch suspended
 * on it): the service re-invokes for a READY step, so suspending is legal. */
Test(step, suspends_on_a_retry_that_became_ready_meanwhile)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", with(rec(ID1, "STEP", "Step", "a", "PENDING"), "StepDetails",
                                       json_pack("{s:i,s:I}", "Attempt", 1, "NextAttemptTimestamp",
                                                 (json_int_t)(T0_MS + 5)))));
    perdure_op waiting = step(&h, PERDURE_ROOT, "a", NULL);
    cr_assert_eq(next_of(&h, waiting), PERDURE_NEXT_SUSPEND);
    perdure_op other = step(&h, PERDURE_ROOT, "b", NULL);
    cr_assert_eq(next_of(&h, other), PERDURE_NEXT_EXECUTE);
    succeed(&h, other, "1");
    json_decref(h_flush(&h, json_pack("[o]", step_rec(ID1, "a", "READY", 1))));
    perdure_next n;
    cr_assert_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_PENDING, NULL, 0, NULL, &n), PERDURE_OK, "%s", err(&h));
    h_free(&h);
}

Test(step, replay_ready_starts_next_attempt)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", with(step_rec(ID1, "s", "READY", 2), "StepDetails",
                                       json_pack("{s:i,s:o}", "Attempt", 2, "Error", error_obj("E", "m")))));
    perdure_op op = step(&h, PERDURE_ROOT, "s", NULL);
    cr_expect_eq(attempt_of(&h, op), 3);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    cr_expect_eq(attempt_of(&h, op), 3, "attempt = Attempt + 1");
    succeed(&h, op, "7");
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 2);
    expect_update(upd(u, 0), ID1, "STEP", "Step", "START", "s", NULL);
    expect_update(upd(u, 1), ID1, "STEP", "Step", "SUCCEED", "s", NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_RESULT);
    expect_result(&h, op, "7");
    h_free(&h);
}

Test(step, at_least_once_started_reruns_without_new_start)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", step_rec(ID1, "s", "STARTED", 1)));
    perdure_op op = step(&h, PERDURE_ROOT, "s", NULL);
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 0);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    cr_expect_eq(attempt_of(&h, op), 2);
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 0);
    succeed(&h, op, "\"again\"");
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1, "STEP", "Step", "SUCCEED", "s", NULL);
    expect_str(upd(u, 0), "Payload", "\"again\"");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_RESULT);
    h_free(&h);
}

Test(step, at_most_once_start_is_sync)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_step_config cfg = step_cfg(PERDURE_AT_MOST_ONCE_PER_RETRY, NULL);
    perdure_op op = step(&h, PERDURE_ROOT, "pay", &cfg);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 1);
    cr_expect_eq(perdure_vm_op_succeed(h.vm, op, "1", 1), PERDURE_E_MISUSE, "no body before START is durable");
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1, "STEP", "Step", "START", "pay", NULL);
    cr_expect_eq(status_of(&h, op), PERDURE_STATUS_STARTED);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    cr_expect_eq(attempt_of(&h, op), 1);
    succeed(&h, op, "1");
    u = h_flush(&h, NULL);
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1, "STEP", "Step", "SUCCEED", "pay", NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_RESULT);
    h_free(&h);
}

Test(step, a_start_that_waits_too_long_is_flushed_on_its_own)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op = step(&h, PERDURE_ROOT, "slow", NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE, "an at-least-once START needs no answer");
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 0, "it rides with the result");
    cr_assert_eq(perdure_vm_set_now(h.vm, NOW_MS + 99), PERDURE_OK);
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 0, "99 ms: not yet");
    cr_assert_eq(perdure_vm_set_now(h.vm, NOW_MS + 100), PERDURE_OK);
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 1, "the body runs long: the START goes out alone");
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1, "STEP", "Step", "START", "slow", NULL);
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 0);
    succeed(&h, op, "1");
    u = h_flush(&h, NULL);
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1, "STEP", "Step", "SUCCEED", "slow", NULL);
    h_free(&h);
}

Test(step, at_most_once_started_is_interrupted_and_retried)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", step_rec(ID1, "pay", "STARTED", 0)));
    perdure_retry_config r = retry_none_jitter(3, 4, 2, 300);
    perdure_step_config cfg = step_cfg(PERDURE_AT_MOST_ONCE_PER_RETRY, &r);
    perdure_op op = step(&h, PERDURE_ROOT, "pay", &cfg);
    /* Never EXECUTE: the interruption is the attempt's failure. */
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1, "STEP", "Step", "RETRY", "pay", NULL);
    cr_expect_str_eq(ustr2(upd(u, 0), "Error", "ErrorType"), "StepInterruptedError");
    cr_expect_eq(uint2(upd(u, 0), "StepOptions", "NextAttemptDelaySeconds"), 4);
    expect_str(upd(u, 0), "Payload", NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_SUSPEND);
    long long delay = 0;
    cr_assert_eq(perdure_vm_op_retry_delay(h.vm, op, &delay), PERDURE_OK);
    cr_expect_eq(delay, 4);
    cr_expect_eq(status_of(&h, op), PERDURE_STATUS_PENDING);
    h_free(&h);
}

Test(step, at_most_once_started_on_last_attempt_fails)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", step_rec(ID1, "pay", "STARTED", 2)));
    perdure_retry_config r = retry_none_jitter(3, 4, 2, 300);
    perdure_step_config cfg = step_cfg(PERDURE_AT_MOST_ONCE_PER_RETRY, &r);
    perdure_op op = step(&h, PERDURE_ROOT, "pay", &cfg);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1, "STEP", "Step", "FAIL", "pay", NULL);
    cr_expect_str_eq(ustr2(upd(u, 0), "Error", "ErrorType"), "StepInterruptedError");
    cr_expect_null(json_object_get(upd(u, 0), "StepOptions"));
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_ERROR);
    expect_error(&h, op, PERDURE_ERRK_STEP, "StepInterruptedError", NULL);
    h_free(&h);
}

Test(step, at_most_once_interrupted_goes_to_the_callers_strategy)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", step_rec(ID1, "pay", "STARTED", 0)));
    perdure_step_config cfg = step_cfg(PERDURE_AT_MOST_ONCE_PER_RETRY, NULL);
    cfg.caller_decides_retry = 1;
    perdure_op op = step(&h, PERDURE_ROOT, "pay", &cfg);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_INTERRUPTED, "not run again, not decided by the VM");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_INTERRUPTED, "asking again changes nothing");
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 0);
    expect_error(&h, op, PERDURE_ERRK_STEP_INTERRUPTED, "StepInterruptedError", NULL);
    cr_expect_eq(perdure_vm_op_succeed(h.vm, op, "1", 1), PERDURE_E_MISUSE, "an interrupted attempt did not succeed");
    perdure_error_info e = {.error_type = "StepInterruptedError", .error_message = "interrupted"};
    cr_expect_eq(perdure_vm_op_fail(h.vm, op, &e), PERDURE_E_MISUSE, "the caller decides");
    cr_assert_eq(perdure_vm_op_fail_decided(h.vm, op, &e, 0, 0), PERDURE_OK);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1, "STEP", "Step", "FAIL", "pay", NULL);
    cr_expect_str_eq(ustr2(upd(u, 0), "Error", "ErrorType"), "StepInterruptedError");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_ERROR);
    expect_error(&h, op, PERDURE_ERRK_STEP, "StepInterruptedError", NULL);
    h_free(&h);
}

Test(step, at_most_once_ready_sends_sync_start_again)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", step_rec(ID1, "pay", "READY", 1)));
    perdure_step_config cfg = step_cfg(PERDURE_AT_MOST_ONCE_PER_RETRY, NULL);
    perdure_op op = step(&h, PERDURE_ROOT, "pay", &cfg);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1, "STEP", "Step", "START", "pay", NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    cr_expect_eq(attempt_of(&h, op), 2);
    h_free(&h);
}

/* Drives one attempt of step "s" (recorded READY with `attempt` attempts, or
 * absent when attempt == 0) that raises; returns the only update sent after
 * the START. */
static json_t *failing_attempt(harness *h, const perdure_step_config *cfg, int attempt, perdure_op *out)
{
    h_start(h, attempt ? json_pack("[o]", step_rec(ID1, "s", "READY", attempt)) : NULL);
    perdure_op op = step(h, PERDURE_ROOT, "s", cfg);
    cr_assert_eq(next_of(h, op), PERDURE_NEXT_EXECUTE);
    cr_expect_eq(attempt_of(h, op), (unsigned)attempt + 1);
    fail(h, op, "ValueError", "boom");
    cr_assert_eq(next_of(h, op), PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush(h, NULL);
    expect_count(u, 2);
    expect_update(upd(u, 0), ID1, "STEP", "Step", "START", "s", NULL);
    *out = op;
    return upd(u, 1);
}

Test(step, retries_with_exact_delays_then_fails)
{
    perdure_retry_config r = retry_none_jitter(3, 2, 2, 300);
    perdure_step_config cfg = step_cfg(PERDURE_AT_LEAST_ONCE_PER_RETRY, &r);
    const long long delays[] = {2, 4};
    for (int attempt = 0; attempt < 2; attempt++) {
        harness h;
        h_init(&h);
        perdure_op op;
        json_t *u = failing_attempt(&h, &cfg, attempt, &op);
        expect_update(u, ID1, "STEP", "Step", "RETRY", "s", NULL);
        cr_expect_str_eq(ustr2(u, "Error", "ErrorType"), "ValueError");
        cr_expect_str_eq(ustr2(u, "Error", "ErrorMessage"), "boom");
        cr_expect_eq(uint2(u, "StepOptions", "NextAttemptDelaySeconds"), delays[attempt]);
        expect_str(u, "Payload", NULL);
        cr_assert_eq(next_of(&h, op), PERDURE_NEXT_SUSPEND);
        long long d = 0;
        cr_assert_eq(perdure_vm_op_retry_delay(h.vm, op, &d), PERDURE_OK);
        cr_expect_eq(d, delays[attempt]);
        perdure_next n;
        cr_assert_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_PENDING, NULL, 0, NULL, &n), PERDURE_OK, "%s",
                     err(&h));
        h_free(&h);
    }
    harness h;
    h_init(&h);
    perdure_op op;
    json_t *u = failing_attempt(&h, &cfg, 2, &op);
    expect_update(u, ID1, "STEP", "Step", "FAIL", "s", NULL);
    cr_expect_str_eq(ustr2(u, "Error", "ErrorType"), "ValueError");
    cr_expect_null(json_object_get(u, "StepOptions"));
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_ERROR);
    expect_error(&h, op, PERDURE_ERRK_STEP, "ValueError", "boom");
    cr_expect_eq(status_of(&h, op), PERDURE_STATUS_FAILED);
    long long d;
    cr_expect_eq(perdure_vm_op_retry_delay(h.vm, op, &d), PERDURE_E_MISUSE, "no retry was chosen");
    h_free(&h);
}

Test(step, delay_is_capped_by_max_delay)
{
    perdure_retry_config r = retry_none_jitter(10, 5, 3, 30);
    perdure_step_config cfg = step_cfg(PERDURE_AT_LEAST_ONCE_PER_RETRY, &r);
    harness h;
    h_init(&h);
    perdure_op op;
    json_t *u = failing_attempt(&h, &cfg, 3, &op);   /* attempt 4: 5*3^3 = 135 -> 30 */
    expect_update(u, ID1, "STEP", "Step", "RETRY", "s", NULL);
    cr_expect_eq(uint2(u, "StepOptions", "NextAttemptDelaySeconds"), 30);
    h_free(&h);
}

Test(step, default_preset_has_six_attempts_with_seeded_jitter)
{
    /* The VM's generator: one draw for the handle tag, then one per decision. */
    pd_rng rng;
    pd_rng_seed(&rng, SEED);
    pd_rng_next01(&rng);
    double r1 = pd_rng_next01(&rng);
    perdure_retry_config preset = {.size = sizeof preset};
    perdure_retry_config_preset(&preset, PERDURE_RETRY_DEFAULT);
    perdure_error_info info = {.error_type = "ValueError", .error_message = "boom"};
    perdure_retry_decision want;
    cr_assert_eq(perdure_retry_decide(&preset, 1, &info, r1, &want), PERDURE_OK);
    cr_assert(want.should_retry);

    harness h;
    h_init(&h);
    perdure_op op;
    json_t *u = failing_attempt(&h, NULL, 0, &op);
    expect_update(u, ID1, "STEP", "Step", "RETRY", "s", NULL);
    json_int_t d = uint2(u, "StepOptions", "NextAttemptDelaySeconds");
    cr_expect_eq(d, want.delay_seconds, "delay %lld, want %lld", (long long)d, want.delay_seconds);
    cr_expect(d >= 1 && d <= 5);
    h_free(&h);

    for (int attempt = 1; attempt <= 4; attempt++) {
        h_init(&h);
        u = failing_attempt(&h, NULL, attempt, &op);
        expect_update(u, ID1, "STEP", "Step", "RETRY", "s", NULL);
        h_free(&h);
    }
    h_init(&h);
    u = failing_attempt(&h, NULL, 5, &op);   /* the sixth attempt */
    expect_update(u, ID1, "STEP", "Step", "FAIL", "s", NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_ERROR);
    expect_error(&h, op, PERDURE_ERRK_STEP, "ValueError", "boom");
    h_free(&h);
}

Test(step, error_outside_the_filters_fails_at_once)
{
    perdure_retry_config r = retry_none_jitter(5, 1, 2, 60);
    const char *types[] = {"Transient"};
    r.retryable_error_types = types;
    r.retryable_error_types_len = 1;
    perdure_step_config cfg = step_cfg(PERDURE_AT_LEAST_ONCE_PER_RETRY, &r);
    harness h;
    h_init(&h);
    perdure_op op;
    json_t *u = failing_attempt(&h, &cfg, 0, &op);   /* ValueError */
    expect_update(u, ID1, "STEP", "Step", "FAIL", "s", NULL);
    h_free(&h);

    /* The filters were copied at declaration: the caller's array may go. */
    h_init(&h);
    h_start(&h, NULL);
    char type_buf[16] = "Transient";
    const char *types2[] = {type_buf};
    r.retryable_error_types = types2;
    op = step(&h, PERDURE_ROOT, "s", &cfg);
    strcpy(type_buf, "Changed");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    fail(&h, op, "Transient", "again");
    u = h_flush(&h, NULL);
    expect_update(upd(u, 1), ID1, "STEP", "Step", "RETRY", "s", NULL);
    h_free(&h);
}

Test(step, fail_decided_uses_the_callers_decision)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op = step(&h, PERDURE_ROOT, "s", NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    perdure_error_info e = {.error_type = "E", .error_message = "m"};
    cr_expect_eq(perdure_vm_op_fail_decided(h.vm, op, &e, 1, 0), PERDURE_E_INVALID, "a retry needs >= 1 s");
    cr_expect_eq(perdure_vm_op_fail_decided(h.vm, op, &e, 1, 31622401), PERDURE_E_INVALID);
    cr_assert_eq(perdure_vm_op_fail_decided(h.vm, op, &e, 1, 7), PERDURE_OK, "%s", err(&h));
    json_t *u = h_flush(&h, NULL);
    expect_update(upd(u, 1), ID1, "STEP", "Step", "RETRY", "s", NULL);
    cr_expect_eq(uint2(upd(u, 1), "StepOptions", "NextAttemptDelaySeconds"), 7);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_SUSPEND);

    perdure_op op2 = step(&h, PERDURE_ROOT, "t", NULL);
    cr_assert_eq(next_of(&h, op2), PERDURE_NEXT_EXECUTE);
    cr_assert_eq(perdure_vm_op_fail_decided(h.vm, op2, &e, 0, 0), PERDURE_OK);
    u = h_flush(&h, NULL);
    expect_update(upd(u, 1), ID2, "STEP", "Step", "FAIL", "t", NULL);
    cr_assert_eq(next_of(&h, op2), PERDURE_NEXT_ERROR);
    h_free(&h);
}

Test(step, service_response_wins_over_local_view)
{
    /* The response may report a different outcome than the one we queued
     * (e.g. an idempotent retry answered from the cache). */
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op = step(&h, PERDURE_ROOT, "s", NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    succeed(&h, op, "\"mine\"");
    h_flush(&h, json_pack("[o]", with(rec(ID1, "STEP", "Step", "s", "SUCCEEDED"), "StepDetails",
                                       json_pack("{s:i,s:s}", "Attempt", 1, "Result", "\"theirs\""))));
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_RESULT);
    expect_result(&h, op, "\"theirs\"");
    h_free(&h);
}

/* ===========================================================================
 * waits
 * ======================================================================== */

static perdure_op wait_op(harness *h, perdure_ctx ctx, const char *name, long long seconds)
{
    perdure_op op = 0;
    perdure_status st = perdure_vm_wait(h->vm, ctx, name, seconds, &op);
    cr_assert_eq(st, PERDURE_OK, "perdure_vm_wait: %s", err(h));
    return op;
}

Test(wait, first_run_start_is_sync_then_suspends)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op = wait_op(&h, PERDURE_ROOT, "nap", 30);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 1);
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1, "WAIT", "Wait", "START", "nap", NULL);
    cr_expect_eq(uint2(upd(u, 0), "WaitOptions", "WaitSeconds"), 30);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_SUSPEND);
    cr_expect_eq(status_of(&h, op), PERDURE_STATUS_STARTED);
    perdure_next n;
    cr_assert_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_PENDING, NULL, 0, NULL, &n), PERDURE_OK, "%s", err(&h));
    cr_expect_eq(n, PERDURE_NEXT_RESULT);
    perdure_buf out = {0};
    cr_assert_eq(perdure_vm_output(h.vm, &out), PERDURE_OK);
    json_t *o = json_loadb((const char *)out.data, out.len, 0, NULL);
    cr_expect_str_eq(ustr(o, "Status"), "PENDING");
    cr_expect_null(json_object_get(o, "Result"));
    json_decref(o);
    perdure_buf_free(&out);
    h_free(&h);
}

Test(wait, response_may_report_the_timer_already_fired)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op = wait_op(&h, PERDURE_ROOT, NULL, 1);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    h_flush(&h, json_pack("[o]", rec(ID1, "WAIT", "Wait", NULL, "SUCCEEDED")));
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_RESULT);
    h_free(&h);
}

Test(wait, later_response_completes_a_suspended_wait)
{
    /* A wait inside a map item suspends; a later checkpoint of another item
     * delivers its completion. */
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", rec(ID1, "WAIT", "Wait", NULL, "STARTED")));
    perdure_op w = wait_op(&h, PERDURE_ROOT, NULL, 10);
    cr_assert_eq(next_of(&h, w), PERDURE_NEXT_SUSPEND);
    perdure_op s = step(&h, PERDURE_ROOT, NULL, NULL);
    cr_assert_eq(next_of(&h, s), PERDURE_NEXT_EXECUTE);
    succeed(&h, s, "1");
    h_flush(&h, json_pack("[o]", rec(ID1, "WAIT", "Wait", NULL, "SUCCEEDED")));
    cr_assert_eq(next_of(&h, w), PERDURE_NEXT_RESULT);
    h_free(&h);
}

Test(wait, replay_statuses)
{
    const struct {
        const char *status;
        perdure_next next;
    } cases[] = {{"STARTED", PERDURE_NEXT_SUSPEND},
                 {"SUCCEEDED", PERDURE_NEXT_RESULT},
                 {"CANCELLED", PERDURE_NEXT_RESULT}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        harness h;
        h_init(&h);
        h_start(&h, json_pack("[o]", with(rec(ID1, "WAIT", "Wait", "nap", cases[i].status), "WaitDetails",
                                           json_pack("{s:I}", "ScheduledEndTimestamp", (json_int_t)(T0_MS + 30000)))));
        perdure_op op = wait_op(&h, PERDURE_ROOT, "nap", 30);
        cr_expect_eq(next_of(&h, op), cases[i].next, "%s", cases[i].status);
        expect_no_batch(&h);
        h_free(&h);
    }
}

Test(wait, duration_is_validated)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op;
    cr_expect_eq(perdure_vm_wait(h.vm, PERDURE_ROOT, NULL, 0, &op), PERDURE_E_INVALID);
    cr_expect_eq(perdure_vm_wait(h.vm, PERDURE_ROOT, NULL, -5, &op), PERDURE_E_INVALID);
    cr_expect_eq(perdure_vm_wait(h.vm, PERDURE_ROOT, NULL, 31622401, &op), PERDURE_E_INVALID);
    cr_expect_eq(perdure_vm_wait(h.vm, PERDURE_ROOT, NULL, 31622400, &op), PERDURE_OK);
    /* A refused declaration consumed no position. */
    cr_expect_str_eq(perdure_vm_op_id(h.vm, op), ID1);
    h_free(&h);
}

/* ===========================================================================
 * callbacks
 * ======================================================================== */

static perdure_op callback_op(harness *h, perdure_ctx ctx, const char *name, const perdure_callback_config *cfg)
{
    perdure_op op = 0;
    perdure_status st = perdure_vm_callback(h->vm, ctx, name, cfg, &op);
    cr_assert_eq(st, PERDURE_OK, "perdure_vm_callback: %s", err(h));
    return op;
}

static json_t *cb_rec(const char *id, const char *name, const char *status, const char *cb_id)
{
    return with(rec(id, "CALLBACK", "Callback", name, status), "CallbackDetails",
                json_pack("{s:s}", "CallbackId", cb_id));
}

Test(callback, first_run_start_is_sync_and_needs_the_callback_id)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_callback_config cfg = {.size = sizeof cfg, .timeout_seconds = 300, .heartbeat_timeout_seconds = 60};
    perdure_op op = callback_op(&h, PERDURE_ROOT, "approval", &cfg);
    const char *cb_id = NULL;
    cr_expect_eq(perdure_vm_op_callback_id(h.vm, op, &cb_id), PERDURE_E_MISUSE, "no id before START");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    cr_expect_eq(perdure_vm_op_callback_id(h.vm, op, &cb_id), PERDURE_E_MISUSE, "no id before the response");
    json_t *u = h_flush(&h, json_pack("[o]", cb_rec(ID1, "approval", "STARTED", "Y2ItMDAx")));
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1, "CALLBACK", "Callback", "START", "approval", NULL);
    cr_expect_eq(uint2(upd(u, 0), "CallbackOptions", "TimeoutSeconds"), 300);
    cr_expect_eq(uint2(upd(u, 0), "CallbackOptions", "HeartbeatTimeoutSeconds"), 60);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_SUSPEND);
    cr_assert_eq(perdure_vm_op_callback_id(h.vm, op, &cb_id), PERDURE_OK);
    cr_expect_str_eq(cb_id, "Y2ItMDAx");
    /* The answer arrives with a later response. */
    perdure_op s = step(&h, PERDURE_ROOT, "notify", NULL);
    cr_assert_eq(next_of(&h, s), PERDURE_NEXT_EXECUTE);
    succeed(&h, s, "\"sent\"");
    h_flush(&h, json_pack("[o]", with(rec(ID1, "CALLBACK", "Callback", "approval", "SUCCEEDED"), "CallbackDetails",
                                       json_pack("{s:s,s:s}", "CallbackId", "Y2ItMDAx", "Result",
                                                 "{\"approved\": true}"))));
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_RESULT);
    expect_result(&h, op, "{\"approved\": true}");
    h_free(&h);
}

Test(callback, no_options_when_no_timeouts)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op = callback_op(&h, PERDURE_ROOT, NULL, NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush(&h, json_pack("[o]", cb_rec(ID1, NULL, "STARTED", "abc=")));
    expect_update(upd(u, 0), ID1, "CALLBACK", "Callback", "START", NULL, NULL);
    cr_expect_null(json_object_get(upd(u, 0), "CallbackOptions"));
    h_free(&h);
}

Test(callback, missing_callback_id_is_a_protocol_error)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op = callback_op(&h, PERDURE_ROOT, "cb", NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    h_flush(&h, NULL);
    perdure_next n;
    cr_expect_eq(perdure_vm_op_next(h.vm, op, &n), PERDURE_E_PROTOCOL);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", err(&h));
    cr_expect(strstr(msg, "CallbackId") != NULL, "%s", msg);
    /* Poisoned: every later call repeats it. */
    perdure_op s;
    cr_expect_eq(perdure_vm_step(h.vm, PERDURE_ROOT, "s", NULL, &s), PERDURE_E_PROTOCOL);
    cr_expect_eq(perdure_vm_op_next(h.vm, op, &n), PERDURE_E_PROTOCOL);
    cr_expect_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_SUCCEEDED, "1", 1, NULL, &n), PERDURE_E_PROTOCOL);
    perdure_buf b = {0};
    cr_expect_eq(perdure_vm_take_batch(h.vm, &b), PERDURE_E_PROTOCOL);
    cr_expect_str_eq(err(&h), msg);
    h_free(&h);
}

Test(callback, replay_statuses)
{
    const struct {
        const char *status;
        perdure_next next;
        perdure_error_kind kind;
    } cases[] = {{"STARTED", PERDURE_NEXT_SUSPEND, 0},
                 {"SUCCEEDED", PERDURE_NEXT_RESULT, 0},
                 {"FAILED", PERDURE_NEXT_ERROR, PERDURE_ERRK_CALLBACK_FAILED},
                 {"TIMED_OUT", PERDURE_NEXT_ERROR, PERDURE_ERRK_CALLBACK_TIMEOUT},
                 {"CANCELLED", PERDURE_NEXT_ERROR, PERDURE_ERRK_CALLBACK_FAILED},
                 {"STOPPED", PERDURE_NEXT_ERROR, PERDURE_ERRK_CALLBACK_FAILED}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        harness h;
        h_init(&h);
        json_t *details = json_pack("{s:s}", "CallbackId", "Y2I=");
        if (cases[i].next == PERDURE_NEXT_RESULT)
            json_object_set_new(details, "Result", json_string("raw body"));
        if (cases[i].next == PERDURE_NEXT_ERROR)
            json_object_set_new(details, "Error", error_obj("Callback.Timeout", "Callback timed out"));
        h_start(&h, json_pack("[o]", with(rec(ID1, "CALLBACK", "Callback", "cb", cases[i].status), "CallbackDetails",
                                           details)));
        perdure_op op = callback_op(&h, PERDURE_ROOT, "cb", NULL);
        cr_assert_eq(next_of(&h, op), cases[i].next, "%s", cases[i].status);
        const char *id;
        cr_expect_eq(perdure_vm_op_callback_id(h.vm, op, &id), PERDURE_OK);
        if (cases[i].next == PERDURE_NEXT_RESULT)
            expect_result(&h, op, "raw body");
        if (cases[i].next == PERDURE_NEXT_ERROR)
            expect_error(&h, op, cases[i].kind, "Callback.Timeout", "Callback timed out");
        expect_no_batch(&h);
        h_free(&h);
    }
}

Test(callback, replay_without_callback_id_is_a_protocol_error)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", rec(ID1, "CALLBACK", "Callback", NULL, "STARTED")));
    perdure_op op = callback_op(&h, PERDURE_ROOT, NULL, NULL);
    perdure_next n;
    cr_expect_eq(perdure_vm_op_next(h.vm, op, &n), PERDURE_E_PROTOCOL);
    h_free(&h);
}

Test(callback, timeouts_are_validated)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op;
    perdure_callback_config cfg = {.size = sizeof cfg, .timeout_seconds = -1};
    cr_expect_eq(perdure_vm_callback(h.vm, PERDURE_ROOT, NULL, &cfg, &op), PERDURE_E_INVALID);
    cfg = (perdure_callback_config){.size = sizeof cfg, .heartbeat_timeout_seconds = 31622401};
    cr_expect_eq(perdure_vm_callback(h.vm, PERDURE_ROOT, NULL, &cfg, &op), PERDURE_E_INVALID);
    h_free(&h);
}

/* ===========================================================================
 * chained invoke
 * ======================================================================== */

static perdure_op invoke_op(harness *h, const char *name, const char *fn, const char *tenant, const char *payload)
{
    perdure_op op = 0;
    perdure_status st = perdure_vm_invoke(h->vm, PERDURE_ROOT, name, fn, tenant, payload,
                                          payload ? strlen(payload) : 0, &op);
    cr_assert_eq(st, PERDURE_OK, "perdure_vm_invoke: %s", err(h));
    return op;
}

Test(invoke, first_run_start_is_sync_with_payload_and_function)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op = invoke_op(&h, "call", "arn:aws:lambda:us-east-1:123456789012:function:other", "tenant-1",
                              "{\"n\":1}");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1, "CHAINED_INVOKE", "ChainedInvoke", "START", "call", NULL);
    expect_str(upd(u, 0), "Payload", "{\"n\":1}");
    cr_expect_str_eq(ustr2(upd(u, 0), "ChainedInvokeOptions", "FunctionName"),
                     "arn:aws:lambda:us-east-1:123456789012:function:other");
    cr_expect_str_eq(ustr2(upd(u, 0), "ChainedInvokeOptions", "TenantId"), "tenant-1");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_SUSPEND);
    cr_expect_eq(status_of(&h, op), PERDURE_STATUS_STARTED);
    perdure_next n;
    cr_assert_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_PENDING, NULL, 0, NULL, &n), PERDURE_OK, "%s", err(&h));
    h_free(&h);
}

Test(invoke, no_tenant_and_no_payload)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op = invoke_op(&h, NULL, "other", NULL, NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush(&h, NULL);
    expect_update(upd(u, 0), ID1, "CHAINED_INVOKE", "ChainedInvoke", "START", NULL, NULL);
    expect_str(upd(u, 0), "Payload", NULL);
    cr_expect_str_eq(ustr2(upd(u, 0), "ChainedInvokeOptions", "FunctionName"), "other");
    cr_expect_null(ustr2(upd(u, 0), "ChainedInvokeOptions", "TenantId"));
    h_free(&h);
}

Test(invoke, replay_statuses)
{
    const struct {
        const char *status;
        perdure_next next;
    } cases[] = {{"STARTED", PERDURE_NEXT_SUSPEND}, {"SUCCEEDED", PERDURE_NEXT_RESULT},
                 {"FAILED", PERDURE_NEXT_ERROR},    {"TIMED_OUT", PERDURE_NEXT_ERROR},
                 {"STOPPED", PERDURE_NEXT_ERROR}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        harness h;
        h_init(&h);
        json_t *details = json_object();
        if (cases[i].next == PERDURE_NEXT_RESULT)
            json_object_set_new(details, "Result", json_string("{\"ok\":true}"));
        if (cases[i].next == PERDURE_NEXT_ERROR)
            json_object_set_new(details, "Error", error_obj("Target.Error", "it broke"));
        h_start(&h, json_pack("[o]", with(rec(ID1, "CHAINED_INVOKE", "ChainedInvoke", "call", cases[i].status),
                                           "ChainedInvokeDetails", details)));
        perdure_op op = invoke_op(&h, "call", "other", NULL, "{}");
        cr_assert_eq(next_of(&h, op), cases[i].next, "%s", cases[i].status);
        if (cases[i].next == PERDURE_NEXT_RESULT)
            expect_result(&h, op, "{\"ok\":true}");
        if (cases[i].next == PERDURE_NEXT_ERROR)
            expect_error(&h, op, PERDURE_ERRK_INVOKE, "Target.Error", "it broke");
        /* The target is never invoked again on replay. */
        expect_no_batch(&h);
        h_free(&h);
    }
}

Test(invoke, arguments_are_validated)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op;
    char long_name[300];
    memset(long_name, 'f', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    cr_expect_eq(perdure_vm_invoke(h.vm, PERDURE_ROOT, NULL, NULL, NULL, NULL, 0, &op), PERDURE_E_INVALID);
    cr_expect_eq(perdure_vm_invoke(h.vm, PERDURE_ROOT, NULL, "", NULL, NULL, 0, &op), PERDURE_E_INVALID);
    cr_expect_eq(perdure_vm_invoke(h.vm, PERDURE_ROOT, NULL, long_name, NULL, NULL, 0, &op), PERDURE_E_INVALID);
    cr_expect_eq(perdure_vm_invoke(h.vm, PERDURE_ROOT, NULL, "f", "", NULL, 0, &op), PERDURE_E_INVALID);
    cr_expect_eq(perdure_vm_invoke(h.vm, PERDURE_ROOT, NULL, "f", NULL, NULL, 3, &op), PERDURE_E_MISUSE);
    expect_no_batch(&h);
    h_free(&h);
}

/* ===========================================================================
 * child contexts
 * ======================================================================== */

Test(child, first_run_start_async_succeed_sync)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op c = child(&h, PERDURE_ROOT, "sub");
    cr_expect_str_eq(perdure_vm_op_id(h.vm, c), ID1);
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_EXECUTE);
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 0, "context START is async");
    perdure_op s = step(&h, c, "inner", NULL);
    opid sid = HC(ID1, 1);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, s), sid.s);
    run_step_ok(&h, s, "2");
    json_t *u = upd(h.log, 0);
    expect_count(h.log, 3);
    expect_update(u, ID1, "CONTEXT", "RunInChildContext", "START", "sub", NULL);
    expect_update(upd(h.log, 1), sid.s, "STEP", "Step", "START", "inner", ID1);
    expect_update(upd(h.log, 2), sid.s, "STEP", "Step", "SUCCEED", "inner", ID1);
    /* Root counting is unaffected by the child's operations. */
    succeed(&h, c, "\"done\"");
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_CHECKPOINT);
    u = h_flush(&h, NULL);
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1, "CONTEXT", "RunInChildContext", "SUCCEED", "sub", NULL);
    expect_str(upd(u, 0), "Payload", "\"done\"");
    cr_assert(json_is_false(json_object_get(json_object_get(upd(u, 0), "ContextOptions"), "ReplayChildren")),
              "ContextOptions.ReplayChildren must be false: %s", json_dumps(upd(u, 0), JSON_COMPACT));
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_RESULT);
    expect_result(&h, c, "\"done\"");
    perdure_op s2 = step(&h, PERDURE_ROOT, NULL, NULL);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, s2), ID2);
    /* The finished context accepts no more operations. */
    perdure_op late;
    cr_expect_eq(perdure_vm_step(h.vm, c, NULL, NULL, &late), PERDURE_E_MISUSE);
    h_free(&h);
}

Test(child, custom_sub_type)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op c;
    cr_expect_eq(perdure_vm_child(h.vm, PERDURE_ROOT, NULL, "bad type!", 0, &c), PERDURE_E_INVALID);
    cr_expect_eq(perdure_vm_child(h.vm, PERDURE_ROOT, NULL, "", 0, &c), PERDURE_E_INVALID);
    cr_expect_eq(perdure_vm_child(h.vm, PERDURE_ROOT, NULL, "ThisSubTypeIsLongerThan32Characters", 0, &c),
                 PERDURE_E_INVALID);
    cr_assert_eq(perdure_vm_child(h.vm, PERDURE_ROOT, NULL, "WithRetry", 0, &c), PERDURE_OK);
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_EXECUTE);
    succeed(&h, c, "1");
    json_t *u = h_flush(&h, NULL);
    expect_update(upd(u, 0), ID1, "CONTEXT", "WithRetry", "START", NULL, NULL);
    expect_update(upd(u, 1), ID1, "CONTEXT", "WithRetry", "SUCCEED", NULL, NULL);
    h_free(&h);
}

Test(child, nested_parent_id_chain)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op outer = child(&h, PERDURE_ROOT, "outer");
    cr_assert_eq(next_of(&h, outer), PERDURE_NEXT_EXECUTE);
    perdure_op inner = child(&h, outer, "inner");
    cr_assert_eq(next_of(&h, inner), PERDURE_NEXT_EXECUTE);
    perdure_op s = step(&h, inner, "leaf", NULL);
    opid inner_id = HC(ID1, 1), leaf_id = HC(inner_id.s, 1);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, inner), inner_id.s);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, s), leaf_id.s);
    run_step_ok(&h, s, "1");
    succeed(&h, inner, "1");
    cr_assert_eq(drive(&h, inner), PERDURE_NEXT_RESULT);
    succeed(&h, outer, "1");
    cr_assert_eq(drive(&h, outer), PERDURE_NEXT_RESULT);
    json_t *u = h.log;
    expect_count(u, 6);
    expect_update(upd(u, 0), ID1, "CONTEXT", "RunInChildContext", "START", "outer", NULL);
    expect_update(upd(u, 1), inner_id.s, "CONTEXT", "RunInChildContext", "START", "inner", ID1);
    expect_update(upd(u, 2), leaf_id.s, "STEP", "Step", "START", "leaf", inner_id.s);
    expect_update(upd(u, 3), leaf_id.s, "STEP", "Step", "SUCCEED", "leaf", inner_id.s);
    expect_update(upd(u, 4), inner_id.s, "CONTEXT", "RunInChildContext", "SUCCEED", "inner", ID1);
    expect_update(upd(u, 5), ID1, "CONTEXT", "RunInChildContext", "SUCCEED", "outer", NULL);
    h_free(&h);
}

Test(child, virtual_child_writes_nothing_and_lends_its_parent)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op outer = child(&h, PERDURE_ROOT, "outer");
    cr_assert_eq(next_of(&h, outer), PERDURE_NEXT_EXECUTE);
    perdure_op v;
    cr_assert_eq(perdure_vm_child(h.vm, outer, "virt", NULL, 1, &v), PERDURE_OK);
    cr_assert_eq(next_of(&h, v), PERDURE_NEXT_EXECUTE);
    perdure_op s = step(&h, v, NULL, NULL);
    opid vid = HC(ID1, 1), sid = HC(vid.s, 1);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, s), sid.s, "ids still chain through the virtual child");
    run_step_ok(&h, s, "1");
    succeed(&h, v, "1");
    cr_assert_eq(next_of(&h, v), PERDURE_NEXT_RESULT, "nothing to checkpoint");
    json_t *u = h.log;
    expect_count(u, 3);
    expect_update(upd(u, 0), ID1, "CONTEXT", "RunInChildContext", "START", "outer", NULL);
    expect_update(upd(u, 1), sid.s, "STEP", "Step", "START", NULL, ID1);
    h_free(&h);
}

Test(child, failure_is_sync_and_raises_child_error)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op c = child(&h, PERDURE_ROOT, "sub");
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_EXECUTE);
    fail(&h, c, "ValueError", "bad");
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 2);
    expect_update(upd(u, 0), ID1, "CONTEXT", "RunInChildContext", "START", "sub", NULL);
    expect_update(upd(u, 1), ID1, "CONTEXT", "RunInChildContext", "FAIL", "sub", NULL);
    cr_expect_str_eq(ustr2(upd(u, 1), "Error", "ErrorType"), "ValueError");
    expect_str(upd(u, 1), "Payload", NULL);
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_ERROR);
    expect_error(&h, c, PERDURE_ERRK_CHILD, "ValueError", "bad");
    h_free(&h);
}

Test(child, suspended_body_checkpoints_nothing)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op c = child(&h, PERDURE_ROOT, "sub");
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_EXECUTE);
    perdure_op w = wait_op(&h, c, NULL, 10);
    cr_assert_eq(drive(&h, w), PERDURE_NEXT_SUSPEND);
    cr_assert_eq(perdure_vm_op_suspended(h.vm, c), PERDURE_OK);
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_SUSPEND);
    expect_count(h.log, 2);   /* context START (async, flushed with the wait), wait START */
    expect_update(upd(h.log, 0), ID1, "CONTEXT", "RunInChildContext", "START", "sub", NULL);
    opid wid = HC(ID1, 1);
    expect_update(upd(h.log, 1), wid.s, "WAIT", "Wait", "START", NULL, ID1);
    expect_no_batch(&h);
    h_free(&h);
}

Test(child, replay_succeeded_does_not_reenter)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o,o]", with(rec(ID1, "CONTEXT", "RunInChildContext", "sub", "SUCCEEDED"),
                                        "ContextDetails", json_pack("{s:s}", "Result", "\"r\"")),
                          with_parent(step_rec(HC(ID1, 1).s, NULL, "SUCCEEDED", 1), ID1)));
    perdure_op c = child(&h, PERDURE_ROOT, "sub");
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_RESULT);
    expect_result(&h, c, "\"r\"");
    perdure_op s;
    cr_expect_eq(perdure_vm_step(h.vm, c, NULL, NULL, &s), PERDURE_E_MISUSE, "the body is not entered");
    expect_no_batch(&h);
    h_free(&h);
}

Test(child, replay_failed_raises)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", with(rec(ID1, "CONTEXT", "RunInChildContext", NULL, "FAILED"), "ContextDetails",
                                       json_pack("{s:o}", "Error", error_obj("ValueError", "x")))));
    perdure_op c = child(&h, PERDURE_ROOT, NULL);
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_ERROR);
    expect_error(&h, c, PERDURE_ERRK_CHILD, "ValueError", "x");
    expect_no_batch(&h);
    h_free(&h);
}

Test(child, replay_started_reenters_without_new_start)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o,o]", rec(ID1, "CONTEXT", "RunInChildContext", "sub", "STARTED"),
                          with_parent(with(step_rec(HC(ID1, 1).s, NULL, "SUCCEEDED", 1), "StepDetails",
                                           json_pack("{s:i,s:s}", "Attempt", 1, "Result", "5")),
                                      ID1)));
    perdure_op c = child(&h, PERDURE_ROOT, "sub");
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_EXECUTE);
    perdure_op s = step(&h, c, NULL, NULL);
    cr_assert_eq(next_of(&h, s), PERDURE_NEXT_RESULT);
    expect_result(&h, s, "5");
    succeed(&h, c, "5");
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1, "CONTEXT", "RunInChildContext", "SUCCEED", "sub", NULL);
    h_free(&h);
}

static char *big_text(size_t n)
{
    char *t = malloc(n + 1);
    memset(t, 'x', n);
    t[0] = '"';
    t[n - 1] = '"';
    t[n] = 0;
    return t;
}

Test(child, large_result_records_summary_and_replay_children)
{
    char *big = big_text(PERDURE_REPLAY_CHILDREN_THRESHOLD + 1);
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op c = child(&h, PERDURE_ROOT, "big");
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_EXECUTE);
    succeed(&h, c, big);
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 2);
    expect_update(upd(u, 1), ID1, "CONTEXT", "RunInChildContext", "SUCCEED", "big", NULL);
    expect_str(upd(u, 1), "Payload", "");
    cr_expect(json_is_true(json_object_get(json_object_get(upd(u, 1), "ContextOptions"), "ReplayChildren")));
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_RESULT);
    expect_result(&h, c, big);   /* the value, not the recorded summary */

    /* With a summary. */
    perdure_op c2 = child(&h, PERDURE_ROOT, "big2");
    cr_assert_eq(next_of(&h, c2), PERDURE_NEXT_EXECUTE);
    cr_assert_eq(perdure_vm_op_set_summary(h.vm, c2, "{\"n\":1}", 7), PERDURE_OK);
    succeed(&h, c2, big);
    u = h_flush(&h, NULL);
    expect_update(upd(u, 1), ID2, "CONTEXT", "RunInChildContext", "SUCCEED", "big2", NULL);
    expect_str(upd(u, 1), "Payload", "{\"n\":1}");
    cr_expect(json_is_true(json_object_get(json_object_get(upd(u, 1), "ContextOptions"), "ReplayChildren")));

    /* Exactly at the threshold: recorded inline. */
    big[PERDURE_REPLAY_CHILDREN_THRESHOLD - 1] = '"';
    big[PERDURE_REPLAY_CHILDREN_THRESHOLD] = 0;
    perdure_op c3 = child(&h, PERDURE_ROOT, "edge");
    cr_assert_eq(next_of(&h, c3), PERDURE_NEXT_EXECUTE);
    cr_assert_eq(perdure_vm_op_set_summary(h.vm, c3, "unused", 6), PERDURE_OK);
    succeed(&h, c3, big);
    u = h_flush(&h, NULL);
    cr_expect_eq(strlen(ustr(upd(u, 1), "Payload")), PERDURE_REPLAY_CHILDREN_THRESHOLD);
    cr_expect(json_is_false(json_object_get(json_object_get(upd(u, 1), "ContextOptions"), "ReplayChildren")));
    free(big);
    h_free(&h);
}

Test(child, replay_children_reexecutes_and_reports_the_rebuilt_value)
{
    opid sid = HC(ID1, 1);
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o,o]", with(rec(ID1, "CONTEXT", "RunInChildContext", "big", "SUCCEEDED"),
                                        "ContextDetails", json_pack("{s:b,s:s}", "ReplayChildren", 1, "Result", "")),
                          with_parent(with(step_rec(sid.s, NULL, "SUCCEEDED", 1), "StepDetails",
                                           json_pack("{s:i,s:s}", "Attempt", 1, "Result", "\"part\"")),
                                      ID1)));
    perdure_op c = child(&h, PERDURE_ROOT, "big");
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_EXECUTE);
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 1);
    perdure_op s = step(&h, c, NULL, NULL);
    cr_assert_eq(next_of(&h, s), PERDURE_NEXT_RESULT);
    expect_result(&h, s, "\"part\"");
    char *big = big_text(PERDURE_REPLAY_CHILDREN_THRESHOLD + 10);
    succeed(&h, c, big);
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_RESULT, "no new update for a recorded context");
    expect_result(&h, c, big);
    expect_no_batch(&h);
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 0, "both records were visited");
    free(big);
    h_free(&h);
}

/* ===========================================================================
 * map / parallel
 * ======================================================================== */

static perdure_op batch_op(harness *h, const char *name, perdure_batch_kind kind, unsigned n,
                           const perdure_batch_config *cfg)
{
    perdure_op op = 0;
    perdure_status st = perdure_vm_batch(h->vm, PERDURE_ROOT, name, kind, n, cfg, &op);
    cr_assert_eq(st, PERDURE_OK, "perdure_vm_batch: %s", err(h));
    return op;
}

static perdure_batch_poll poll_of(harness *h, perdure_op batch)
{
    perdure_batch_poll p;
    perdure_status st = perdure_vm_batch_poll(h->vm, batch, &p);
    cr_assert_eq(st, PERDURE_OK, "batch_poll: %s", err(h));
    return p;
}

static perdure_op expect_run_item(harness *h, perdure_op batch, unsigned index)
{
    perdure_batch_poll p = poll_of(h, batch);
    cr_assert_eq(p.action, PERDURE_BATCH_RUN_ITEM, "poll: action %d, want RUN_ITEM %u", (int)p.action, index);
    cr_assert_eq(p.index, index);
    return p.item;
}

static void expect_poll(harness *h, perdure_op batch, perdure_batch_action action)
{
    perdure_batch_poll p = poll_of(h, batch);
    cr_assert_eq(p.action, action, "poll: action %d, want %d", (int)p.action, (int)action);
}

static perdure_batch_config batch_cfg(int max_concurrency, const perdure_completion_config *completion)
{
    return (perdure_batch_config){.size = sizeof(perdure_batch_config), .max_concurrency = max_concurrency,
                                  .completion = completion};
}

static perdure_completion_config completion(int min_successful, int tolerated_count, double tolerated_pct)
{
    perdure_completion_config c;
    perdure_completion_config_init(&c);
    c.min_successful = min_successful;
    c.tolerated_failure_count = tolerated_count;
    c.tolerated_failure_percentage = tolerated_pct;
    return c;
}

static perdure_batch_outcome outcome_of(harness *h, perdure_op batch)
{
    perdure_batch_outcome o;
    cr_assert_eq(perdure_vm_batch_outcome(h->vm, batch, &o), PERDURE_OK);
    return o;
}

static perdure_op_status item_status(harness *h, perdure_op batch, unsigned i)
{
    perdure_op_status s;
    perdure_op item;
    cr_assert_eq(perdure_vm_batch_item(h->vm, batch, i, &s, &item), PERDURE_OK);
    return s;
}

/* Runs an item whose body is one unnamed step returning `value`, or raising
 * when value is NULL. */
static void run_item(harness *h, perdure_op item, const char *value)
{
    cr_assert_eq(next_of(h, item), PERDURE_NEXT_EXECUTE);
    perdure_op s = step(h, item, NULL, NULL);
    run_step_ok(h, s, value ? value : "0");
    if (value) {
        succeed(h, item, value);
        cr_assert_eq(drive(h, item), PERDURE_NEXT_RESULT);
    } else {
        fail(h, item, "ValueError", "bad item");
        cr_assert_eq(drive(h, item), PERDURE_NEXT_ERROR);
    }
}

Test(map, two_items_in_order_with_item_ids_and_names)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_batch_config cfg = batch_cfg(1, NULL);
    perdure_op m = batch_op(&h, "batch", PERDURE_BATCH_MAP, 2, &cfg);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    perdure_op i0 = expect_run_item(&h, m, 0);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, i0), ID1_0);
    expect_poll(&h, m, PERDURE_BATCH_WAIT);   /* max_concurrency 1 */
    run_item(&h, i0, "\"ok\"");
    perdure_op i1 = expect_run_item(&h, m, 1);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, i1), ID1_1);
    run_item(&h, i1, "\"ok2\"");
    expect_poll(&h, m, PERDURE_BATCH_DONE);
    perdure_batch_outcome o = outcome_of(&h, m);
    cr_expect_eq(o.reason, PERDURE_COMPLETION_ALL_COMPLETED);
    cr_expect_eq(o.total, 2);
    cr_expect_eq(o.succeeded, 2);
    cr_expect_eq(o.failed, 0);
    cr_expect_eq(o.started, 0);
    succeed(&h, m, "{\"all\":[]}");
    cr_assert_eq(drive(&h, m), PERDURE_NEXT_RESULT);
    expect_result(&h, m, "{\"all\":[]}");

    opid s0 = HC(ID1_0, 1), s1 = HC(ID1_1, 1);
    json_t *u = h.log;
    expect_count(u, 10);
    expect_update(upd(u, 0), ID1, "CONTEXT", "Map", "START", "batch", NULL);
    expect_update(upd(u, 1), ID1_0, "CONTEXT", "MapIteration", "START", "map-item-0", ID1);
    expect_update(upd(u, 2), s0.s, "STEP", "Step", "START", NULL, ID1_0);
    expect_update(upd(u, 3), s0.s, "STEP", "Step", "SUCCEED", NULL, ID1_0);
    expect_update(upd(u, 4), ID1_0, "CONTEXT", "MapIteration", "SUCCEED", "map-item-0", ID1);
    expect_str(upd(u, 4), "Payload", "\"ok\"");
    expect_update(upd(u, 5), ID1_1, "CONTEXT", "MapIteration", "START", "map-item-1", ID1);
    expect_update(upd(u, 6), s1.s, "STEP", "Step", "START", NULL, ID1_1);
    expect_update(upd(u, 7), s1.s, "STEP", "Step", "SUCCEED", NULL, ID1_1);
    expect_update(upd(u, 8), ID1_1, "CONTEXT", "MapIteration", "SUCCEED", "map-item-1", ID1);
    expect_update(upd(u, 9), ID1, "CONTEXT", "Map", "SUCCEED", "batch", NULL);
    expect_str(upd(u, 9), "Payload", "{\"all\":[]}");
    h_free(&h);
}

Test(map, unlimited_concurrency_starts_every_item)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op m = batch_op(&h, NULL, PERDURE_BATCH_MAP, 3, NULL);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    perdure_op items[3];
    for (unsigned i = 0; i < 3; i++)
        items[i] = expect_run_item(&h, m, i);
    expect_poll(&h, m, PERDURE_BATCH_WAIT);
    for (unsigned i = 0; i < 3; i++)
        cr_expect_eq(item_status(&h, m, i), PERDURE_STATUS_STARTED);
    cr_expect_eq(outcome_of(&h, m).started, 3);
    /* Items finish out of order. */
    run_item(&h, items[2], "2");
    expect_poll(&h, m, PERDURE_BATCH_WAIT);
    run_item(&h, items[0], "0");
    run_item(&h, items[1], "1");
    expect_poll(&h, m, PERDURE_BATCH_DONE);
    cr_expect_eq(outcome_of(&h, m).succeeded, 3);
    h_free(&h);
}

Test(map, concurrency_two_bookkeeping)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_batch_config cfg = batch_cfg(2, NULL);
    perdure_op m = batch_op(&h, NULL, PERDURE_BATCH_MAP, 4, &cfg);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    perdure_op i0 = expect_run_item(&h, m, 0), i1 = expect_run_item(&h, m, 1);
    expect_poll(&h, m, PERDURE_BATCH_WAIT);
    expect_poll(&h, m, PERDURE_BATCH_WAIT);
    cr_expect_eq(item_status(&h, m, 2), PERDURE_STATUS_ABSENT);
    run_item(&h, i1, "1");
    perdure_op i2 = expect_run_item(&h, m, 2);
    expect_poll(&h, m, PERDURE_BATCH_WAIT);
    run_item(&h, i0, "0");
    perdure_op i3 = expect_run_item(&h, m, 3);
    run_item(&h, i2, "2");
    expect_poll(&h, m, PERDURE_BATCH_WAIT);
    run_item(&h, i3, "3");
    expect_poll(&h, m, PERDURE_BATCH_DONE);
    h_free(&h);
}

Test(map, suspends_when_every_remaining_item_is_suspended)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_batch_config cfg = batch_cfg(1, NULL);
    perdure_op m = batch_op(&h, "m", PERDURE_BATCH_MAP, 3, &cfg);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    /* item 0 waits: a suspended item frees its slot */
    perdure_op i0 = expect_run_item(&h, m, 0);
    cr_assert_eq(next_of(&h, i0), PERDURE_NEXT_EXECUTE);
    perdure_op w = wait_op(&h, i0, NULL, 60);
    cr_assert_eq(drive(&h, w), PERDURE_NEXT_SUSPEND);
    cr_assert_eq(perdure_vm_op_suspended(h.vm, i0), PERDURE_OK);
    cr_assert_eq(next_of(&h, i0), PERDURE_NEXT_SUSPEND);
    perdure_op i1 = expect_run_item(&h, m, 1);
    run_item(&h, i1, "1");
    perdure_op i2 = expect_run_item(&h, m, 2);
    cr_assert_eq(next_of(&h, i2), PERDURE_NEXT_EXECUTE);
    cr_assert_eq(perdure_vm_op_suspended(h.vm, i2), PERDURE_OK);
    expect_poll(&h, m, PERDURE_BATCH_SUSPEND);
    cr_expect_eq(item_status(&h, m, 0), PERDURE_STATUS_STARTED);
    cr_expect_eq(item_status(&h, m, 1), PERDURE_STATUS_SUCCEEDED);
    cr_expect_eq(outcome_of(&h, m).started, 2);
    cr_expect_eq(outcome_of(&h, m).reason, PERDURE_COMPLETION_NONE);
    cr_assert_eq(perdure_vm_op_suspended(h.vm, m), PERDURE_OK);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_SUSPEND);
    perdure_next n;
    cr_assert_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_PENDING, NULL, 0, NULL, &n), PERDURE_OK, "%s", err(&h));
    cr_assert_eq(n, PERDURE_NEXT_CHECKPOINT, "item 2's START is still queued");
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 1);
    opid i2id = HC(ID1, 2);
    expect_update(upd(u, 0), i2id.s, "CONTEXT", "MapIteration", "START", "map-item-2", ID1);
    h_free(&h);
}

Test(map, default_is_fail_fast_and_orphans_running_items)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op m = batch_op(&h, "m", PERDURE_BATCH_MAP, 3, NULL);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    perdure_op i0 = expect_run_item(&h, m, 0), i1 = expect_run_item(&h, m, 1);
    cr_assert_eq(next_of(&h, i0), PERDURE_NEXT_EXECUTE);
    perdure_op s0 = step(&h, i0, NULL, NULL);
    cr_assert_eq(next_of(&h, s0), PERDURE_NEXT_EXECUTE);
    run_item(&h, i1, NULL);   /* fails */
    expect_poll(&h, m, PERDURE_BATCH_DONE);
    perdure_batch_outcome o = outcome_of(&h, m);
    cr_expect_eq(o.reason, PERDURE_COMPLETION_FAILURE_TOLERANCE_EXCEEDED);
    cr_expect_eq(o.failed, 1);
    cr_expect_eq(o.succeeded, 0);
    cr_expect_eq(o.started, 1);
    cr_expect_eq(item_status(&h, m, 0), PERDURE_STATUS_STARTED);
    cr_expect_eq(item_status(&h, m, 1), PERDURE_STATUS_FAILED);
    cr_expect_eq(item_status(&h, m, 2), PERDURE_STATUS_ABSENT);
    /* The abandoned item and everything in it are orphaned. */
    perdure_next n;
    perdure_op x;
    cr_expect_eq(perdure_vm_op_next(h.vm, i0, &n), PERDURE_E_ORPHANED);
    cr_expect_eq(perdure_vm_op_next(h.vm, s0, &n), PERDURE_E_ORPHANED);
    cr_expect_eq(perdure_vm_op_succeed(h.vm, s0, "1", 1), PERDURE_E_ORPHANED);
    cr_expect_eq(perdure_vm_op_succeed(h.vm, i0, "1", 1), PERDURE_E_ORPHANED);
    cr_expect_eq(perdure_vm_step(h.vm, i0, NULL, NULL, &x), PERDURE_E_ORPHANED);
    /* Not a poison: the batch still succeeds. */
    expect_error(&h, i1, PERDURE_ERRK_CHILD, "ValueError", "bad item");
    succeed(&h, m, "{}");
    json_t *u = h_flush(&h, NULL);
    json_t *last = upd(u, json_array_size(u) - 1);
    expect_update(last, ID1, "CONTEXT", "Map", "SUCCEED", "m", NULL);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_RESULT);
    h_free(&h);
}

Test(map, succeed_before_done_is_misuse)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op m = batch_op(&h, "m", PERDURE_BATCH_MAP, 1, NULL);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    cr_expect_eq(perdure_vm_op_succeed(h.vm, m, "{}", 2), PERDURE_E_MISUSE);
    perdure_op i0 = expect_run_item(&h, m, 0);
    cr_expect_eq(perdure_vm_op_succeed(h.vm, m, "{}", 2), PERDURE_E_MISUSE);
    run_item(&h, i0, "1");
    expect_poll(&h, m, PERDURE_BATCH_DONE);
    cr_expect_eq(perdure_vm_op_succeed(h.vm, m, "{}", 2), PERDURE_OK);
    h_free(&h);
}

Test(map, tolerated_failure_count)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_completion_config c = completion(-1, 1, -1);
    perdure_batch_config cfg = batch_cfg(1, &c);
    perdure_op m = batch_op(&h, "m", PERDURE_BATCH_MAP, 4, &cfg);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    run_item(&h, expect_run_item(&h, m, 0), "0");
    run_item(&h, expect_run_item(&h, m, 1), NULL);
    run_item(&h, expect_run_item(&h, m, 2), "2");
    run_item(&h, expect_run_item(&h, m, 3), NULL);   /* the second failure exceeds 1 */
    expect_poll(&h, m, PERDURE_BATCH_DONE);
    cr_expect_eq(outcome_of(&h, m).reason, PERDURE_COMPLETION_FAILURE_TOLERANCE_EXCEEDED);
    h_free(&h);

    h_init(&h);
    h_start(&h, NULL);
    m = batch_op(&h, "m", PERDURE_BATCH_MAP, 3, &cfg);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    run_item(&h, expect_run_item(&h, m, 0), NULL);
    run_item(&h, expect_run_item(&h, m, 1), "1");
    run_item(&h, expect_run_item(&h, m, 2), "2");
    expect_poll(&h, m, PERDURE_BATCH_DONE);
    perdure_batch_outcome o = outcome_of(&h, m);
    cr_expect_eq(o.reason, PERDURE_COMPLETION_ALL_COMPLETED);
    cr_expect_eq(o.failed, 1);
    cr_expect_eq(o.succeeded, 2);
    h_free(&h);
}

Test(map, percentage_exactly_at_tolerance_does_not_stop)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_completion_config c = completion(-1, -1, 25);
    perdure_batch_config cfg = batch_cfg(1, &c);
    perdure_op m = batch_op(&h, "m", PERDURE_BATCH_MAP, 4, &cfg);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    run_item(&h, expect_run_item(&h, m, 0), NULL);    /* 1/4 = 25%: not above */
    perdure_op i1 = expect_run_item(&h, m, 1);
    run_item(&h, i1, NULL);                           /* 2/4 = 50% */
    expect_poll(&h, m, PERDURE_BATCH_DONE);
    perdure_batch_outcome o = outcome_of(&h, m);
    cr_expect_eq(o.reason, PERDURE_COMPLETION_FAILURE_TOLERANCE_EXCEEDED);
    cr_expect_eq(o.failed, 2);
    cr_expect_eq(item_status(&h, m, 2), PERDURE_STATUS_ABSENT);
    h_free(&h);
}

Test(map, min_successful_completes_early)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_completion_config c = completion(2, -1, -1);
    perdure_batch_config cfg = batch_cfg(-1, &c);
    perdure_op m = batch_op(&h, "m", PERDURE_BATCH_MAP, 4, &cfg);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    perdure_op it[4];
    for (unsigned i = 0; i < 4; i++)
        it[i] = expect_run_item(&h, m, i);
    run_item(&h, it[3], "3");
    expect_poll(&h, m, PERDURE_BATCH_WAIT);
    run_item(&h, it[1], "1");
    expect_poll(&h, m, PERDURE_BATCH_DONE);
    perdure_batch_outcome o = outcome_of(&h, m);
    cr_expect_eq(o.reason, PERDURE_COMPLETION_MIN_SUCCESSFUL_REACHED);
    cr_expect_eq(o.succeeded, 2);
    cr_expect_eq(o.started, 2);
    perdure_next n;
    cr_expect_eq(perdure_vm_op_next(h.vm, it[0], &n), PERDURE_E_ORPHANED);
    expect_poll(&h, m, PERDURE_BATCH_DONE);   /* stays done */
    h_free(&h);
}

Test(map, empty_map_is_done_at_once)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op m = batch_op(&h, "none", PERDURE_BATCH_MAP, 0, NULL);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    expect_poll(&h, m, PERDURE_BATCH_DONE);
    perdure_batch_outcome o = outcome_of(&h, m);
    cr_expect_eq(o.reason, PERDURE_COMPLETION_ALL_COMPLETED);
    cr_expect_eq(o.total, 0);
    succeed(&h, m, "{\"all\":[]}");
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 2);
    expect_update(upd(u, 0), ID1, "CONTEXT", "Map", "START", "none", NULL);
    expect_update(upd(u, 1), ID1, "CONTEXT", "Map", "SUCCEED", "none", NULL);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_RESULT);
    h_free(&h);
}

Test(map, validation_errors_queue_nothing)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op m;
    perdure_batch_config cfg = batch_cfg(0, NULL);
    cr_expect_eq(perdure_vm_batch(h.vm, PERDURE_ROOT, NULL, PERDURE_BATCH_MAP, 2, &cfg, &m), PERDURE_E_INVALID);
    cfg.max_concurrency = -2;
    cr_expect_eq(perdure_vm_batch(h.vm, PERDURE_ROOT, NULL, PERDURE_BATCH_PARALLEL, 2, &cfg, &m), PERDURE_E_INVALID);
    perdure_completion_config c = completion(3, -1, -1);
    cfg = batch_cfg(-1, &c);
    cr_expect_eq(perdure_vm_batch(h.vm, PERDURE_ROOT, NULL, PERDURE_BATCH_MAP, 2, &cfg, &m), PERDURE_E_INVALID);
    c = completion(0, -1, -1);
    cr_expect_eq(perdure_vm_batch(h.vm, PERDURE_ROOT, NULL, PERDURE_BATCH_MAP, 2, &cfg, &m), PERDURE_E_INVALID);
    c = completion(-1, -1, 101);
    cr_expect_eq(perdure_vm_batch(h.vm, PERDURE_ROOT, NULL, PERDURE_BATCH_MAP, 2, &cfg, &m), PERDURE_E_INVALID);
    cr_expect_eq(perdure_vm_batch(h.vm, PERDURE_ROOT, NULL, (perdure_batch_kind)7, 2, NULL, &m), PERDURE_E_INVALID);
    const char *names[] = {"ok", "bad\n"};
    cfg = batch_cfg(-1, NULL);
    cfg.item_names = names;
    cr_expect_eq(perdure_vm_batch(h.vm, PERDURE_ROOT, NULL, PERDURE_BATCH_MAP, 2, &cfg, &m), PERDURE_E_INVALID);
    expect_no_batch(&h);
    /* None of them took a position. */
    m = batch_op(&h, NULL, PERDURE_BATCH_MAP, 2, NULL);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, m), ID1);
    h_free(&h);
}

Test(map, custom_item_names_are_copied)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    char n0[8] = "first";
    const char *names[] = {n0, NULL};
    perdure_batch_config cfg = batch_cfg(-1, NULL);
    cfg.item_names = names;
    perdure_op m = batch_op(&h, "m", PERDURE_BATCH_MAP, 2, &cfg);
    strcpy(n0, "gone");
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    run_item(&h, expect_run_item(&h, m, 0), "1");
    run_item(&h, expect_run_item(&h, m, 1), "1");
    expect_update(upd(h.log, 1), ID1_0, "CONTEXT", "MapIteration", "START", "first", ID1);
    expect_update(upd(h.log, 5), ID1_1, "CONTEXT", "MapIteration", "START", "map-item-1", ID1);
    h_free(&h);
}

Test(map, flat_nesting_writes_no_item_operations)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_batch_config cfg = batch_cfg(1, NULL);
    cfg.nesting = PERDURE_NESTING_FLAT;
    perdure_op m = batch_op(&h, "flat", PERDURE_BATCH_MAP, 2, &cfg);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    run_item(&h, expect_run_item(&h, m, 0), "0");
    perdure_op i1 = expect_run_item(&h, m, 1);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, i1), ID1_1);
    run_item(&h, i1, "1");
    expect_poll(&h, m, PERDURE_BATCH_DONE);
    cr_expect_eq(outcome_of(&h, m).succeeded, 2);
    succeed(&h, m, "{}");
    cr_assert_eq(drive(&h, m), PERDURE_NEXT_RESULT);
    opid s0 = HC(ID1_0, 1), s1 = HC(ID1_1, 1);
    json_t *u = h.log;
    expect_count(u, 6);
    expect_update(upd(u, 0), ID1, "CONTEXT", "Map", "START", "flat", NULL);
    expect_update(upd(u, 1), s0.s, "STEP", "Step", "START", NULL, ID1);
    expect_update(upd(u, 2), s0.s, "STEP", "Step", "SUCCEED", NULL, ID1);
    expect_update(upd(u, 3), s1.s, "STEP", "Step", "START", NULL, ID1);
    expect_update(upd(u, 4), s1.s, "STEP", "Step", "SUCCEED", NULL, ID1);
    expect_update(upd(u, 5), ID1, "CONTEXT", "Map", "SUCCEED", "flat", NULL);
    h_free(&h);
}

Test(map, flat_item_failure_counts)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_batch_config cfg = batch_cfg(1, NULL);
    cfg.nesting = PERDURE_NESTING_FLAT;
    perdure_op m = batch_op(&h, "flat", PERDURE_BATCH_MAP, 2, &cfg);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    perdure_op i0 = expect_run_item(&h, m, 0);
    cr_assert_eq(next_of(&h, i0), PERDURE_NEXT_EXECUTE);
    fail(&h, i0, "ValueError", "flat fail");
    cr_assert_eq(next_of(&h, i0), PERDURE_NEXT_ERROR);
    expect_error(&h, i0, PERDURE_ERRK_CHILD, "ValueError", "flat fail");
    expect_poll(&h, m, PERDURE_BATCH_DONE);
    cr_expect_eq(outcome_of(&h, m).reason, PERDURE_COMPLETION_FAILURE_TOLERANCE_EXCEEDED);
    json_t *u = h_flush(&h, NULL);   /* only the map START */
    expect_count(u, 1);
    h_free(&h);
}

Test(map, replay_succeeded_returns_recorded_result)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o,o]", with(rec(ID1, "CONTEXT", "Map", "m", "SUCCEEDED"), "ContextDetails",
                                        json_pack("{s:s}", "Result", "{\"all\":1}")),
                          with_parent(rec(ID1_0, "CONTEXT", "MapIteration", "map-item-0", "SUCCEEDED"), ID1)));
    perdure_op m = batch_op(&h, "m", PERDURE_BATCH_MAP, 1, NULL);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_RESULT);
    expect_result(&h, m, "{\"all\":1}");
    perdure_batch_poll p;
    cr_expect_eq(perdure_vm_batch_poll(h.vm, m, &p), PERDURE_E_MISUSE, "the items are not re-run");
    expect_no_batch(&h);
    h_free(&h);
}

Test(map, replay_started_replays_items_without_updates)
{
    opid s0 = HC(ID1_0, 1);
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o,o,o,o]", rec(ID1, "CONTEXT", "Map", "m", "STARTED"),
                          with_parent(with(rec(ID1_0, "CONTEXT", "MapIteration", "map-item-0", "SUCCEEDED"),
                                           "ContextDetails", json_pack("{s:s}", "Result", "\"a\"")),
                                      ID1),
                          with_parent(step_rec(s0.s, NULL, "SUCCEEDED", 1), ID1_0),
                          with_parent(with(rec(ID1_1, "CONTEXT", "MapIteration", "map-item-1", "FAILED"),
                                           "ContextDetails", json_pack("{s:o}", "Error", error_obj("E", "m"))),
                                      ID1)));
    perdure_completion_config c = completion(-1, 1, -1);
    perdure_batch_config cfg = batch_cfg(1, &c);
    perdure_op m = batch_op(&h, "m", PERDURE_BATCH_MAP, 3, &cfg);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 1, "its completed items are still to be replayed");
    perdure_op i0 = expect_run_item(&h, m, 0);
    cr_assert_eq(next_of(&h, i0), PERDURE_NEXT_RESULT);
    expect_result(&h, i0, "\"a\"");
    perdure_op i1 = expect_run_item(&h, m, 1);
    cr_assert_eq(next_of(&h, i1), PERDURE_NEXT_ERROR);
    expect_error(&h, i1, PERDURE_ERRK_CHILD, "E", "m");
    expect_no_batch(&h);
    perdure_op i2 = expect_run_item(&h, m, 2);
    run_item(&h, i2, "\"c\"");
    expect_poll(&h, m, PERDURE_BATCH_DONE);
    perdure_batch_outcome o = outcome_of(&h, m);
    cr_expect_eq(o.succeeded, 2);
    cr_expect_eq(o.failed, 1);
    cr_expect_eq(o.reason, PERDURE_COMPLETION_ALL_COMPLETED);
    /* Only item 2 wrote anything. */
    opid i2id = HC(ID1, 2);
    expect_update(upd(h.log, 0), i2id.s, "CONTEXT", "MapIteration", "START", "map-item-2", ID1);
    h_free(&h);
}

Test(map, item_name_mismatch_is_nondeterminism)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o,o]", rec(ID1, "CONTEXT", "Map", "m", "STARTED"),
                          with_parent(rec(ID1_0, "CONTEXT", "MapIteration", "map-item-0", "SUCCEEDED"), ID1)));
    const char *names[] = {"renamed"};
    perdure_batch_config cfg = batch_cfg(-1, NULL);
    cfg.item_names = names;
    perdure_op m = batch_op(&h, "m", PERDURE_BATCH_MAP, 1, &cfg);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    perdure_batch_poll p;
    cr_expect_eq(perdure_vm_batch_poll(h.vm, m, &p), PERDURE_E_NONDETERMINISM);
    perdure_nondeterminism nd;
    cr_assert_eq(perdure_vm_nondeterminism(h.vm, &nd), PERDURE_OK);
    cr_expect_str_eq(nd.operation_id, ID1_0);
    cr_expect_str_eq(nd.context_id, ID1);
    cr_expect_str_eq(nd.expected_name, "map-item-0");
    cr_expect_str_eq(nd.actual_name, "renamed");
    h_free(&h);
}

Test(map, large_batch_result_uses_summary_envelope)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op m = batch_op(&h, "m", PERDURE_BATCH_MAP, 1, NULL);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    run_item(&h, expect_run_item(&h, m, 0), "1");
    expect_poll(&h, m, PERDURE_BATCH_DONE);
    char *big = big_text(PERDURE_REPLAY_CHILDREN_THRESHOLD + 1);
    succeed(&h, m, big);
    json_t *u = h_flush(&h, NULL);
    expect_update(upd(u, 0), ID1, "CONTEXT", "Map", "SUCCEED", "m", NULL);
    cr_expect(json_is_true(json_object_get(json_object_get(upd(u, 0), "ContextOptions"), "ReplayChildren")));
    json_t *summary = json_loads(ustr(upd(u, 0), "Payload"), 0, NULL);
    cr_assert_not_null(summary, "the summary is JSON");
    cr_expect_str_eq(ustr(summary, "type"), "MapResult");
    cr_expect_eq(json_integer_value(json_object_get(summary, "totalCount")), 1);
    cr_expect_eq(json_integer_value(json_object_get(summary, "successCount")), 1);
    cr_expect_str_eq(ustr(summary, "completionReason"), "ALL_COMPLETED");
    json_decref(summary);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_RESULT);
    expect_result(&h, m, big);
    free(big);
    h_free(&h);
}

Test(parallel, defaults_all_successful_with_branch_names)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_batch_config cfg = batch_cfg(1, NULL);
    perdure_op p = batch_op(&h, "par", PERDURE_BATCH_PARALLEL, 3, &cfg);
    cr_assert_eq(next_of(&h, p), PERDURE_NEXT_EXECUTE);
    run_item(&h, expect_run_item(&h, p, 0), "0");
    run_item(&h, expect_run_item(&h, p, 1), NULL);
    expect_poll(&h, p, PERDURE_BATCH_DONE);
    perdure_batch_outcome o = outcome_of(&h, p);
    cr_expect_eq(o.reason, PERDURE_COMPLETION_FAILURE_TOLERANCE_EXCEEDED);
    cr_expect_eq(o.succeeded, 1);
    cr_expect_eq(o.failed, 1);
    cr_expect_eq(item_status(&h, p, 2), PERDURE_STATUS_ABSENT);
    succeed(&h, p, "{}");
    cr_assert_eq(drive(&h, p), PERDURE_NEXT_RESULT);
    json_t *u = h.log;
    expect_update(upd(u, 0), ID1, "CONTEXT", "Parallel", "START", "par", NULL);
    expect_update(upd(u, 1), ID1_0, "CONTEXT", "ParallelBranch", "START", "parallel-branch-0", ID1);
    expect_update(upd(u, 5), ID1_1, "CONTEXT", "ParallelBranch", "START", "parallel-branch-1", ID1);
    expect_update(upd(u, 8), ID1_1, "CONTEXT", "ParallelBranch", "FAIL", "parallel-branch-1", ID1);
    expect_update(upd(u, 9), ID1, "CONTEXT", "Parallel", "SUCCEED", "par", NULL);
    h_free(&h);
}

Test(parallel, all_successful_runs_everything)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op p = batch_op(&h, NULL, PERDURE_BATCH_PARALLEL, 2, NULL);
    cr_assert_eq(next_of(&h, p), PERDURE_NEXT_EXECUTE);
    perdure_op b0 = expect_run_item(&h, p, 0), b1 = expect_run_item(&h, p, 1);
    run_item(&h, b1, "1");
    expect_poll(&h, p, PERDURE_BATCH_WAIT);
    run_item(&h, b0, "0");
    expect_poll(&h, p, PERDURE_BATCH_DONE);
    cr_expect_eq(outcome_of(&h, p).reason, PERDURE_COMPLETION_ALL_COMPLETED);
    h_free(&h);
}

Test(parallel, nested_inside_a_child)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op c = child(&h, PERDURE_ROOT, "c");
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_EXECUTE);
    perdure_op p;
    cr_assert_eq(perdure_vm_batch(h.vm, c, "p", PERDURE_BATCH_PARALLEL, 1, NULL, &p), PERDURE_OK);
    opid pid = HC(ID1, 1), b0 = HC(pid.s, 0), s0 = HC(b0.s, 1);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, p), pid.s);
    cr_assert_eq(next_of(&h, p), PERDURE_NEXT_EXECUTE);
    run_item(&h, expect_run_item(&h, p, 0), "0");
    json_t *u = h.log;
    expect_update(upd(u, 1), pid.s, "CONTEXT", "Parallel", "START", "p", ID1);
    expect_update(upd(u, 2), b0.s, "CONTEXT", "ParallelBranch", "START", "parallel-branch-0", pid.s);
    expect_update(upd(u, 3), s0.s, "STEP", "Step", "START", NULL, b0.s);
    h_free(&h);
}

/* ===========================================================================
 * wait_for_condition
 * ======================================================================== */

static perdure_wait_config wait_none_jitter(unsigned max_attempts, double initial, double rate, double max_delay)
{
    perdure_wait_config w;
    perdure_wait_config_init(&w);
    w.max_attempts = max_attempts;
    w.initial_delay_seconds = initial;
    w.backoff_rate = rate;
    w.max_delay_seconds = max_delay;
    w.jitter = PERDURE_JITTER_NONE;
    return w;
}

static perdure_op condition_op(harness *h, const char *name, const perdure_wait_config *wait, const char *initial)
{
    perdure_condition_config cfg = {.size = sizeof cfg, .wait = wait,
                                     .initial_state = (const unsigned char *)initial,
                                     .initial_state_len = initial ? strlen(initial) : 0};
    perdure_op op = 0;
    perdure_status st = perdure_vm_wait_for_condition(h->vm, PERDURE_ROOT, name, &cfg, &op);
    cr_assert_eq(st, PERDURE_OK, "wait_for_condition: %s", err(h));
    return op;
}

static json_t *cond_rec(const char *status, int attempt, const char *state)
{
    json_t *d = json_pack("{s:i}", "Attempt", attempt);
    if (state)
        json_object_set_new(d, "Result", json_string(state));
    return with(rec(ID1, "STEP", "WaitForCondition", "poll", status), "StepDetails", d);
}

Test(condition, first_check_uses_initial_state_and_retries_with_state)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_wait_config w = wait_none_jitter(5, 3, 2, 100);
    perdure_op op = condition_op(&h, "poll", &w, "{\"n\":0}");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 0, "START is async");
    cr_expect_eq(attempt_of(&h, op), 1);
    expect_result(&h, op, "{\"n\":0}");
    cr_assert_eq(perdure_vm_op_condition_checked(h.vm, op, "{\"n\":1}", 7, 1), PERDURE_OK, "%s", err(&h));
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 2);
    expect_update(upd(u, 0), ID1, "STEP", "WaitForCondition", "START", "poll", NULL);
    expect_update(upd(u, 1), ID1, "STEP", "WaitForCondition", "RETRY", "poll", NULL);
    expect_str(upd(u, 1), "Payload", "{\"n\":1}");
    cr_expect_null(json_object_get(upd(u, 1), "Error"));
    cr_expect_eq(uint2(upd(u, 1), "StepOptions", "NextAttemptDelaySeconds"), 3);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_SUSPEND);
    long long d;
    cr_assert_eq(perdure_vm_op_retry_delay(h.vm, op, &d), PERDURE_OK);
    cr_expect_eq(d, 3);
    h_free(&h);
}

Test(condition, ready_replay_checks_the_recorded_state)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", cond_rec("READY", 2, "{\"n\":2}")));
    perdure_wait_config w = wait_none_jitter(5, 3, 2, 100);
    perdure_op op = condition_op(&h, "poll", &w, "{\"n\":0}");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    cr_expect_eq(attempt_of(&h, op), 3);
    expect_result(&h, op, "{\"n\":2}");
    cr_assert_eq(perdure_vm_op_condition_checked(h.vm, op, "{\"n\":3}", 7, 1), PERDURE_OK);
    json_t *u = h_flush(&h, NULL);
    expect_update(upd(u, 0), ID1, "STEP", "WaitForCondition", "START", "poll", NULL);
    expect_update(upd(u, 1), ID1, "STEP", "WaitForCondition", "RETRY", "poll", NULL);
    cr_expect_eq(uint2(upd(u, 1), "StepOptions", "NextAttemptDelaySeconds"), 12);   /* 3 * 2^(3-1) */
    h_free(&h);
}

Test(condition, stop_succeeds_with_the_state)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", cond_rec("READY", 1, "1")));
    perdure_wait_config w = wait_none_jitter(5, 3, 2, 100);
    perdure_op op = condition_op(&h, "poll", &w, "0");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    cr_assert_eq(perdure_vm_op_condition_checked(h.vm, op, "2", 1, 0), PERDURE_OK);
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 2);
    expect_update(upd(u, 1), ID1, "STEP", "WaitForCondition", "SUCCEED", "poll", NULL);
    expect_str(upd(u, 1), "Payload", "2");
    cr_expect_null(json_object_get(upd(u, 1), "StepOptions"));
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_RESULT);
    expect_result(&h, op, "2");
    h_free(&h);
}

Test(condition, met_at_once_needs_no_suspension)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op = condition_op(&h, "poll", NULL, "0");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    cr_assert_eq(perdure_vm_op_condition_checked(h.vm, op, "0", 1, 0), PERDURE_OK);
    cr_assert_eq(drive(&h, op), PERDURE_NEXT_RESULT);
    expect_count(h.log, 2);
    h_free(&h);
}

Test(condition, exhaustion_fails_with_wait_for_condition_error)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", cond_rec("READY", 2, "5")));
    perdure_wait_config w = wait_none_jitter(3, 3, 2, 100);
    perdure_op op = condition_op(&h, "poll", &w, "0");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    cr_assert_eq(perdure_vm_op_condition_checked(h.vm, op, "6", 1, 1), PERDURE_OK);
    json_t *u = h_flush(&h, NULL);
    expect_update(upd(u, 1), ID1, "STEP", "WaitForCondition", "FAIL", "poll", NULL);
    cr_expect_str_eq(ustr2(upd(u, 1), "Error", "ErrorType"), "WaitForConditionError");
    expect_str(upd(u, 1), "Payload", NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_ERROR);
    expect_error(&h, op, PERDURE_ERRK_WAIT_FOR_CONDITION, "WaitForConditionError", NULL);
    h_free(&h);
}

Test(condition, raising_check_fails_without_retry)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_wait_config w = wait_none_jitter(60, 5, 1.5, 300);
    perdure_op op = condition_op(&h, "poll", &w, "0");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    fail(&h, op, "KeyError", "nope");
    json_t *u = h_flush(&h, NULL);
    expect_update(upd(u, 1), ID1, "STEP", "WaitForCondition", "FAIL", "poll", NULL);
    cr_expect_str_eq(ustr2(upd(u, 1), "Error", "ErrorType"), "KeyError");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_ERROR);
    expect_error(&h, op, PERDURE_ERRK_WAIT_FOR_CONDITION, "KeyError", "nope");
    h_free(&h);
}

Test(condition, decided_by_the_caller)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op = condition_op(&h, "poll", NULL, NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    expect_result(&h, op, NULL);   /* no initial state */
    cr_expect_eq(perdure_vm_op_condition_checked(h.vm, op, "1", 1, 1), PERDURE_E_MISUSE, "no strategy to ask");
    cr_expect_eq(perdure_vm_op_succeed(h.vm, op, "1", 1), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_op_condition_decided(h.vm, op, "1", 1, 1, 0), PERDURE_E_INVALID);
    cr_assert_eq(perdure_vm_op_condition_decided(h.vm, op, "1", 1, 1, 42), PERDURE_OK);
    json_t *u = h_flush(&h, NULL);
    expect_update(upd(u, 1), ID1, "STEP", "WaitForCondition", "RETRY", "poll", NULL);
    cr_expect_eq(uint2(upd(u, 1), "StepOptions", "NextAttemptDelaySeconds"), 42);
    h_free(&h);
}

Test(condition, replay_statuses)
{
    const struct {
        const char *status;
        perdure_next next;
    } cases[] = {{"SUCCEEDED", PERDURE_NEXT_RESULT}, {"PENDING", PERDURE_NEXT_SUSPEND}, {"FAILED", PERDURE_NEXT_ERROR}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        harness h;
        h_init(&h);
        json_t *r = cond_rec(cases[i].status, 3, "\"s\"");
        if (cases[i].next == PERDURE_NEXT_ERROR)
            json_object_set_new(json_object_get(r, "StepDetails"), "Error",
                                error_obj("WaitForConditionError", "gave up"));
        h_start(&h, json_pack("[o]", r));
        perdure_op op = condition_op(&h, "poll", NULL, "0");
        cr_assert_eq(next_of(&h, op), cases[i].next, "%s", cases[i].status);
        if (cases[i].next == PERDURE_NEXT_RESULT)
            expect_result(&h, op, "\"s\"");
        if (cases[i].next == PERDURE_NEXT_ERROR)
            expect_error(&h, op, PERDURE_ERRK_WAIT_FOR_CONDITION, "WaitForConditionError", "gave up");
        expect_no_batch(&h);
        h_free(&h);
    }
}

Test(condition, started_reruns_the_check_without_new_start)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", cond_rec("STARTED", 1, "\"prev\"")));
    perdure_op op = condition_op(&h, "poll", NULL, "0");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    expect_result(&h, op, "\"prev\"");
    cr_assert_eq(perdure_vm_op_condition_checked(h.vm, op, "1", 1, 0), PERDURE_OK);
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1, "STEP", "WaitForCondition", "SUCCEED", "poll", NULL);
    h_free(&h);
}

/* ===========================================================================
 * wait_for_callback
 * ======================================================================== */

static perdure_op wfc_op(harness *h, const char *name, const perdure_callback_config *cfg,
                         const perdure_step_config *sub_cfg)
{
    perdure_op op = 0;
    perdure_status st = perdure_vm_wait_for_callback(h->vm, PERDURE_ROOT, name, cfg, sub_cfg, &op);
    cr_assert_eq(st, PERDURE_OK, "wait_for_callback: %s", err(h));
    return op;
}

Test(wfc, first_run_sequence)
{
    opid cb = HC(ID1, 1), sub = HC(ID1, 2);
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_callback_config cfg = {.size = sizeof cfg, .timeout_seconds = 120};
    perdure_op op = wfc_op(&h, "approve", &cfg, NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush(&h, json_pack("[o]", with_parent(cb_rec(cb.s, "approve create callback id", "STARTED",
                                                                 "Y2I9MQ=="),
                                                          ID1)));
    expect_count(u, 2);
    expect_update(upd(u, 0), ID1, "CONTEXT", "WaitForCallback", "START", "approve", NULL);
    expect_update(upd(u, 1), cb.s, "CALLBACK", "Callback", "START", "approve create callback id", ID1);
    cr_expect_eq(uint2(upd(u, 1), "CallbackOptions", "TimeoutSeconds"), 120);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    const char *cb_id = NULL;
    cr_assert_eq(perdure_vm_op_callback_id(h.vm, op, &cb_id), PERDURE_OK);
    cr_expect_str_eq(cb_id, "Y2I9MQ==");
    cr_expect_eq(attempt_of(&h, op), 1);
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 0, "the submitter's START is async");
    succeed(&h, op, "null");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    u = h_flush(&h, NULL);
    expect_count(u, 2);
    expect_update(upd(u, 0), sub.s, "STEP", "Step", "START", "approve submitter", ID1);
    expect_update(upd(u, 1), sub.s, "STEP", "Step", "SUCCEED", "approve submitter", ID1);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_SUSPEND);
    perdure_next n;
    cr_assert_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_PENDING, NULL, 0, NULL, &n), PERDURE_OK, "%s", err(&h));
    h_free(&h);
}

Test(wfc, unnamed_children_names)
{
    opid cb = HC(ID1, 1), sub = HC(ID1, 2);
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op = wfc_op(&h, NULL, NULL, NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush(&h, json_pack("[o]", with_parent(cb_rec(cb.s, "create callback id", "STARTED", "eA=="), ID1)));
    expect_update(upd(u, 0), ID1, "CONTEXT", "WaitForCallback", "START", NULL, NULL);
    expect_update(upd(u, 1), cb.s, "CALLBACK", "Callback", "START", "create callback id", ID1);
    cr_expect_null(json_object_get(upd(u, 1), "CallbackOptions"));
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    succeed(&h, op, NULL);
    u = h_flush(&h, NULL);
    expect_update(upd(u, 0), sub.s, "STEP", "Step", "START", "submitter", ID1);
    h_free(&h);
}

/* The records of a wait_for_callback whose submitter already ran. */
static json_t *wfc_records(const char *ctx_status, const char *cb_status, json_t *cb_details)
{
    opid cb = HC(ID1, 1), sub = HC(ID1, 2);
    json_object_set_new(cb_details, "CallbackId", json_string("Y2I="));
    return json_pack("[o,o,o]", rec(ID1, "CONTEXT", "WaitForCallback", "w", ctx_status),
                     with_parent(with(rec(cb.s, "CALLBACK", "Callback", "w create callback id", cb_status),
                                      "CallbackDetails", cb_details),
                                 ID1),
                     with_parent(step_rec(sub.s, "w submitter", "SUCCEEDED", 1), ID1));
}

Test(wfc, callback_succeeded_on_replay_succeeds_the_context_with_the_raw_result)
{
    harness h;
    h_init(&h);
    h_start(&h, wfc_records("STARTED", "SUCCEEDED", json_pack("{s:s}", "Result", "{\"approved\": true}")));
    perdure_op op = wfc_op(&h, "w", NULL, NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1, "CONTEXT", "WaitForCallback", "SUCCEED", "w", NULL);
    expect_str(upd(u, 0), "Payload", "{\"approved\": true}");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_RESULT);
    expect_result(&h, op, "{\"approved\": true}");
    h_free(&h);
}

Test(wfc, callback_still_started_on_replay_suspends)
{
    harness h;
    h_init(&h);
    h_start(&h, wfc_records("STARTED", "STARTED", json_object()));
    perdure_op op = wfc_op(&h, "w", NULL, NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_SUSPEND);
    expect_no_batch(&h);
    h_free(&h);
}

Test(wfc, callback_timed_out_fails_with_timeout_kind)
{
    harness h;
    h_init(&h);
    h_start(&h, wfc_records("STARTED", "TIMED_OUT",
                            json_pack("{s:o}", "Error", error_obj("Callback.Timeout", "Callback timed out"))));
    perdure_op op = wfc_op(&h, "w", NULL, NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1, "CONTEXT", "WaitForCallback", "FAIL", "w", NULL);
    cr_expect_str_eq(ustr2(upd(u, 0), "Error", "ErrorType"), "Callback.Timeout");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_ERROR);
    expect_error(&h, op, PERDURE_ERRK_CALLBACK_TIMEOUT, "Callback.Timeout", "Callback timed out");
    h_free(&h);
}

Test(wfc, callback_failed_fails_with_external_kind)
{
    harness h;
    h_init(&h);
    h_start(&h, wfc_records("STARTED", "FAILED", json_pack("{s:o}", "Error", error_obj("Denied", "no"))));
    perdure_op op = wfc_op(&h, "w", NULL, NULL);
    cr_assert_eq(drive(&h, op), PERDURE_NEXT_ERROR);
    expect_error(&h, op, PERDURE_ERRK_CALLBACK_FAILED, "Denied", "no");
    h_free(&h);
}

Test(wfc, submitter_failure_fails_the_context)
{
    perdure_retry_config none = {.size = sizeof none};
    perdure_retry_config_preset(&none, PERDURE_RETRY_NONE);
    perdure_step_config sc = step_cfg(PERDURE_AT_LEAST_ONCE_PER_RETRY, &none);
    opid cb = HC(ID1, 1), sub = HC(ID1, 2);
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op = wfc_op(&h, "w", NULL, &sc);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    h_flush(&h, json_pack("[o]", with_parent(cb_rec(cb.s, "w create callback id", "STARTED", "Y2I="), ID1)));
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    fail(&h, op, "HTTPError", "503");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 2);
    expect_update(upd(u, 0), sub.s, "STEP", "Step", "START", "w submitter", ID1);
    expect_update(upd(u, 1), sub.s, "STEP", "Step", "FAIL", "w submitter", ID1);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    u = h_flush(&h, NULL);
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1, "CONTEXT", "WaitForCallback", "FAIL", "w", NULL);
    cr_expect_str_eq(ustr2(upd(u, 0), "Error", "ErrorType"), "HTTPError");
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_ERROR);
    expect_error(&h, op, PERDURE_ERRK_CALLBACK_SUBMITTER, "HTTPError", "503");
    h_free(&h);
}

Test(wfc, submitter_retry_suspends)
{
    perdure_retry_config r = retry_none_jitter(3, 2, 2, 60);
    perdure_step_config sc = step_cfg(PERDURE_AT_LEAST_ONCE_PER_RETRY, &r);
    opid cb = HC(ID1, 1), sub = HC(ID1, 2);
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op = wfc_op(&h, "w", NULL, &sc);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    h_flush(&h, json_pack("[o]", with_parent(cb_rec(cb.s, "w create callback id", "STARTED", "Y2I="), ID1)));
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
    fail(&h, op, "HTTPError", "503");
    json_t *u = h_flush(&h, NULL);
    expect_update(upd(u, 1), sub.s, "STEP", "Step", "RETRY", "w submitter", ID1);
    cr_expect_eq(uint2(upd(u, 1), "StepOptions", "NextAttemptDelaySeconds"), 2);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_SUSPEND);
    expect_no_batch(&h);
    h_free(&h);
}

Test(wfc, replay_of_finished_context)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", with(rec(ID1, "CONTEXT", "WaitForCallback", "w", "SUCCEEDED"), "ContextDetails",
                                       json_pack("{s:s}", "Result", "raw"))));
    perdure_op op = wfc_op(&h, "w", NULL, NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_RESULT);
    expect_result(&h, op, "raw");
    expect_no_batch(&h);
    h_free(&h);
}

Test(wfc, replay_of_failed_context_tells_the_kind)
{
    /* From the callback's record... */
    harness h;
    h_init(&h);
    json_t *ops = wfc_records("FAILED", "TIMED_OUT",
                              json_pack("{s:o}", "Error", error_obj("Callback.Heartbeat", "hb")));
    json_object_set_new(json_array_get(ops, 0), "ContextDetails",
                        json_pack("{s:o}", "Error", error_obj("Callback.Heartbeat", "hb")));
    h_start(&h, ops);
    perdure_op op = wfc_op(&h, "w", NULL, NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_ERROR);
    expect_error(&h, op, PERDURE_ERRK_CALLBACK_TIMEOUT, "Callback.Heartbeat", "hb");
    h_free(&h);

    /* ...from the error type when the children were pruned... */
    h_init(&h);
    h_start(&h, json_pack("[o]", with(rec(ID1, "CONTEXT", "WaitForCallback", "w", "FAILED"), "ContextDetails",
                                       json_pack("{s:o}", "Error", error_obj("Callback.Timeout", "t")))));
    op = wfc_op(&h, "w", NULL, NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_ERROR);
    expect_error(&h, op, PERDURE_ERRK_CALLBACK_TIMEOUT, "Callback.Timeout", "t");
    h_free(&h);

    /* ...and a submitter failure when the callback itself is fine. */
    h_init(&h);
    ops = wfc_records("FAILED", "STARTED", json_object());
    json_object_set_new(json_array_get(ops, 0), "ContextDetails",
                        json_pack("{s:o}", "Error", error_obj("HTTPError", "503")));
    h_start(&h, ops);
    op = wfc_op(&h, "w", NULL, NULL);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_ERROR);
    expect_error(&h, op, PERDURE_ERRK_CALLBACK_SUBMITTER, "HTTPError", "503");
    h_free(&h);
}

Test(wfc, outcome_calls_need_a_running_submitter)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op op = wfc_op(&h, "w", NULL, NULL);
    cr_expect_eq(perdure_vm_op_succeed(h.vm, op, NULL, 0), PERDURE_E_MISUSE);
    cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
    cr_expect_eq(perdure_vm_op_succeed(h.vm, op, NULL, 0), PERDURE_E_MISUSE);
    const char *id;
    cr_expect_eq(perdure_vm_op_callback_id(h.vm, op, &id), PERDURE_E_MISUSE);
    perdure_op s;
    cr_expect_eq(perdure_vm_step(h.vm, op, NULL, NULL, &s), PERDURE_E_MISUSE, "not a context for user ops");
    h_free(&h);
}

Test(wfc, declared_when_the_op_table_grows)
{
    /* The context's children are declared while the op table may move. */
    for (unsigned before = 10; before < 20; before++) {
        harness h;
        h_init(&h);
        h_start(&h, NULL);
        for (unsigned i = 0; i < before; i++)
            step(&h, PERDURE_ROOT, NULL, NULL);
        perdure_op op = wfc_op(&h, "w", NULL, NULL);
        opid wid = H("%u", before + 1), cb = HC(wid.s, 1), sub = HC(wid.s, 2);
        cr_assert_eq(next_of(&h, op), PERDURE_NEXT_CHECKPOINT);
        json_t *u = h_flush(&h, json_pack("[o]", with_parent(cb_rec(cb.s, "w create callback id", "STARTED", "eA=="),
                                                              wid.s)));
        expect_update(upd(u, 1), cb.s, "CALLBACK", "Callback", "START", "w create callback id", wid.s);
        cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
        succeed(&h, op, NULL);
        u = h_flush(&h, NULL);
        expect_update(upd(u, 0), sub.s, "STEP", "Step", "START", "w submitter", wid.s);
        cr_assert_eq(next_of(&h, op), PERDURE_NEXT_SUSPEND);
        h_free(&h);
    }
}

/* ===========================================================================
 * non-determinism
 * ======================================================================== */

typedef enum decl { D_STEP, D_WAIT, D_CALLBACK, D_CHILD, D_MAP, D_PARALLEL, D_CONDITION, D_WFC, D_INVOKE } decl;

static const struct {
    const char *type, *sub_type;
    perdure_op_type t;
} decl_shape[] = {
    [D_STEP] = {"STEP", "Step", PERDURE_TYPE_STEP},
    [D_WAIT] = {"WAIT", "Wait", PERDURE_TYPE_WAIT},
    [D_CALLBACK] = {"CALLBACK", "Callback", PERDURE_TYPE_CALLBACK},
    [D_CHILD] = {"CONTEXT", "RunInChildContext", PERDURE_TYPE_CONTEXT},
    [D_MAP] = {"CONTEXT", "Map", PERDURE_TYPE_CONTEXT},
    [D_PARALLEL] = {"CONTEXT", "Parallel", PERDURE_TYPE_CONTEXT},
    [D_CONDITION] = {"STEP", "WaitForCondition", PERDURE_TYPE_STEP},
    [D_WFC] = {"CONTEXT", "WaitForCallback", PERDURE_TYPE_CONTEXT},
    [D_INVOKE] = {"CHAINED_INVOKE", "ChainedInvoke", PERDURE_TYPE_CHAINED_INVOKE},
};

static perdure_status declare_kind(perdure_vm *vm, perdure_ctx ctx, decl d, const char *name, perdure_op *out)
{
    perdure_condition_config cc = {.size = sizeof cc};
    switch (d) {
    case D_STEP:
        return perdure_vm_step(vm, ctx, name, NULL, out);
    case D_WAIT:
        return perdure_vm_wait(vm, ctx, name, 5, out);
    case D_CALLBACK:
        return perdure_vm_callback(vm, ctx, name, NULL, out);
    case D_CHILD:
        return perdure_vm_child(vm, ctx, name, NULL, 0, out);
    case D_MAP:
        return perdure_vm_batch(vm, ctx, name, PERDURE_BATCH_MAP, 1, NULL, out);
    case D_PARALLEL:
        return perdure_vm_batch(vm, ctx, name, PERDURE_BATCH_PARALLEL, 1, NULL, out);
    case D_CONDITION:
        return perdure_vm_wait_for_condition(vm, ctx, name, &cc, out);
    case D_WFC:
        return perdure_vm_wait_for_callback(vm, ctx, name, NULL, NULL, out);
    case D_INVOKE:
        return perdure_vm_invoke(vm, ctx, name, "fn", NULL, "{}", 2, out);
    }
    return PERDURE_E_INTERNAL;
}

/* Records `recorded` named rec_name at ID1 and declares `declared` named
 * decl_name: a mismatch must poison the VM with a precise report. */
static void check_nd(decl recorded, const char *rec_name, decl declared, const char *decl_name)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", rec(ID1, decl_shape[recorded].type, decl_shape[recorded].sub_type, rec_name,
                                     "SUCCEEDED")));
    perdure_op op = 0;
    perdure_status st = declare_kind(h.vm, PERDURE_ROOT, declared, decl_name, &op);
    cr_assert_eq(st, PERDURE_E_NONDETERMINISM, "recorded %s/%s \"%s\", declared %s/%s \"%s\": got %s",
                 decl_shape[recorded].type, decl_shape[recorded].sub_type, rec_name ? rec_name : "",
                 decl_shape[declared].type, decl_shape[declared].sub_type, decl_name ? decl_name : "",
                 perdure_status_name(st));
    perdure_nondeterminism nd;
    cr_assert_eq(perdure_vm_nondeterminism(h.vm, &nd), PERDURE_OK);
    cr_expect_str_eq(nd.operation_id, ID1);
    cr_expect_eq(nd.position, 1);
    cr_expect_str_eq(nd.context_id, "");
    cr_expect_eq(nd.expected_type, decl_shape[recorded].t);
    cr_expect_eq(nd.actual_type, decl_shape[declared].t);
    cr_expect_str_eq(nd.expected_sub_type, decl_shape[recorded].sub_type);
    cr_expect_str_eq(nd.actual_sub_type, decl_shape[declared].sub_type);
    cr_expect_str_eq(nd.expected_name, rec_name ? rec_name : "");
    cr_expect_str_eq(nd.actual_name, decl_name ? decl_name : "");
    char msg[512];
    snprintf(msg, sizeof msg, "%s", err(&h));
    cr_expect(strstr(msg, ID1) != NULL, "message names the Id: %s", msg);
    /* Poisoned: the same status and message from every later call. */
    perdure_op x;
    perdure_next n;
    perdure_buf b = {0};
    cr_expect_eq(perdure_vm_step(h.vm, PERDURE_ROOT, NULL, NULL, &x), PERDURE_E_NONDETERMINISM);
    cr_expect_eq(perdure_vm_wait(h.vm, PERDURE_ROOT, NULL, 5, &x), PERDURE_E_NONDETERMINISM);
    cr_expect_eq(perdure_vm_op_next(h.vm, op, &n), PERDURE_E_NONDETERMINISM);
    cr_expect_eq(perdure_vm_take_batch(h.vm, &b), PERDURE_E_NONDETERMINISM);
    cr_expect_eq(perdure_vm_apply_response(h.vm, "{}", 2), PERDURE_E_NONDETERMINISM);
    cr_expect_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_SUCCEEDED, "1", 1, NULL, &n), PERDURE_E_NONDETERMINISM);
    cr_expect_eq(perdure_vm_output(h.vm, &b), PERDURE_E_NONDETERMINISM);
    cr_expect_eq(perdure_vm_set_now(h.vm, 1), PERDURE_E_NONDETERMINISM);
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 0);
    cr_expect_str_eq(err(&h), msg);
    h_free(&h);
}

Test(nondeterminism, type_mismatch_for_every_kind)
{
    /* Each kind declared where another type was recorded. */
    const decl other_type[] = {[D_STEP] = D_WAIT,   [D_WAIT] = D_STEP,      [D_CALLBACK] = D_INVOKE,
                               [D_CHILD] = D_STEP,  [D_MAP] = D_CALLBACK,   [D_PARALLEL] = D_WAIT,
                               [D_CONDITION] = D_CHILD, [D_WFC] = D_STEP,   [D_INVOKE] = D_CALLBACK};
    for (int d = D_STEP; d <= D_INVOKE; d++)
        check_nd(other_type[d], "n", (decl)d, "n");
}

Test(nondeterminism, sub_type_mismatch)
{
    check_nd(D_STEP, "n", D_CONDITION, "n");
    check_nd(D_CONDITION, "n", D_STEP, "n");
    check_nd(D_CHILD, "n", D_MAP, "n");
    check_nd(D_MAP, "n", D_PARALLEL, "n");
    check_nd(D_PARALLEL, "n", D_WFC, "n");
    check_nd(D_WFC, "n", D_CHILD, "n");
}

Test(nondeterminism, name_mismatch_for_every_kind)
{
    for (int d = D_STEP; d <= D_INVOKE; d++) {
        check_nd((decl)d, "recorded", (decl)d, "declared");
        check_nd((decl)d, NULL, (decl)d, "named now");
        check_nd((decl)d, "named then", (decl)d, NULL);
    }
}

Test(nondeterminism, inside_a_child_reports_context_and_position)
{
    opid c2 = HC(ID1, 2);
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o,o,o]", rec(ID1, "CONTEXT", "RunInChildContext", "c", "STARTED"),
                          with_parent(step_rec(HC(ID1, 1).s, "a", "SUCCEEDED", 1), ID1),
                          with_parent(step_rec(c2.s, "b", "SUCCEEDED", 1), ID1)));
    perdure_op c = child(&h, PERDURE_ROOT, "c");
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_EXECUTE);
    step(&h, c, "a", NULL);
    perdure_op x;
    cr_assert_eq(perdure_vm_wait(h.vm, c, "b", 5, &x), PERDURE_E_NONDETERMINISM);
    perdure_nondeterminism nd;
    cr_assert_eq(perdure_vm_nondeterminism(h.vm, &nd), PERDURE_OK);
    cr_expect_str_eq(nd.operation_id, c2.s);
    cr_expect_eq(nd.position, 2);
    cr_expect_str_eq(nd.context_id, ID1);
    cr_expect_eq(nd.expected_type, PERDURE_TYPE_STEP);
    cr_expect_eq(nd.actual_type, PERDURE_TYPE_WAIT);
    cr_expect_str_eq(nd.expected_name, "b");
    cr_expect_str_eq(nd.actual_name, "b");
    h_free(&h);
}

Test(nondeterminism, wfc_children_are_checked)
{
    /* The callback child was recorded under another name. */
    opid cb = HC(ID1, 1);
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o,o]", rec(ID1, "CONTEXT", "WaitForCallback", "w", "STARTED"),
                          with_parent(cb_rec(cb.s, "other create callback id", "STARTED", "eA=="), ID1)));
    perdure_op op = wfc_op(&h, "w", NULL, NULL);
    perdure_next n;
    cr_expect_eq(perdure_vm_op_next(h.vm, op, &n), PERDURE_E_NONDETERMINISM);
    perdure_nondeterminism nd;
    cr_assert_eq(perdure_vm_nondeterminism(h.vm, &nd), PERDURE_OK);
    cr_expect_str_eq(nd.operation_id, cb.s);
    cr_expect_str_eq(nd.context_id, ID1);
    cr_expect_str_eq(nd.actual_name, "w create callback id");
    h_free(&h);
}

Test(nondeterminism, matching_replay_is_not_reported)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_nondeterminism nd;
    cr_expect_eq(perdure_vm_nondeterminism(h.vm, &nd), PERDURE_E_MISUSE, "nothing to report");
    h_free(&h);
}

/* ===========================================================================
 * is_replaying
 * ======================================================================== */

Test(replaying, transitions_at_the_first_unrecorded_operation)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o,o]", step_rec(ID1, "a", "SUCCEEDED", 1), step_rec(ID2, "b", "SUCCEEDED", 1)));
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 1);
    perdure_op a = step(&h, PERDURE_ROOT, "a", NULL);
    cr_assert_eq(next_of(&h, a), PERDURE_NEXT_RESULT);
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 1);
    step(&h, PERDURE_ROOT, "b", NULL);
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 0, "every completed record was visited: code after b is new");
    step(&h, PERDURE_ROOT, "c", NULL);
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 0);
    perdure_vm_free(h.vm);
    h.vm = NULL;
    cr_expect_eq(perdure_vm_is_replaying(NULL), 0);
    h_free(&h);
}

Test(replaying, lasts_until_every_completed_record_is_visited)
{
    opid inner = HC(ID1, 1);
    harness h;
    h_init(&h);
    /* a child completed as a whole (its step inside), a pending callback, a fired wait */
    h_start(&h, json_pack("[o,o,o,o]", with(rec(ID1, "CONTEXT", "RunInChildContext", "kid", "SUCCEEDED"),
                                            "ContextDetails", json_pack("{s:s}", "Result", "1")),
                          with_parent(step_rec(inner.s, NULL, "SUCCEEDED", 1), ID1),
                          rec(ID2, "CALLBACK", "Callback", "cb", "STARTED"),
                          rec(ID3, "WAIT", "Wait", "w", "SUCCEEDED")));
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 1);
    perdure_op c = child(&h, PERDURE_ROOT, "kid");
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_RESULT);
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 1, "the wait is still to be replayed");
    perdure_op cb = 0;
    perdure_callback_config cc = {.size = sizeof cc};
    cr_assert_eq(perdure_vm_callback(h.vm, PERDURE_ROOT, "cb", &cc, &cb), PERDURE_OK);
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 1, "a pending record does not end replay while completed ones remain");
    perdure_op w = 0;
    cr_assert_eq(perdure_vm_wait(h.vm, PERDURE_ROOT, "w", 5, &w), PERDURE_OK);
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 0, "the child's inner step counts as replayed with the child");
    h_free(&h);
}

Test(replaying, a_later_record_with_the_same_id_replaces_the_earlier)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o,o,o]", step_rec(ID1, "a", "STARTED", 1), step_rec(ID2, "b", "SUCCEEDED", 1),
                          step_rec(ID1, "a", "SUCCEEDED", 1)));
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 1);
    perdure_step_config sc = {.size = sizeof sc};
    perdure_op a = 0, b = 0;
    cr_assert_eq(perdure_vm_step(h.vm, PERDURE_ROOT, "a", &sc, &a), PERDURE_OK, "%s", err(&h));
    cr_expect_eq(next_of(&h, a), PERDURE_NEXT_RESULT, "the SUCCEEDED record won");
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 1, "b is still to be replayed");
    cr_assert_eq(perdure_vm_step(h.vm, PERDURE_ROOT, "b", &sc, &b), PERDURE_OK, "%s", err(&h));
    cr_expect_eq(next_of(&h, b), PERDURE_NEXT_RESULT);
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 0, "two records, both visited");
    h_free(&h);
}

Test(replaying, a_step_to_run_again_ends_replay)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o,o]", step_rec(ID1, "a", "READY", 1), step_rec(ID2, "b", "SUCCEEDED", 1)));
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 1);
    step(&h, PERDURE_ROOT, "a", NULL);
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 0, "its body runs for real");
    h_free(&h);
}

Test(replaying, first_invocation_is_not_replaying)
{
    harness h;
    h_init(&h);
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 0, "before start");
    h_start(&h, NULL);
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 0);
    h_free(&h);
}

Test(replaying, map_item_without_record_ends_replay)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o,o]", rec(ID1, "CONTEXT", "Map", "m", "SUCCEEDED"),
                          with(rec(ID2, "CONTEXT", "Map", "m2", "SUCCEEDED"), "ContextDetails",
                               json_pack("{s:b,s:s}", "ReplayChildren", 1, "Result", ""))));
    perdure_op m = batch_op(&h, "m", PERDURE_BATCH_MAP, 1, NULL);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_RESULT);
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 1, "m2 is still to be replayed");
    perdure_op m2 = batch_op(&h, "m2", PERDURE_BATCH_MAP, 1, NULL);
    cr_assert_eq(next_of(&h, m2), PERDURE_NEXT_EXECUTE);
    perdure_op i0 = expect_run_item(&h, m2, 0);   /* not recorded: new work from here on */
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 0);
    (void)i0;
    h_free(&h);
}

/* ===========================================================================
 * batching
 * ======================================================================== */

/* Declares n steps and starts them: n async STARTs are queued. */
static void queue_starts(harness *h, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        perdure_op op = step(h, PERDURE_ROOT, NULL, NULL);
        cr_assert_eq(next_of(h, op), PERDURE_NEXT_EXECUTE);
    }
}

static void expect_fifo_ids(json_t *updates, unsigned first_position)
{
    for (size_t i = 0; i < json_array_size(updates); i++) {
        opid want = H("%zu", first_position + i);
        cr_assert_str_eq(ustr(upd(updates, i), "Id"), want.s, "update %zu out of order", i);
    }
}

Test(batching, more_than_250_updates_split_fifo)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    queue_starts(&h, 300);
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 0, "async only");
    perdure_op w = wait_op(&h, PERDURE_ROOT, NULL, 5);   /* a sync update behind them */
    cr_assert_eq(next_of(&h, w), PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 250);
    expect_fifo_ids(u, 1);
    cr_assert_eq(next_of(&h, w), PERDURE_NEXT_CHECKPOINT, "the wait START is not acknowledged yet");
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 1);
    u = h_flush(&h, NULL);
    expect_count(u, 51);
    expect_fifo_ids(u, 251);
    expect_update(upd(u, 50), H("301").s, "WAIT", "Wait", "START", NULL, NULL);
    cr_assert_eq(next_of(&h, w), PERDURE_NEXT_SUSPEND);
    h_free(&h);
}

Test(batching, custom_update_limit)
{
    perdure_vm_options o = json_opts();
    o.max_batch_updates = 3;
    harness h;
    h_init_opts(&h, &o);
    h_start(&h, NULL);
    queue_starts(&h, 7);
    perdure_next n;
    cr_assert_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_SUCCEEDED, "1", 1, NULL, &n), PERDURE_OK);
    cr_assert_eq(n, PERDURE_NEXT_CHECKPOINT, "queued updates are flushed before the output");
    perdure_buf out = {0};
    cr_expect_eq(perdure_vm_output(h.vm, &out), PERDURE_E_MISUSE, "not flushed yet");
    unsigned sizes[] = {3, 3, 1}, pos = 1;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(perdure_vm_wants_flush(h.vm), 1);
        json_t *u = h_flush(&h, NULL);
        expect_count(u, sizes[i]);
        expect_fifo_ids(u, pos);
        pos += sizes[i];
    }
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 0);
    cr_assert_eq(perdure_vm_output(h.vm, &out), PERDURE_OK, "%s", err(&h));
    perdure_buf_free(&out);
    h_free(&h);
}

Test(batching, byte_limit_is_respected)
{
    const unsigned long long limit = 2048;
    perdure_vm_options o = json_opts();
    o.max_batch_bytes = limit;
    harness h;
    h_init_opts(&h, &o);
    h_start(&h, NULL);
    char payload[400];
    memset(payload, 'p', sizeof payload - 1);
    payload[sizeof payload - 1] = 0;
    for (int i = 0; i < 12; i++) {
        perdure_op op = step(&h, PERDURE_ROOT, "s", NULL);
        cr_assert_eq(next_of(&h, op), PERDURE_NEXT_EXECUTE);
        succeed(&h, op, payload);   /* sync: START + SUCCEED per step, none flushed */
    }
    size_t total = 0;
    int batches = 0;
    while (perdure_vm_wants_flush(h.vm)) {
        json_t *u = h_flush(&h, NULL);
        cr_assert_gt(json_array_size(u), 0);
        /* Measure with the codec's own size function. */
        char *text = json_dumps(h.req, JSON_COMPACT);
        pd_bytes token = {0}, client = {0};
        pd_update *updates = NULL;
        size_t n = 0;
        pd_err e = {0};
        cr_assert_eq(pd_json_decode_checkpoint_request(text, strlen(text), &token, &updates, &n, &client, &e),
                     PERDURE_OK, "%s", e.msg);
        size_t bytes = 0;
        for (size_t i = 0; i < n; i++)
            bytes += pd_json_update_size(&updates[i]);
        cr_expect_leq(bytes, limit, "batch %d holds %zu bytes of updates", batches, bytes);
        pd_updates_free(updates, n);
        pd_bytes_clear(&token);
        pd_bytes_clear(&client);
        free(text);
        total += json_array_size(u);
        batches++;
    }
    cr_expect_eq(total, 24);
    cr_expect_gt(batches, 2);
    /* FIFO across batches: START then SUCCEED, position after position. */
    for (size_t i = 0; i < 24; i++) {
        opid want = H("%zu", i / 2 + 1);
        expect_update(upd(h.log, i), want.s, "STEP", "Step", i % 2 ? "SUCCEED" : "START", "s", NULL);
    }
    h_free(&h);
}

Test(batching, one_oversized_update_still_goes_alone)
{
    perdure_vm_options o = json_opts();
    o.max_batch_bytes = 64;
    harness h;
    h_init_opts(&h, &o);
    h_start(&h, NULL);
    perdure_op a = step(&h, PERDURE_ROOT, "a", NULL), b = step(&h, PERDURE_ROOT, "b", NULL);
    cr_assert_eq(next_of(&h, a), PERDURE_NEXT_EXECUTE);
    cr_assert_eq(next_of(&h, b), PERDURE_NEXT_EXECUTE);
    succeed(&h, a, "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"");
    int batches = 0;
    while (perdure_vm_wants_flush(h.vm)) {
        expect_count(h_flush(&h, NULL), 1);
        batches++;
    }
    cr_expect_eq(batches, 3);
    h_free(&h);
}

Test(batching, take_batch_twice_without_response_is_misuse)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op w = wait_op(&h, PERDURE_ROOT, NULL, 5);
    cr_assert_eq(next_of(&h, w), PERDURE_NEXT_CHECKPOINT);
    perdure_buf b1 = {0}, b2 = {0};
    cr_assert_eq(perdure_vm_take_batch(h.vm, &b1), PERDURE_OK);
    cr_expect_eq(perdure_vm_take_batch(h.vm, &b2), PERDURE_E_MISUSE);
    cr_expect_null(b2.data);
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 0, "the only sync update is in flight");
    cr_expect_eq(next_of(&h, w), PERDURE_NEXT_CHECKPOINT);
    /* A bad response keeps the batch in flight: it may be sent again. */
    cr_expect_eq(perdure_vm_apply_response(h.vm, "not json", 8), PERDURE_E_DECODE);
    cr_expect_eq(perdure_vm_take_batch(h.vm, &b2), PERDURE_E_MISUSE);
    const char *resp = "{\"CheckpointToken\":\"t1\",\"NewExecutionState\":{\"Operations\":[]}}";
    cr_assert_eq(perdure_vm_apply_response(h.vm, resp, strlen(resp)), PERDURE_OK, "%s", err(&h));
    cr_expect_str_eq(perdure_vm_checkpoint_token(h.vm), "t1");
    cr_expect_eq(perdure_vm_apply_response(h.vm, resp, strlen(resp)), PERDURE_E_MISUSE, "nothing in flight");
    cr_assert_eq(next_of(&h, w), PERDURE_NEXT_SUSPEND);
    perdure_buf_free(&b1);
    h_free(&h);
}

Test(batching, empty_queue_gives_an_empty_batch)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_buf b = {0};
    cr_assert_eq(perdure_vm_take_batch(h.vm, &b), PERDURE_OK);
    cr_expect_eq(b.len, 0);
    cr_expect_null(b.data);
    /* Nothing is in flight: a second take is fine, a response is not expected. */
    cr_assert_eq(perdure_vm_take_batch(h.vm, &b), PERDURE_OK);
    cr_expect_eq(b.len, 0);
    const char *resp = "{\"CheckpointToken\":\"t1\",\"NewExecutionState\":{\"Operations\":[]}}";
    cr_expect_eq(perdure_vm_apply_response(h.vm, resp, strlen(resp)), PERDURE_E_MISUSE);
    h_free(&h);
}

Test(batching, request_carries_token_and_client_token)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    cr_expect_str_eq(perdure_vm_checkpoint_token(h.vm), "t0");
    cr_expect_str_eq(perdure_vm_execution_arn(h.vm), ARN);
    perdure_op w = wait_op(&h, PERDURE_ROOT, NULL, 5);
    cr_assert_eq(next_of(&h, w), PERDURE_NEXT_CHECKPOINT);
    h_flush(&h, NULL);
    const char *c1 = ustr(h.req, "ClientToken");
    cr_assert_not_null(c1);
    char first[80];
    snprintf(first, sizeof first, "%s", c1);
    cr_expect_str_eq(perdure_vm_checkpoint_token(h.vm), "t1");
    perdure_op w2 = wait_op(&h, PERDURE_ROOT, NULL, 5);
    cr_assert_eq(next_of(&h, w2), PERDURE_NEXT_CHECKPOINT);
    h_flush(&h, NULL);   /* checks CheckpointToken "t1" */
    cr_expect_str_neq(ustr(h.req, "ClientToken"), first);
    h_free(&h);
}

Test(batching, async_starts_ride_along_with_the_next_sync_update)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op c = child(&h, PERDURE_ROOT, "c");
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_EXECUTE);
    perdure_op s = step(&h, c, "s", NULL);
    cr_assert_eq(next_of(&h, s), PERDURE_NEXT_EXECUTE);
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 0);
    perdure_op inv;
    cr_assert_eq(perdure_vm_invoke(h.vm, c, "i", "fn", NULL, NULL, 0, &inv), PERDURE_OK);
    cr_assert_eq(next_of(&h, inv), PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 3);
    expect_update(upd(u, 0), ID1, "CONTEXT", "RunInChildContext", "START", "c", NULL);
    expect_update(upd(u, 1), HC(ID1, 1).s, "STEP", "Step", "START", "s", ID1);
    expect_update(upd(u, 2), HC(ID1, 2).s, "CHAINED_INVOKE", "ChainedInvoke", "START", "i", ID1);
    h_free(&h);
}

/* ===========================================================================
 * finishing the invocation
 * ======================================================================== */

static json_t *output_of(harness *h)
{
    perdure_buf out = {0};
    perdure_status st = perdure_vm_output(h->vm, &out);
    cr_assert_eq(st, PERDURE_OK, "output: %s", err(h));
    json_t *o = json_loadb((const char *)out.data, out.len, 0, NULL);
    cr_assert_not_null(o, "output is JSON: %.*s", (int)out.len, out.data ? (const char *)out.data : "");
    perdure_buf_free(&out);
    return o;
}

Test(finish, succeeded_output)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_next n;
    cr_assert_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_SUCCEEDED, "{\"a\":1}", 7, NULL, &n), PERDURE_OK);
    cr_expect_eq(n, PERDURE_NEXT_RESULT);
    json_t *o = output_of(&h);
    cr_expect_str_eq(ustr(o, "Status"), "SUCCEEDED");
    cr_expect_str_eq(ustr(o, "Result"), "{\"a\":1}");
    cr_expect_null(json_object_get(o, "Error"));
    json_decref(o);
    /* After finish: no more operations, no second finish. */
    perdure_op x;
    cr_expect_eq(perdure_vm_step(h.vm, PERDURE_ROOT, NULL, NULL, &x), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_wait(h.vm, PERDURE_ROOT, NULL, 1, &x), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_SUCCEEDED, "1", 1, NULL, &n), PERDURE_E_MISUSE);
    h_free(&h);
}

Test(finish, failed_output_carries_the_error)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_next n;
    perdure_error_info e = {.error_type = "ValueError", .error_message = "boom", .error_data = "d"};
    cr_assert_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_FAILED, NULL, 0, &e, &n), PERDURE_OK);
    cr_expect_eq(n, PERDURE_NEXT_RESULT);
    json_t *o = output_of(&h);
    cr_expect_str_eq(ustr(o, "Status"), "FAILED");
    cr_expect_str_eq(ustr2(o, "Error", "ErrorType"), "ValueError");
    cr_expect_str_eq(ustr2(o, "Error", "ErrorMessage"), "boom");
    cr_expect_str_eq(ustr2(o, "Error", "ErrorData"), "d");
    cr_expect_null(json_object_get(o, "Result"));
    json_decref(o);
    h_free(&h);
}

Test(finish, pending_needs_something_waiting_on_the_service)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", step_rec(ID1, NULL, "SUCCEEDED", 1)));
    perdure_next n;
    cr_expect_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_PENDING, NULL, 0, NULL, &n), PERDURE_E_MISUSE);
    /* Still usable: the handler may finish otherwise. */
    cr_assert_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_SUCCEEDED, "1", 1, NULL, &n), PERDURE_OK, "%s", err(&h));
    h_free(&h);

    const char *waiting[][2] = {{"WAIT", "STARTED"}, {"CALLBACK", "STARTED"}, {"CHAINED_INVOKE", "STARTED"},
                                {"STEP", "PENDING"}};
    for (size_t i = 0; i < 4; i++) {
        h_init(&h);
        json_t *r = rec(ID1, waiting[i][0], NULL, NULL, waiting[i][1]);
        if (!strcmp(waiting[i][0], "CALLBACK"))
            json_object_set_new(r, "CallbackDetails", json_pack("{s:s}", "CallbackId", "eA=="));
        h_start(&h, json_pack("[o]", r));
        cr_expect_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_PENDING, NULL, 0, NULL, &n), PERDURE_OK, "%s %s",
                     waiting[i][0], waiting[i][1]);
        json_t *o = output_of(&h);
        cr_expect_str_eq(ustr(o, "Status"), "PENDING");
        json_decref(o);
        h_free(&h);
    }
}

Test(finish, oversized_result_is_checkpointed_on_the_execution)
{
    perdure_vm_options o = json_opts();
    o.max_inline_result = 10;
    harness h;
    h_init_opts(&h, &o);
    h_start(&h, NULL);
    perdure_next n;
    const char *result = "\"0123456789abcdef\"";
    cr_assert_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_SUCCEEDED, result, strlen(result), NULL, &n), PERDURE_OK);
    cr_assert_eq(n, PERDURE_NEXT_CHECKPOINT);
    cr_expect_eq(perdure_vm_wants_flush(h.vm), 1);
    json_t *u = h_flush_ex(&h, NULL, false);   /* the execution ends: no new token */
    expect_count(u, 1);
    char id[64];
    snprintf(id, sizeof id, "execution-result-%lld", NOW_MS);
    expect_update(upd(u, 0), id, "EXECUTION", NULL, "SUCCEED", NULL, NULL);
    expect_str(upd(u, 0), "Payload", result);
    json_t *out = output_of(&h);
    cr_expect_str_eq(ustr(out, "Status"), "SUCCEEDED");
    cr_expect_str_eq(ustr(out, "Result"), "");
    json_decref(out);
    perdure_buf b = {0};
    cr_expect_eq(perdure_vm_take_batch(h.vm, &b), PERDURE_E_MISUSE, "the execution is over");
    h_free(&h);
}

Test(finish, oversized_error_is_checkpointed_on_the_execution)
{
    perdure_vm_options o = json_opts();
    o.max_inline_result = 10;
    harness h;
    h_init_opts(&h, &o);
    h_start(&h, NULL);
    perdure_vm_set_now(h.vm, T0_MS + 7777);
    perdure_next n;
    perdure_error_info e = {.error_type = "ValueError", .error_message = "a long message"};
    cr_assert_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_FAILED, NULL, 0, &e, &n), PERDURE_OK);
    cr_assert_eq(n, PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush_ex(&h, NULL, false);
    expect_count(u, 1);
    char id[64];
    snprintf(id, sizeof id, "execution-result-%lld", T0_MS + 7777);
    expect_update(upd(u, 0), id, "EXECUTION", NULL, "FAIL", NULL, NULL);
    cr_expect_str_eq(ustr2(upd(u, 0), "Error", "ErrorMessage"), "a long message");
    expect_str(upd(u, 0), "Payload", NULL);
    json_t *out = output_of(&h);
    cr_expect_str_eq(ustr(out, "Status"), "FAILED");
    cr_expect_null(json_object_get(out, "Error"));
    json_decref(out);
    h_free(&h);
}

Test(finish, queued_async_updates_are_flushed_before_the_output)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op c = child(&h, PERDURE_ROOT, "c");
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_EXECUTE);
    perdure_next n;
    perdure_error_info e = {.error_type = "E"};
    cr_assert_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_FAILED, NULL, 0, &e, &n), PERDURE_OK);
    cr_assert_eq(n, PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1, "CONTEXT", "RunInChildContext", "START", "c", NULL);
    json_t *o = output_of(&h);
    cr_expect_str_eq(ustr(o, "Status"), "FAILED");
    json_decref(o);
    h_free(&h);
}

/* ===========================================================================
 * loading the invocation
 * ======================================================================== */

Test(start, input_and_views)
{
    harness h;
    h_init(&h);
    cr_expect_null(perdure_vm_execution_arn(h.vm));
    const unsigned char *data;
    unsigned long long len;
    cr_expect_eq(perdure_vm_input(h.vm, &data, &len), PERDURE_E_MISUSE);
    h_start(&h, NULL);
    cr_assert_eq(perdure_vm_input(h.vm, &data, &len), PERDURE_OK);
    cr_expect_eq(len, 2);
    cr_expect(memcmp(data, "{}", 2) == 0);
    cr_expect_null(perdure_vm_state_marker(h.vm));
    cr_expect_eq(perdure_vm_start(h.vm, "{}", 2, 0), PERDURE_E_MISUSE, "loaded twice");
    h_free(&h);
}

Test(start, bad_input_is_refused)
{
    harness h;
    h_init(&h);
    cr_expect_eq(perdure_vm_start(h.vm, "{", 1, 0), PERDURE_E_DECODE);
    const char *no_token = "{\"DurableExecutionArn\":\"" ARN "\",\"InitialExecutionState\":{\"Operations\":[]}}";
    perdure_status st = perdure_vm_start(h.vm, no_token, strlen(no_token), 0);
    cr_expect_eq(st, PERDURE_E_DECODE, "%s", perdure_status_name(st));
    cr_expect_eq(perdure_vm_start(h.vm, NULL, 5, 0), PERDURE_E_MISUSE);
    perdure_op x;
    cr_expect_eq(perdure_vm_step(h.vm, PERDURE_ROOT, NULL, NULL, &x), PERDURE_E_MISUSE, "not started");
    h_free(&h);
}

Test(start, paged_state)
{
    harness h;
    h_init(&h);
    const char *input = "{\"DurableExecutionArn\":\"" ARN "\",\"CheckpointToken\":\"t0\","
                        "\"InitialExecutionState\":{\"Operations\":[],\"NextMarker\":\"page2\"}}";
    cr_assert_eq(perdure_vm_start(h.vm, input, strlen(input), NOW_MS), PERDURE_OK, "%s", err(&h));
    cr_assert_not_null(perdure_vm_state_marker(h.vm));
    cr_expect_str_eq(perdure_vm_state_marker(h.vm), "page2");
    const unsigned char *data;
    unsigned long long len;
    cr_expect_eq(perdure_vm_input(h.vm, &data, &len), PERDURE_E_PROTOCOL, "EXECUTION not delivered yet");
    json_t *page = json_pack("{s:[o,o]}", "Operations",
                             json_pack("{s:s,s:s,s:s,s:f,s:{s:s}}", "Id", "exec-1", "Type", "EXECUTION", "Status",
                                       "STARTED", "StartTimestamp", 1767225600.0, "ExecutionDetails",
                                       "InputPayload", "{\"x\":1}"),
                             with(rec(ID1, "STEP", "Step", NULL, "SUCCEEDED"), "StartTimestamp",
                                  json_real(1767225600.1)));
    char *text = json_dumps(page, JSON_COMPACT);
    json_decref(page);
    cr_assert_eq(perdure_vm_add_state(h.vm, text, strlen(text)), PERDURE_OK, "%s", err(&h));
    free(text);
    cr_expect_null(perdure_vm_state_marker(h.vm));
    cr_expect_eq(perdure_vm_add_state(h.vm, "{}", 2), PERDURE_E_MISUSE, "no page expected");
    cr_assert_eq(perdure_vm_input(h.vm, &data, &len), PERDURE_OK);
    cr_expect_eq(len, 7);
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 1);
    perdure_op s = step(&h, PERDURE_ROOT, NULL, NULL);
    cr_expect_eq(next_of(&h, s), PERDURE_NEXT_RESULT);
    h_free(&h);
}

/* ===========================================================================
 * misuse
 * ======================================================================== */

Test(misuse, null_arguments)
{
    perdure_op op;
    perdure_next n;
    perdure_buf b = {0};
    cr_expect_eq(perdure_vm_new(NULL, NULL), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_start(NULL, "{}", 2, 0), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_step(NULL, PERDURE_ROOT, NULL, NULL, &op), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_wait(NULL, PERDURE_ROOT, NULL, 1, &op), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_callback(NULL, PERDURE_ROOT, NULL, NULL, &op), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_child(NULL, PERDURE_ROOT, NULL, NULL, 0, &op), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_batch(NULL, PERDURE_ROOT, NULL, PERDURE_BATCH_MAP, 1, NULL, &op), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_wait_for_callback(NULL, PERDURE_ROOT, NULL, NULL, NULL, &op), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_invoke(NULL, PERDURE_ROOT, NULL, "f", NULL, NULL, 0, &op), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_wait_for_condition(NULL, PERDURE_ROOT, NULL, NULL, &op), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_op_next(NULL, 1, &n), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_op_succeed(NULL, 1, NULL, 0), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_op_fail(NULL, 1, NULL), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_op_suspended(NULL, 1), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_take_batch(NULL, &b), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_apply_response(NULL, "{}", 2), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_finish(NULL, PERDURE_OUTCOME_SUCCEEDED, NULL, 0, NULL, &n), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_output(NULL, &b), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_set_now(NULL, 0), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_wants_flush(NULL), 0);
    cr_expect_null(perdure_vm_op_id(NULL, 1));
    cr_expect_str_eq(perdure_vm_errmsg(NULL), "NULL perdure_vm");
    perdure_vm_free(NULL);

    harness h;
    h_init(&h);
    cr_expect_str_eq(err(&h), "");
    h_start(&h, NULL);
    cr_expect_eq(perdure_vm_step(h.vm, PERDURE_ROOT, NULL, NULL, NULL), PERDURE_E_MISUSE);
    cr_expect_neq(strlen(err(&h)), 0, "misuse is explained");
    perdure_op s = step(&h, PERDURE_ROOT, NULL, NULL);
    cr_expect_eq(perdure_vm_op_next(h.vm, s, NULL), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_take_batch(h.vm, NULL), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_finish(h.vm, PERDURE_OUTCOME_SUCCEEDED, NULL, 0, NULL, NULL), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_finish(h.vm, (perdure_outcome)9, NULL, 0, NULL, &n), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_op_status(h.vm, s, NULL), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_op_result(h.vm, s, NULL, NULL), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_op_error(h.vm, s, NULL), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_op_attempt(h.vm, s, NULL), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_op_callback_id(h.vm, s, NULL), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_batch_poll(h.vm, s, NULL), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_nondeterminism(h.vm, NULL), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_op_succeed(h.vm, s, NULL, 4), PERDURE_E_MISUSE);
    h_free(&h);
}

Test(misuse, bad_and_foreign_handles)
{
    harness a, b;
    h_init(&a);
    h_init(&b);   /* the same seed: handles must still be told apart */
    /* Tags are 12 bits: two live VMs collide with probability 1/4095. A tag
     * taken from the seed alone would collide every time. */
    for (int tries = 0; tries < 3 && b.vm->tag == a.vm->tag; tries++) {
        perdure_vm *old = b.vm;
        cr_assert_eq(perdure_vm_new(&(perdure_vm_options){.size = sizeof(perdure_vm_options),
                                                          .random_seed = SEED},
                                    &b.vm),
                     PERDURE_OK);
        perdure_vm_free(old);
    }
    cr_assert_neq(b.vm->tag, a.vm->tag, "same-seeded VMs share a handle tag");
    h_start(&a, NULL);
    h_start(&b, NULL);
    perdure_op sa = step(&a, PERDURE_ROOT, "a", NULL);
    perdure_op ca = child(&a, PERDURE_ROOT, "c");
    perdure_op sb = step(&b, PERDURE_ROOT, "b", NULL);
    (void)sb;
    perdure_next n;
    perdure_op x;
    cr_expect_eq(perdure_vm_op_next(b.vm, sa, &n), PERDURE_E_MISUSE, "a handle of another VM");
    cr_expect_eq(perdure_vm_step(b.vm, ca, NULL, NULL, &x), PERDURE_E_MISUSE);
    cr_expect_null(perdure_vm_op_id(b.vm, sa));
    cr_expect_eq(perdure_vm_op_next(a.vm, sa + 1000, &n), PERDURE_E_MISUSE, "out of range");
    cr_expect_eq(perdure_vm_op_next(a.vm, 12345, &n), PERDURE_E_MISUSE, "no tag");
    cr_expect_eq(perdure_vm_op_next(a.vm, PERDURE_ROOT, &n), PERDURE_E_MISUSE, "the root is no operation");
    cr_expect_eq(perdure_vm_step(a.vm, sa, NULL, NULL, &x), PERDURE_E_MISUSE, "a step is no context");
    cr_expect_null(perdure_vm_op_id(a.vm, PERDURE_ROOT));
    perdure_op_status st;
    cr_expect_eq(perdure_vm_op_status(a.vm, 777, &st), PERDURE_E_MISUSE);
    /* Neither VM was poisoned by the misuse. */
    cr_assert_eq(next_of(&a, sa), PERDURE_NEXT_EXECUTE);
    h_free(&a);
    h_free(&b);
}

Test(misuse, outcome_in_the_wrong_state)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op s = step(&h, PERDURE_ROOT, NULL, NULL);
    perdure_error_info e = {.error_type = "E"};
    cr_expect_eq(perdure_vm_op_succeed(h.vm, s, "1", 1), PERDURE_E_MISUSE, "before EXECUTE");
    cr_expect_eq(perdure_vm_op_fail(h.vm, s, &e), PERDURE_E_MISUSE);
    cr_assert_eq(next_of(&h, s), PERDURE_NEXT_EXECUTE);
    cr_expect_eq(perdure_vm_op_suspended(h.vm, s), PERDURE_E_MISUSE, "a step body does not suspend");
    cr_expect_eq(perdure_vm_op_set_summary(h.vm, s, "x", 1), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_op_condition_checked(h.vm, s, "x", 1, 0), PERDURE_E_MISUSE);
    succeed(&h, s, "1");
    cr_expect_eq(perdure_vm_op_succeed(h.vm, s, "1", 1), PERDURE_E_MISUSE, "reported twice");
    cr_expect_eq(perdure_vm_op_fail(h.vm, s, &e), PERDURE_E_MISUSE);
    const unsigned char *d;
    unsigned long long len;
    cr_expect_eq(perdure_vm_op_result(h.vm, s, &d, &len), PERDURE_E_MISUSE, "no result yet");
    perdure_op w = wait_op(&h, PERDURE_ROOT, NULL, 5);
    cr_expect_eq(perdure_vm_op_succeed(h.vm, w, "1", 1), PERDURE_E_MISUSE, "a wait has no body");
    perdure_error_view v;
    cr_expect_eq(perdure_vm_op_error(h.vm, w, &v), PERDURE_E_MISUSE, "no error");
    unsigned a;
    cr_expect_eq(perdure_vm_op_attempt(h.vm, w, &a), PERDURE_E_MISUSE);
    /* None of that poisoned the VM. */
    cr_assert_eq(drive(&h, s), PERDURE_NEXT_RESULT);
    h_free(&h);
}

Test(misuse, bad_config_sizes)
{
    perdure_vm *vm = NULL;
    perdure_vm_options o = {.size = 2};
    cr_expect_eq(perdure_vm_options_init(&o), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_options_init(NULL), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_new(&o, &vm), PERDURE_E_MISUSE);
    cr_expect_null(vm);
    o = json_opts();
    o.wire = (perdure_wire)5;
    cr_expect_eq(perdure_vm_new(&o, &vm), PERDURE_E_INVALID);
    o = json_opts();
    o.id_scheme = (perdure_id_scheme)5;
    cr_expect_eq(perdure_vm_new(&o, &vm), PERDURE_E_INVALID);

    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op x;
    perdure_step_config sc = {.size = 0};
    cr_expect_eq(perdure_vm_step(h.vm, PERDURE_ROOT, NULL, &sc, &x), PERDURE_E_MISUSE);
    perdure_retry_config r = retry_none_jitter(3, 1, 2, 10);
    r.size = 4;
    sc = step_cfg(PERDURE_AT_LEAST_ONCE_PER_RETRY, &r);
    cr_expect_eq(perdure_vm_step(h.vm, PERDURE_ROOT, NULL, &sc, &x), PERDURE_E_MISUSE);
    r.size = sizeof r - sizeof(unsigned long long);
    cr_expect_eq(perdure_vm_step(h.vm, PERDURE_ROOT, NULL, &sc, &x), PERDURE_E_MISUSE);
    sc.semantics = (perdure_step_semantics)4;
    r.size = sizeof r;
    cr_expect_eq(perdure_vm_step(h.vm, PERDURE_ROOT, NULL, &sc, &x), PERDURE_E_INVALID);
    r.max_attempts = 0;
    sc.semantics = PERDURE_AT_LEAST_ONCE_PER_RETRY;
    cr_expect_eq(perdure_vm_step(h.vm, PERDURE_ROOT, NULL, &sc, &x), PERDURE_E_INVALID, "validated at declaration");
    perdure_callback_config cc = {.size = 3};
    cr_expect_eq(perdure_vm_callback(h.vm, PERDURE_ROOT, NULL, &cc, &x), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_wait_for_callback(h.vm, PERDURE_ROOT, NULL, &cc, NULL, &x), PERDURE_E_MISUSE);
    perdure_batch_config bc = {.size = 4, .max_concurrency = -1};
    cr_expect_eq(perdure_vm_batch(h.vm, PERDURE_ROOT, NULL, PERDURE_BATCH_MAP, 1, &bc, &x), PERDURE_E_MISUSE);
    perdure_completion_config comp = {.size = 4, .min_successful = -1, .tolerated_failure_count = -1,
                                      .tolerated_failure_percentage = -1};
    bc = batch_cfg(-1, &comp);
    cr_expect_eq(perdure_vm_batch(h.vm, PERDURE_ROOT, NULL, PERDURE_BATCH_MAP, 1, &bc, &x), PERDURE_E_MISUSE);
    perdure_condition_config cond = {.size = 4};
    cr_expect_eq(perdure_vm_wait_for_condition(h.vm, PERDURE_ROOT, NULL, &cond, &x), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_wait_for_condition(h.vm, PERDURE_ROOT, NULL, NULL, &x), PERDURE_E_MISUSE);
    perdure_wait_config w = {.size = 4};
    cond = (perdure_condition_config){.size = sizeof cond, .wait = &w};
    cr_expect_eq(perdure_vm_wait_for_condition(h.vm, PERDURE_ROOT, NULL, &cond, &x), PERDURE_E_MISUSE);
    perdure_wait_config_init(&w);
    w.max_attempts = 0;
    cr_expect_eq(perdure_vm_wait_for_condition(h.vm, PERDURE_ROOT, NULL, &cond, &x), PERDURE_E_INVALID);
    /* No refused declaration consumed a position or queued anything. */
    expect_no_batch(&h);
    perdure_op s = step(&h, PERDURE_ROOT, NULL, NULL);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, s), ID1);
    h_free(&h);
}

Test(misuse, names_are_validated)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op x;
    char long_name[258];
    memset(long_name, 'n', 257);
    long_name[257] = 0;
    cr_expect_eq(perdure_vm_step(h.vm, PERDURE_ROOT, long_name, NULL, &x), PERDURE_E_INVALID);
    long_name[256] = 0;
    cr_expect_eq(perdure_vm_step(h.vm, PERDURE_ROOT, long_name, NULL, &x), PERDURE_OK);
    cr_expect_eq(perdure_vm_step(h.vm, PERDURE_ROOT, "", NULL, &x), PERDURE_E_INVALID);
    cr_expect_eq(perdure_vm_step(h.vm, PERDURE_ROOT, "tab\there", NULL, &x), PERDURE_E_INVALID);
    cr_expect_eq(perdure_vm_step(h.vm, PERDURE_ROOT, "caf\xc3\xa9", NULL, &x), PERDURE_E_INVALID);
    h_free(&h);
}

/* ===========================================================================
 * more replay cases
 * ======================================================================== */

Test(map, replay_children_reruns_items_over_their_records)
{
    opid s0 = HC(ID1_0, 1);
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o,o,o]", with(rec(ID1, "CONTEXT", "Map", "m", "SUCCEEDED"), "ContextDetails",
                                          json_pack("{s:b,s:s}", "ReplayChildren", 1, "Result", "{\"type\":\"MapResult\"}")),
                          with_parent(with(rec(ID1_0, "CONTEXT", "MapIteration", "map-item-0", "SUCCEEDED"),
                                           "ContextDetails", json_pack("{s:b,s:s}", "ReplayChildren", 1, "Result", "")),
                                      ID1),
                          with_parent(with(step_rec(s0.s, NULL, "SUCCEEDED", 1), "StepDetails",
                                           json_pack("{s:i,s:s}", "Attempt", 1, "Result", "\"v\"")),
                                      ID1_0)));
    perdure_op m = batch_op(&h, "m", PERDURE_BATCH_MAP, 1, NULL);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    perdure_op i0 = expect_run_item(&h, m, 0);
    cr_assert_eq(next_of(&h, i0), PERDURE_NEXT_EXECUTE, "the item recorded a summary too");
    perdure_op s = step(&h, i0, NULL, NULL);
    cr_assert_eq(next_of(&h, s), PERDURE_NEXT_RESULT);
    expect_result(&h, s, "\"v\"");
    succeed(&h, i0, "\"rebuilt item\"");
    cr_assert_eq(next_of(&h, i0), PERDURE_NEXT_RESULT);
    expect_result(&h, i0, "\"rebuilt item\"");
    expect_poll(&h, m, PERDURE_BATCH_DONE);
    cr_expect_eq(outcome_of(&h, m).succeeded, 1);
    succeed(&h, m, "{\"all\":[\"rebuilt\"]}");
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_RESULT);
    expect_result(&h, m, "{\"all\":[\"rebuilt\"]}");
    cr_expect_eq(perdure_vm_is_replaying(h.vm), 0, "every record was visited");
    expect_no_batch(&h);
    h_free(&h);
}

Test(map, replay_started_item_reenters_without_new_start)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o,o]", rec(ID1, "CONTEXT", "Map", "m", "STARTED"),
                          with_parent(rec(ID1_0, "CONTEXT", "MapIteration", "map-item-0", "STARTED"), ID1)));
    perdure_op m = batch_op(&h, "m", PERDURE_BATCH_MAP, 1, NULL);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    perdure_op i0 = expect_run_item(&h, m, 0);
    cr_assert_eq(next_of(&h, i0), PERDURE_NEXT_EXECUTE);
    succeed(&h, i0, "1");
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 1);
    expect_update(upd(u, 0), ID1_0, "CONTEXT", "MapIteration", "SUCCEED", "map-item-0", ID1);
    cr_assert_eq(next_of(&h, i0), PERDURE_NEXT_RESULT);
    expect_poll(&h, m, PERDURE_BATCH_DONE);
    h_free(&h);
}

Test(map, flat_replay_uses_inner_records)
{
    opid s0 = HC(ID1_0, 1);
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o,o]", rec(ID1, "CONTEXT", "Map", "m", "STARTED"),
                          with_parent(with(step_rec(s0.s, NULL, "SUCCEEDED", 1), "StepDetails",
                                           json_pack("{s:i,s:s}", "Attempt", 1, "Result", "7")),
                                      ID1)));
    perdure_batch_config cfg = batch_cfg(-1, NULL);
    cfg.nesting = PERDURE_NESTING_FLAT;
    perdure_op m = batch_op(&h, "m", PERDURE_BATCH_MAP, 1, &cfg);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    perdure_op i0 = expect_run_item(&h, m, 0);
    cr_assert_eq(next_of(&h, i0), PERDURE_NEXT_EXECUTE);
    perdure_op s = step(&h, i0, NULL, NULL);
    cr_assert_eq(next_of(&h, s), PERDURE_NEXT_RESULT);
    expect_result(&h, s, "7");
    succeed(&h, i0, "7");
    /* Reported, the virtual item is settled even before it is asked again. */
    expect_poll(&h, m, PERDURE_BATCH_DONE);
    cr_assert_eq(next_of(&h, i0), PERDURE_NEXT_RESULT);
    cr_expect_eq(outcome_of(&h, m).succeeded, 1, "counted once");
    expect_no_batch(&h);
    h_free(&h);
}

Test(map, flat_orphans_are_refused_too)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_batch_config cfg = batch_cfg(-1, NULL);
    cfg.nesting = PERDURE_NESTING_FLAT;
    perdure_op m = batch_op(&h, "m", PERDURE_BATCH_MAP, 2, &cfg);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    perdure_op i0 = expect_run_item(&h, m, 0), i1 = expect_run_item(&h, m, 1);
    cr_assert_eq(next_of(&h, i0), PERDURE_NEXT_EXECUTE);
    cr_assert_eq(next_of(&h, i1), PERDURE_NEXT_EXECUTE);
    fail(&h, i1, "E", "m");
    expect_poll(&h, m, PERDURE_BATCH_DONE);
    perdure_op x;
    cr_expect_eq(perdure_vm_step(h.vm, i0, NULL, NULL, &x), PERDURE_E_ORPHANED);
    cr_expect_eq(perdure_vm_op_succeed(h.vm, i0, "1", 1), PERDURE_E_ORPHANED);
    perdure_op_status st;
    perdure_op item;
    cr_assert_eq(perdure_vm_batch_item(h.vm, m, 0, &st, &item), PERDURE_OK);
    cr_expect_eq(st, PERDURE_STATUS_STARTED);
    cr_expect_eq(item, i0);
    cr_assert_eq(perdure_vm_batch_item(h.vm, m, 1, &st, NULL), PERDURE_OK);
    cr_expect_eq(st, PERDURE_STATUS_FAILED);
    cr_expect_eq(perdure_vm_batch_item(h.vm, m, 2, &st, &item), PERDURE_E_MISUSE, "out of range");
    h_free(&h);
}

Test(map, child_inside_an_item)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op m = batch_op(&h, "m", PERDURE_BATCH_MAP, 1, NULL);
    cr_assert_eq(next_of(&h, m), PERDURE_NEXT_EXECUTE);
    perdure_op i0 = expect_run_item(&h, m, 0);
    cr_assert_eq(next_of(&h, i0), PERDURE_NEXT_EXECUTE);
    perdure_op c = child(&h, i0, "c");
    cr_assert_eq(next_of(&h, c), PERDURE_NEXT_EXECUTE);
    perdure_op s = step(&h, c, NULL, NULL);
    run_step_ok(&h, s, "1");
    opid cid = HC(ID1_0, 1), sid = HC(cid.s, 1);
    expect_update(upd(h.log, 2), cid.s, "CONTEXT", "RunInChildContext", "START", "c", ID1_0);
    expect_update(upd(h.log, 3), sid.s, "STEP", "Step", "START", NULL, cid.s);
    h_free(&h);
}

Test(parallel, replay_succeeded)
{
    harness h;
    h_init(&h);
    h_start(&h, json_pack("[o]", with(rec(ID1, "CONTEXT", "Parallel", "p", "SUCCEEDED"), "ContextDetails",
                                       json_pack("{s:s}", "Result", "{\"p\":1}"))));
    perdure_op p = batch_op(&h, "p", PERDURE_BATCH_PARALLEL, 2, NULL);
    cr_assert_eq(next_of(&h, p), PERDURE_NEXT_RESULT);
    expect_result(&h, p, "{\"p\":1}");
    expect_no_batch(&h);
    h_free(&h);
}

Test(step, error_object_over_the_limit_is_refused)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op s = step(&h, PERDURE_ROOT, NULL, NULL);
    cr_assert_eq(next_of(&h, s), PERDURE_NEXT_EXECUTE);
    char *msg = malloc(40000);
    memset(msg, 'm', 39999);
    msg[39999] = 0;
    perdure_error_info e = {.error_type = "E", .error_message = msg};
    cr_expect_eq(perdure_vm_op_fail(h.vm, s, &e), PERDURE_E_TOO_LARGE);
    free(msg);
    fail(&h, s, "E", "short");   /* still running: a smaller error is accepted */
    h_free(&h);
}

Test(step, inside_wait_for_callback_context_is_refused)
{
    /* wait_for_callback owns its children; nothing else is declared in it. */
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op w = wfc_op(&h, NULL, NULL, NULL);
    perdure_op x;
    cr_expect_eq(perdure_vm_child(h.vm, w, NULL, NULL, 0, &x), PERDURE_E_MISUSE);
    h_free(&h);
}

Test(ids, md5_path_deep_nesting_keeps_the_whole_path)
{
    /* js raw paths grow with depth: "1-1-...-1" must never be truncated. */
    perdure_vm_options o = json_opts();
    o.id_scheme = PERDURE_IDS_MD5_PATH;
    harness h;
    h_init_opts(&h, &o);
    h_start(&h, NULL);
    perdure_ctx ctx = PERDURE_ROOT;
    char raw[512] = "1";
    for (int depth = 0; depth < 60; depth++) {
        perdure_op c = child(&h, ctx, NULL);
        cr_assert_eq(next_of(&h, c), PERDURE_NEXT_EXECUTE);
        ctx = c;
        if (depth)
            strcat(raw, "-1");
    }
    perdure_op w;
    cr_assert_eq(perdure_vm_wait_for_callback(h.vm, ctx, "w", NULL, NULL, &w), PERDURE_OK, "%s", err(&h));
    strcat(raw, "-1");
    char want[65];
    cr_assert_eq(perdure_id_hash(PERDURE_IDS_MD5_PATH, raw, want, sizeof want), PERDURE_OK);
    cr_expect_str_eq(perdure_vm_op_id(h.vm, w), want, "raw path of %zu chars", strlen(raw));
    /* The callback child: raw + "-1". */
    cr_assert_eq(next_of(&h, w), PERDURE_NEXT_CHECKPOINT);
    json_t *u = h_flush(&h, NULL);
    strcat(raw, "-1");
    cr_assert_eq(perdure_id_hash(PERDURE_IDS_MD5_PATH, raw, want, sizeof want), PERDURE_OK);
    expect_update(upd(u, json_array_size(u) - 1), want, "CALLBACK", "Callback", "START", "w create callback id",
                  perdure_vm_op_id(h.vm, w));
    h_free(&h);
}

Test(ids, md5_path_failed_wfc_kind_found_through_long_paths)
{
    perdure_vm_options o = json_opts();
    o.id_scheme = PERDURE_IDS_MD5_PATH;
    char raw[512] = "1", ids[61][65];
    for (int depth = 0; depth < 60; depth++) {
        if (depth)
            strcat(raw, "-1");
        perdure_id_hash(PERDURE_IDS_MD5_PATH, raw, ids[depth], 65);
    }
    strcat(raw, "-1");
    char wid[65], cbid[65];
    perdure_id_hash(PERDURE_IDS_MD5_PATH, raw, wid, 65);
    strcat(raw, "-1");
    perdure_id_hash(PERDURE_IDS_MD5_PATH, raw, cbid, 65);
    json_t *ops = json_array();
    for (int depth = 0; depth < 60; depth++) {
        json_t *r = rec(ids[depth], "CONTEXT", "RunInChildContext", NULL, "STARTED");
        if (depth)
            with_parent(r, ids[depth - 1]);
        json_array_append_new(ops, r);
    }
    json_array_append_new(ops, with_parent(with(rec(wid, "CONTEXT", "WaitForCallback", "w", "FAILED"), "ContextDetails",
                                                json_pack("{s:o}", "Error", error_obj("Denied", "no"))),
                                           ids[59]));
    json_array_append_new(ops, with_parent(with(rec(cbid, "CALLBACK", "Callback", "w create callback id", "FAILED"),
                                                "CallbackDetails", json_pack("{s:s}", "CallbackId", "eA==")),
                                           wid));
    harness h;
    h_init_opts(&h, &o);
    h_start(&h, ops);
    perdure_ctx ctx = PERDURE_ROOT;
    for (int depth = 0; depth < 60; depth++) {
        perdure_op c = child(&h, ctx, NULL);
        cr_assert_eq(next_of(&h, c), PERDURE_NEXT_EXECUTE);
        ctx = c;
    }
    perdure_op w;
    cr_assert_eq(perdure_vm_wait_for_callback(h.vm, ctx, "w", NULL, NULL, &w), PERDURE_OK, "%s", err(&h));
    cr_assert_eq(next_of(&h, w), PERDURE_NEXT_ERROR);
    expect_error(&h, w, PERDURE_ERRK_CALLBACK_FAILED, "Denied", "no");
    h_free(&h);
}

Test(step, regex_filters_are_copied)
{
    char pattern[32] = "^time.*out$";
    unsigned char is_regex[1] = {1};
    const char *patterns[] = {pattern};
    perdure_retry_config r = retry_none_jitter(3, 1, 2, 10);
    r.retryable_errors = patterns;
    r.retryable_errors_is_regex = is_regex;
    r.retryable_errors_len = 1;
    perdure_step_config cfg = step_cfg(PERDURE_AT_LEAST_ONCE_PER_RETRY, &r);
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op a = step(&h, PERDURE_ROOT, NULL, &cfg), b = step(&h, PERDURE_ROOT, NULL, &cfg);
    strcpy(pattern, "(");   /* would not even compile */
    is_regex[0] = 0;
    cr_assert_eq(next_of(&h, a), PERDURE_NEXT_EXECUTE);
    fail(&h, a, "E", "timed out");
    cr_assert_eq(next_of(&h, b), PERDURE_NEXT_EXECUTE);
    fail(&h, b, "E", "not a timeout");
    json_t *u = h_flush(&h, NULL);
    expect_count(u, 4);
    expect_update(upd(u, 1), ID1, "STEP", "Step", "RETRY", NULL, NULL);
    expect_update(upd(u, 3), ID2, "STEP", "Step", "FAIL", NULL, NULL);
    h_free(&h);
}

Test(condition, initial_state_pointer_and_length_must_agree)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_condition_config cfg = {.size = sizeof cfg, .initial_state = NULL, .initial_state_len = 3};
    perdure_op op;
    cr_expect_eq(perdure_vm_wait_for_condition(h.vm, PERDURE_ROOT, NULL, &cfg, &op), PERDURE_E_MISUSE);
    h_free(&h);
}

Test(map, nested_batch_in_an_abandoned_item_is_orphaned)
{
    harness h;
    h_init(&h);
    h_start(&h, NULL);
    perdure_op outer = batch_op(&h, "outer", PERDURE_BATCH_MAP, 2, NULL);
    cr_assert_eq(next_of(&h, outer), PERDURE_NEXT_EXECUTE);
    perdure_op i0 = expect_run_item(&h, outer, 0), i1 = expect_run_item(&h, outer, 1);
    cr_assert_eq(next_of(&h, i0), PERDURE_NEXT_EXECUTE);
    perdure_op inner;
    cr_assert_eq(perdure_vm_batch(h.vm, i0, "inner", PERDURE_BATCH_MAP, 3, NULL, &inner), PERDURE_OK);
    cr_assert_eq(next_of(&h, inner), PERDURE_NEXT_EXECUTE);
    perdure_op j0 = expect_run_item(&h, inner, 0);
    run_item(&h, i1, NULL);
    expect_poll(&h, outer, PERDURE_BATCH_DONE);
    perdure_batch_poll p;
    perdure_next n;
    cr_expect_eq(perdure_vm_batch_poll(h.vm, inner, &p), PERDURE_E_ORPHANED);
    cr_expect_eq(perdure_vm_op_next(h.vm, inner, &n), PERDURE_E_ORPHANED);
    cr_expect_eq(perdure_vm_op_next(h.vm, j0, &n), PERDURE_E_ORPHANED);
    h_free(&h);
}

/* Bad input never crashes the library: every case returns its exact status
 * and perdure_vm_errmsg names the problem. Run under valgrind (scripts/test),
 * this suite also shows that no bad input reads out of bounds or leaks. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "internal.h"

#define ARN "arn:aws:lambda:us-east-1:123456789012:function:fn:$LATEST/durable-execution/order-1/exec-1"
#define NOW 1767225600000LL

/* The Id of operation #1 of the root (blake2b of "1"). */
#define ID_1 "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"

static const char minimal_input[] =
    "{\"DurableExecutionArn\":\"" ARN "\",\"CheckpointToken\":\"dG9rZW4tMQ==\","
    "\"InitialExecutionState\":{\"Operations\":[{\"Id\":\"exec-1\",\"Type\":\"EXECUTION\",\"Status\":\"STARTED\","
    "\"StartTimestamp\":1767225600000,\"ExecutionDetails\":{\"InputPayload\":\"{}\"}}]}}";

/* Asserts the status and that the VM's message contains `part`. */
#define expect_fail(vm, call, status, part)                                                                           \
    do {                                                                                                              \
        perdure_status st_ = (call);                                                                                  \
        const char *msg_ = perdure_vm_errmsg(vm);                                                                     \
        cr_expect_eq(st_, (status), "%s: got %s, want %s (message \"%s\")", #call, perdure_status_name(st_),          \
                     perdure_status_name(status), msg_);                                                              \
        cr_expect(msg_ != NULL && strstr(msg_, (part)) != NULL, "%s: message \"%s\" lacks \"%s\"", #call, msg_,       \
                  (part));                                                                                            \
    } while (0)

/* For calls that take a const VM (views) or no VM: the status alone. */
#define expect_status(call, status)                                                                                   \
    do {                                                                                                              \
        perdure_status st_ = (call);                                                                                  \
        cr_expect_eq(st_, (status), "%s: got %s, want %s", #call, perdure_status_name(st_),                          \
                     perdure_status_name(status));                                                                    \
    } while (0)

#define expect_ok(vm, call)                                                                                           \
    do {                                                                                                              \
        perdure_status st_ = (call);                                                                                  \
        cr_assert_eq(st_, PERDURE_OK, "%s: %s (%s)", #call, perdure_status_name(st_), perdure_vm_errmsg(vm));         \
    } while (0)

static perdure_vm *new_vm(perdure_wire wire, unsigned long long seed)
{
    perdure_vm_options opts = {.size = sizeof opts};
    cr_assert_eq(perdure_vm_options_init(&opts), PERDURE_OK);
    opts.wire = wire;
    opts.random_seed = seed;
    perdure_vm *vm = NULL;
    cr_assert_eq(perdure_vm_new(&opts, &vm), PERDURE_OK);
    cr_assert_not_null(vm);
    return vm;
}

static perdure_vm *started_vm_seeded(unsigned long long seed)
{
    perdure_vm *vm = new_vm(PERDURE_WIRE_JSON, seed);
    expect_ok(vm, perdure_vm_start(vm, minimal_input, strlen(minimal_input), NOW));
    return vm;
}

static perdure_vm *started_vm(void) { return started_vm_seeded(1); }

/* A step of the root, driven until its body is to run. */
static perdure_op running_step(perdure_vm *vm, const char *name)
{
    perdure_op op;
    perdure_next next;
    expect_ok(vm, perdure_vm_step(vm, PERDURE_ROOT, name, NULL, &op));
    expect_ok(vm, perdure_vm_op_next(vm, op, &next));
    cr_assert_eq(next, PERDURE_NEXT_EXECUTE);
    return op;
}

static perdure_op running_child(perdure_vm *vm, const char *name)
{
    perdure_op op;
    perdure_next next;
    expect_ok(vm, perdure_vm_child(vm, PERDURE_ROOT, name, NULL, 0, &op));
    expect_ok(vm, perdure_vm_op_next(vm, op, &next));
    cr_assert_eq(next, PERDURE_NEXT_EXECUTE);
    return op;
}

/* A copy in a buffer of exactly len bytes, so that reading past it is caught
 * by valgrind and ASan. */
static unsigned char *exact_copy(const void *data, size_t len)
{
    unsigned char *p = malloc(len ? len : 1);
    cr_assert_not_null(p);
    if (len)
        memcpy(p, data, len);
    return p;
}

/* Deterministic generator for the mutation tests. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* ======================================================================
 * msgpack invocation input: every truncation, random corruption
 * ====================================================================== */

static void set(pd_bytes *b, const char *s) { cr_assert_eq(pd_bytes_set_str(b, s), 0); }

/* A valid invocation with one operation of most kinds; payloads at least
 * compress_threshold long are zstd frames. */
static pd_buf valid_mp_invocation(size_t compress_threshold)
{
    pd_invocation inv = {0};
    set(&inv.arn, ARN);
    set(&inv.token, "dG9rZW4tMQ==");

    pd_operation *op = pd_op_list_push(&inv.ops);
    cr_assert_not_null(op);
    strcpy(op->id, "exec-1");
    op->type = PERDURE_TYPE_EXECUTION;
    op->status = PERDURE_STATUS_STARTED;
    op->start_ms = NOW;
    set(&op->input_payload, "{\"order\":42,\"note\":\"a payload long enough to be compressed when asked\"}");

    op = pd_op_list_push(&inv.ops);
    strcpy(op->id, ID_1);
    set(&op->name, "one");
    op->type = PERDURE_TYPE_STEP;
    strcpy(op->sub_type, "Step");
    op->status = PERDURE_STATUS_SUCCEEDED;
    op->start_ms = NOW + 1;
    op->end_ms = NOW + 2;
    op->attempt = 1;
    set(&op->result, "\"a step result that is long enough to be compressed as well\"");

    op = pd_op_list_push(&inv.ops);
    strcpy(op->id, "op-failed");
    op->type = PERDURE_TYPE_STEP;
    strcpy(op->sub_type, "Step");
    op->status = PERDURE_STATUS_PENDING;
    op->start_ms = NOW + 3;
    op->attempt = 2;
    op->next_attempt_ms = NOW + 9000;
    op->error = pd_error_new();
    cr_assert_not_null(op->error);
    set(&op->error->type, "ValueError");
    set(&op->error->message, "bad value");
    op->error->stack = calloc(2, sizeof *op->error->stack);
    op->error->stack[0] = strdup("at f (a.c:1)");
    op->error->stack[1] = strdup("at g (b.c:2)");
    op->error->stack_len = 2;

    op = pd_op_list_push(&inv.ops);
    strcpy(op->id, "op-wait");
    op->type = PERDURE_TYPE_WAIT;
    strcpy(op->sub_type, "Wait");
    op->status = PERDURE_STATUS_STARTED;
    op->start_ms = NOW + 4;
    op->scheduled_end_ms = NOW + 60000;

    op = pd_op_list_push(&inv.ops);
    strcpy(op->id, "op-context");
    strcpy(op->parent_id, "exec-1");
    op->type = PERDURE_TYPE_CONTEXT;
    strcpy(op->sub_type, "RunInChildContext");
    op->status = PERDURE_STATUS_SUCCEEDED;
    op->start_ms = NOW + 5;
    op->replay_children = true;
    set(&op->result, "");

    op = pd_op_list_push(&inv.ops);
    strcpy(op->id, "op-callback");
    op->type = PERDURE_TYPE_CALLBACK;
    strcpy(op->sub_type, "Callback");
    op->status = PERDURE_STATUS_STARTED;
    op->start_ms = NOW + 6;
    set(&op->callback_id, "Y2FsbGJhY2st");

    pd_buf buf;
    pd_buf_init(&buf);
    pd_err err = {0};
    cr_assert_eq(pd_mp_encode_invocation(&inv, compress_threshold, &buf, &err), PERDURE_OK, "%s", err.msg);
    pd_invocation_free(&inv);
    cr_assert_gt(buf.len, 100);
    return buf;
}

/* Starts a msgpack VM on data; returns the status, checking the message. */
static perdure_status start_mp(const unsigned char *data, size_t len, bool intact)
{
    perdure_vm *vm = new_vm(PERDURE_WIRE_MSGPACK, 3);
    unsigned char *copy = exact_copy(data, len);
    perdure_status st = perdure_vm_start(vm, copy, len, NOW);
    free(copy);
    if (st)
        cr_expect_neq(strlen(perdure_vm_errmsg(vm)), 0, "status %s without a message", perdure_status_name(st));
    else if (intact)
        cr_expect_str_eq(perdure_vm_execution_arn(vm), ARN);
    perdure_vm_free(vm);
    return st;
}

Test(bad_input, msgpack_invocation_every_truncation)
{
    size_t thresholds[] = {0, 16};
    for (size_t t = 0; t < 2; t++) {
        pd_buf buf = valid_mp_invocation(thresholds[t]);
        cr_assert_eq(start_mp(buf.data, buf.len, true), PERDURE_OK, "the whole record is valid");
        for (size_t len = 0; len < buf.len; len++) {
            perdure_vm *vm = new_vm(PERDURE_WIRE_MSGPACK, 3);
            unsigned char *copy = exact_copy(buf.data, len);
            perdure_status st = perdure_vm_start(vm, copy, len, NOW);
            free(copy);
            const char *msg = perdure_vm_errmsg(vm);
            cr_expect_eq(st, PERDURE_E_DECODE, "prefix of %zu/%zu bytes: %s (%s)", len, buf.len,
                         perdure_status_name(st), msg);
            cr_expect(strstr(msg, "truncated input") != NULL,
                      "prefix of %zu bytes: message \"%s\"", len, msg);
            perdure_vm_free(vm);
        }
        pd_buf_free(&buf);
    }
}

Test(bad_input, msgpack_invocation_random_corruption)
{
    size_t thresholds[] = {0, 16};
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    unsigned outcomes[3] = {0};
    for (size_t t = 0; t < 2; t++) {
        pd_buf buf = valid_mp_invocation(thresholds[t]);
        for (int iter = 0; iter < 1500; iter++) {
            unsigned char *copy = exact_copy(buf.data, buf.len);
            int flips = 1 + (int)(rng_next(&seed) % 3);
            for (int f = 0; f < flips; f++) {
                size_t at = rng_next(&seed) % buf.len;
                copy[at] ^= (unsigned char)(1 + rng_next(&seed) % 255);
            }
            perdure_status st = start_mp(copy, buf.len, false);
            free(copy);
            cr_expect(st == PERDURE_OK || st == PERDURE_E_DECODE || st == PERDURE_E_TOO_LARGE,
                      "iteration %d: unexpected %s", iter, perdure_status_name(st));
            outcomes[st == PERDURE_OK ? 0 : st == PERDURE_E_DECODE ? 1 : 2]++;
        }
        pd_buf_free(&buf);
    }
    /* Most corruptions must be caught, and some must slip through as valid
     * records (payload bytes): both paths are exercised. */
    cr_expect_gt(outcomes[1], 500, "decode errors: %u", outcomes[1]);
    cr_expect_gt(outcomes[0], 10, "accepted: %u", outcomes[0]);
}

/* A corrupted record that still decodes must be safe to replay. */
Test(bad_input, msgpack_corrupted_but_valid_records_replay_safely)
{
    pd_buf buf = valid_mp_invocation(0);
    uint64_t seed = 12345;
    int accepted = 0;
    for (int iter = 0; iter < 600; iter++) {
        unsigned char *copy = exact_copy(buf.data, buf.len);
        copy[rng_next(&seed) % buf.len] ^= (unsigned char)(1 + rng_next(&seed) % 255);
        perdure_vm *vm = new_vm(PERDURE_WIRE_MSGPACK, 3);
        perdure_status st = perdure_vm_start(vm, copy, buf.len, NOW);
        free(copy);
        if (st == PERDURE_OK) {
            accepted++;
            perdure_op op;
            perdure_next next;
            st = perdure_vm_step(vm, PERDURE_ROOT, "one", NULL, &op);
            cr_expect(st == PERDURE_OK || st == PERDURE_E_NONDETERMINISM, "%s", perdure_status_name(st));
            if (st == PERDURE_OK) {
                st = perdure_vm_op_next(vm, op, &next);
                cr_expect_eq(st, PERDURE_OK, "%s", perdure_vm_errmsg(vm));
            }
            perdure_vm_nondeterminism(vm, &(perdure_nondeterminism){0});
        }
        perdure_vm_free(vm);
    }
    cr_expect_gt(accepted, 0);
    pd_buf_free(&buf);
}

/* NULL with a length is misuse on either wire; an empty input is a decode error. */
Test(bad_input, null_or_empty_input)
{
    perdure_wire wires[] = {PERDURE_WIRE_JSON, PERDURE_WIRE_MSGPACK};
    for (int w = 0; w < 2; w++) {
        perdure_vm *vm = new_vm(wires[w], 1);
        expect_fail(vm, perdure_vm_start(vm, NULL, 10, NOW), PERDURE_E_MISUSE, "NULL input");
        expect_fail(vm, perdure_vm_start(vm, NULL, 0, NOW), PERDURE_E_DECODE,
                    wires[w] == PERDURE_WIRE_JSON ? "invalid JSON" : "truncated input");
        expect_fail(vm, perdure_vm_start(vm, "", 0, NOW), PERDURE_E_DECODE,
                    wires[w] == PERDURE_WIRE_JSON ? "invalid JSON" : "truncated input");
        perdure_vm_free(vm);
    }
}

/* ======================================================================
 * JSON invocation input
 * ====================================================================== */

Test(bad_input, json_invocation_every_truncation)
{
    size_t len = strlen(minimal_input);
    for (size_t n = 0; n < len; n++) {
        perdure_vm *vm = new_vm(PERDURE_WIRE_JSON, 1);
        unsigned char *copy = exact_copy(minimal_input, n);
        expect_fail(vm, perdure_vm_start(vm, copy, n, NOW), PERDURE_E_DECODE, "invalid JSON");
        free(copy);
        perdure_vm_free(vm);
    }
}

Test(bad_input, json_invocation_random_corruption)
{
    size_t len = strlen(minimal_input);
    uint64_t seed = 0xdecafbadULL;
    unsigned ok = 0, decode = 0;
    for (int iter = 0; iter < 3000; iter++) {
        unsigned char *copy = exact_copy(minimal_input, len);
        int flips = 1 + (int)(rng_next(&seed) % 3);
        for (int f = 0; f < flips; f++)
            copy[rng_next(&seed) % len] ^= (unsigned char)(1 + rng_next(&seed) % 255);
        perdure_vm *vm = new_vm(PERDURE_WIRE_JSON, 1);
        perdure_status st = perdure_vm_start(vm, copy, len, NOW);
        free(copy);
        cr_expect(st == PERDURE_OK || st == PERDURE_E_DECODE, "iteration %d: %s (%s)", iter,
                  perdure_status_name(st), perdure_vm_errmsg(vm));
        if (st)
            cr_expect_neq(strlen(perdure_vm_errmsg(vm)), 0);
        ok += st == PERDURE_OK;
        decode += st == PERDURE_E_DECODE;
        perdure_vm_free(vm);
    }
    cr_expect_gt(decode, 2000, "decode errors: %u", decode);
    cr_expect_gt(ok, 10, "accepted: %u", ok);
}

Test(bad_input, invalid_json_text)
{
    static const struct {
        const char *text;
        const char *part;
    } cases[] = {
        {"", "invalid JSON"},
        {"{", "invalid JSON"},
        {"not json", "invalid JSON"},
        {"{\"DurableExecutionArn\":}", "invalid JSON"},
        {"{\"a\":1,}", "invalid JSON"},
        {"\xff\xfe{}", "invalid JSON"},
        {"{\"CheckpointToken\":\"\xc3\x28\"}", "invalid JSON"},   /* invalid UTF-8 */
        {"{} trailing", "invalid JSON"},
        {"{\"DurableExecutionArn\":\"a\",\"DurableExecutionArn\":\"b\"}", "invalid JSON"},   /* duplicate key */
        {"[]", "expected a JSON object, got an array"},
        {"[{}]", "expected a JSON object, got an array"},
        {"null", "invalid JSON"},   /* jansson accepts only an object or array at the top */
        {"42", "invalid JSON"},
        {"\"text\"", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        perdure_vm *vm = new_vm(PERDURE_WIRE_JSON, 1);
        expect_fail(vm, perdure_vm_start(vm, cases[i].text, strlen(cases[i].text), NOW), PERDURE_E_DECODE,
                    cases[i].part);
        perdure_vm_free(vm);
    }
}

#define OPS_PREFIX "{\"DurableExecutionArn\":\"" ARN "\",\"CheckpointToken\":\"dG9r\",\"InitialExecutionState\":"
#define EXEC_OP                                                                                                       \
    "{\"Id\":\"exec-1\",\"Type\":\"EXECUTION\",\"Status\":\"STARTED\",\"StartTimestamp\":1767225600000}"

Test(bad_input, json_of_the_wrong_shape)
{
    static const struct {
        const char *text;
        const char *part;
    } cases[] = {
        {"{\"CheckpointToken\":\"dG9r\"}", "DurableExecutionArn: missing"},
        {"{\"DurableExecutionArn\":null,\"CheckpointToken\":\"dG9r\"}", "DurableExecutionArn: missing"},
        {"{\"DurableExecutionArn\":\"" ARN "\"}", "CheckpointToken: missing"},
        {"{\"DurableExecutionArn\":7,\"CheckpointToken\":\"dG9r\"}",
         "DurableExecutionArn: expected a string, got an integer"},
        {"{\"DurableExecutionArn\":\"" ARN "\",\"CheckpointToken\":[]}",
         "CheckpointToken: expected a string, got an array"},
        {OPS_PREFIX "[]}", "InitialExecutionState: expected an object, got an array"},
        {OPS_PREFIX "{\"Operations\":{}}}", "InitialExecutionState.Operations: expected an array, got an object"},
        {OPS_PREFIX "{\"Operations\":\"[]\"}}", "InitialExecutionState.Operations: expected an array, got a string"},
        {OPS_PREFIX "{\"Operations\":[" EXEC_OP ",5]}}",
         "InitialExecutionState.Operations[1]: expected an object, got an integer"},
        {OPS_PREFIX "{\"Operations\":[{\"Id\":\"x\",\"Type\":\"STEP\",\"Status\":\"DONE\",\"StartTimestamp\":1}]}}",
         "InitialExecutionState.Operations[0].Status: unknown status \"DONE\""},
        {OPS_PREFIX "{\"Operations\":[{\"Id\":\"x\",\"Type\":\"TASK\",\"Status\":\"STARTED\",\"StartTimestamp\":1}]}}",
         "InitialExecutionState.Operations[0].Type: unknown type \"TASK\""},
        {OPS_PREFIX "{\"Operations\":[{\"Id\":\"x\",\"Type\":\"step\",\"Status\":\"STARTED\",\"StartTimestamp\":1}]}}",
         "Operations[0].Type: unknown type \"step\""},
        {OPS_PREFIX "{\"Operations\":[{\"Id\":\"x\",\"Type\":\"STEP\",\"StartTimestamp\":1}]}}",
         "Operations[0].Status: missing"},
        {OPS_PREFIX "{\"Operations\":[{\"Type\":\"STEP\",\"Status\":\"STARTED\"}]}}", "Operations[0].Id: missing"},
        {OPS_PREFIX "{\"Operations\":[{\"Id\":\"x\",\"Type\":\"STEP\",\"Status\":\"STARTED\",\"StartTimestamp\":\"now\"}]}}",
         "Operations[0].StartTimestamp: expected a number, got a string"},
        {OPS_PREFIX "{\"Operations\":[" EXEC_OP ",{\"Id\":\"s\",\"Type\":\"STEP\",\"Status\":\"FAILED\","
                    "\"StepDetails\":{\"Attempt\":-1}}]}}",
         "Operations[1].StepDetails.Attempt: -1 is out of range"},
        {OPS_PREFIX "{\"Operations\":[" EXEC_OP ",{\"Id\":\"s\",\"Type\":\"STEP\",\"Status\":\"FAILED\","
                    "\"StepDetails\":{\"Error\":\"boom\"}}]}}",
         "Operations[1].StepDetails.Error: expected an object, got a string"},
        {OPS_PREFIX "{\"Operations\":[" EXEC_OP ",{\"Id\":\"s\",\"Type\":\"STEP\",\"Status\":\"FAILED\","
                    "\"StepDetails\":{\"Error\":{\"StackTrace\":[1]}}}]}}",
         "Operations[1].StepDetails.Error.StackTrace[0]: expected a string, got an integer"},
        {OPS_PREFIX "{\"Operations\":[" EXEC_OP "],\"NextMarker\":5}}",
         "InitialExecutionState.NextMarker: expected a string, got an integer"},
        /* An ARN without an execution id, an empty token. */
        {"{\"DurableExecutionArn\":\"not-an-arn\",\"CheckpointToken\":\"dG9r\"}",
         "DurableExecutionArn and CheckpointToken are required"},
        {"{\"DurableExecutionArn\":\"" ARN "\",\"CheckpointToken\":\"\"}",
         "DurableExecutionArn and CheckpointToken are required"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        perdure_vm *vm = new_vm(PERDURE_WIRE_JSON, 1);
        expect_fail(vm, perdure_vm_start(vm, cases[i].text, strlen(cases[i].text), NOW), PERDURE_E_DECODE,
                    cases[i].part);
        /* A failed start leaves the VM unstarted, not half-loaded. */
        cr_expect_null(perdure_vm_execution_arn(vm), "case %zu", i);
        perdure_op op;
        expect_fail(vm, perdure_vm_step(vm, PERDURE_ROOT, "s", NULL, &op), PERDURE_E_MISUSE,
                    "before perdure_vm_start");
        perdure_vm_free(vm);
    }
}

Test(bad_input, json_ids_out_of_range)
{
    char long_id[80];
    memset(long_id, 'a', 65);
    long_id[65] = 0;
    char text[512];
    snprintf(text, sizeof text,
             OPS_PREFIX "{\"Operations\":[{\"Id\":\"%s\",\"Type\":\"STEP\",\"Status\":\"STARTED\"}]}}", long_id);
    perdure_vm *vm = new_vm(PERDURE_WIRE_JSON, 1);
    expect_fail(vm, perdure_vm_start(vm, text, strlen(text), NOW), PERDURE_E_DECODE, "Operations[0].Id");
    perdure_vm_free(vm);
    snprintf(text, sizeof text,
             OPS_PREFIX "{\"Operations\":[{\"Id\":\"\",\"Type\":\"STEP\",\"Status\":\"STARTED\"}]}}");
    vm = new_vm(PERDURE_WIRE_JSON, 1);
    expect_fail(vm, perdure_vm_start(vm, text, strlen(text), NOW), PERDURE_E_DECODE, "Operations[0].Id");
    perdure_vm_free(vm);
}

/* ======================================================================
 * NULL vm and NULL out-parameters, for every public function
 * ====================================================================== */

Test(bad_input, null_vm_everywhere)
{
    perdure_op op = 1;
    perdure_next next;
    perdure_buf buf = {0};
    perdure_nondeterminism nd;
    perdure_op_status status;
    unsigned attempt;
    const unsigned char *data;
    unsigned long long len;
    perdure_error_view ev;
    const char *text;
    long long secs;
    perdure_batch_poll poll;
    perdure_batch_outcome bo;
    perdure_condition_config ccfg = {.size = sizeof ccfg};

    cr_expect_str_eq(perdure_vm_errmsg(NULL), "NULL perdure_vm");
    perdure_vm_free(NULL);
    expect_status(perdure_vm_nondeterminism(NULL, &nd), PERDURE_E_MISUSE);
    expect_status(perdure_vm_start(NULL, minimal_input, strlen(minimal_input), NOW), PERDURE_E_MISUSE);
    cr_expect_null(perdure_vm_state_marker(NULL));
    expect_status(perdure_vm_add_state(NULL, "{}", 2), PERDURE_E_MISUSE);
    cr_expect_null(perdure_vm_execution_arn(NULL));
    cr_expect_null(perdure_vm_checkpoint_token(NULL));
    expect_status(perdure_vm_input(NULL, &data, &len), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_is_replaying(NULL), 0);
    expect_status(perdure_vm_set_now(NULL, NOW), PERDURE_E_MISUSE);
    expect_status(perdure_vm_step(NULL, PERDURE_ROOT, "s", NULL, &op), PERDURE_E_MISUSE);
    expect_status(perdure_vm_wait(NULL, PERDURE_ROOT, "w", 5, &op), PERDURE_E_MISUSE);
    expect_status(perdure_vm_callback(NULL, PERDURE_ROOT, "c", NULL, &op), PERDURE_E_MISUSE);
    expect_status(perdure_vm_child(NULL, PERDURE_ROOT, "c", NULL, 0, &op), PERDURE_E_MISUSE);
    expect_status(perdure_vm_batch(NULL, PERDURE_ROOT, "m", PERDURE_BATCH_MAP, 2, NULL, &op), PERDURE_E_MISUSE);
    expect_status(perdure_vm_wait_for_condition(NULL, PERDURE_ROOT, "w", &ccfg, &op), PERDURE_E_MISUSE);
    expect_status(perdure_vm_wait_for_callback(NULL, PERDURE_ROOT, "w", NULL, NULL, &op), PERDURE_E_MISUSE);
    expect_status(perdure_vm_invoke(NULL, PERDURE_ROOT, "i", "fn", NULL, "{}", 2, &op), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_next(NULL, op, &next), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_succeed(NULL, op, "1", 1), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_fail(NULL, op, NULL), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_fail_decided(NULL, op, NULL, 1, 5), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_suspended(NULL, op), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_set_summary(NULL, op, "s", 1), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_condition_checked(NULL, op, "s", 1, 0), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_condition_decided(NULL, op, "s", 1, 1, 5), PERDURE_E_MISUSE);
    cr_expect_null(perdure_vm_op_id(NULL, op));
    expect_status(perdure_vm_op_status(NULL, op, &status), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_attempt(NULL, op, &attempt), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_result(NULL, op, &data, &len), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_error(NULL, op, &ev), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_callback_id(NULL, op, &text), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_retry_delay(NULL, op, &secs), PERDURE_E_MISUSE);
    expect_status(perdure_vm_batch_poll(NULL, op, &poll), PERDURE_E_MISUSE);
    expect_status(perdure_vm_batch_outcome(NULL, op, &bo), PERDURE_E_MISUSE);
    expect_status(perdure_vm_batch_item(NULL, op, 0, &status, &op), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_vm_wants_flush(NULL), 0);
    expect_status(perdure_vm_take_batch(NULL, &buf), PERDURE_E_MISUSE);
    expect_status(perdure_vm_apply_response(NULL, "{}", 2), PERDURE_E_MISUSE);
    expect_status(perdure_vm_finish(NULL, PERDURE_OUTCOME_SUCCEEDED, "1", 1, NULL, &next), PERDURE_E_MISUSE);
    expect_status(perdure_vm_output(NULL, &buf), PERDURE_E_MISUSE);
    cr_expect_null(buf.data);
}

Test(bad_input, null_out_params_without_vm)
{
    perdure_retry_config rc = {.size = sizeof rc};
    perdure_retry_config_preset(&rc, PERDURE_RETRY_DEFAULT);
    perdure_retry_decision d;
    perdure_error_info e = {.error_type = "E"};
    perdure_wait_config wc;
    perdure_wait_config_init(&wc);
    perdure_completion_config cc;
    perdure_completion_config_init(&cc);
    perdure_completion_reason reason;
    char id[65];

    cr_expect_not_null(perdure_status_name(12345));
    cr_expect_not_null(perdure_version());
    perdure_buf_free(NULL);
    expect_status(perdure_retry_config_preset(NULL, PERDURE_RETRY_DEFAULT), PERDURE_E_MISUSE);
    expect_status(perdure_retry_decide(NULL, 1, &e, 0.5, &d), PERDURE_E_MISUSE);
    expect_status(perdure_retry_decide(&rc, 1, NULL, 0.5, &d), PERDURE_E_MISUSE);
    expect_status(perdure_retry_decide(&rc, 1, &e, 0.5, NULL), PERDURE_E_MISUSE);
    expect_status(perdure_wait_config_init(NULL), PERDURE_E_MISUSE);
    expect_status(perdure_wait_decide(NULL, 1, 0.5, &d), PERDURE_E_MISUSE);
    expect_status(perdure_wait_decide(&wc, 1, 0.5, NULL), PERDURE_E_MISUSE);
    expect_status(perdure_completion_config_init(NULL), PERDURE_E_MISUSE);
    expect_status(perdure_completion_check(NULL, 2, 0, 0, &reason), PERDURE_E_MISUSE);
    expect_status(perdure_completion_check(&cc, 2, 0, 0, NULL), PERDURE_E_MISUSE);
    expect_status(perdure_id_hash(PERDURE_IDS_BLAKE2B, NULL, id, sizeof id), PERDURE_E_MISUSE);
    expect_status(perdure_id_hash(PERDURE_IDS_BLAKE2B, "1", NULL, 65), PERDURE_E_MISUSE);
    expect_status(perdure_id_hash(PERDURE_IDS_BLAKE2B, "1", id, 64), PERDURE_E_INVALID);
    expect_status(perdure_id_hash((perdure_id_scheme)7, "1", id, sizeof id), PERDURE_E_INVALID);
    expect_status(perdure_vm_options_init(NULL), PERDURE_E_MISUSE);
    expect_status(perdure_vm_new(NULL, NULL), PERDURE_E_MISUSE);
    /* the C SDK */
    cr_expect_null(perdure_context_vm(NULL));
    perdure_sdk_outcome outcome;
    const unsigned char *data;
    unsigned long long len;
    perdure_op op;
    const char *cb_id;
    perdure_error_view ev;
    expect_status(perdure_context_step(NULL, "s", NULL, NULL, NULL, &outcome, &data, &len), PERDURE_E_MISUSE);
    expect_status(perdure_context_wait(NULL, "w", 5, &outcome), PERDURE_E_MISUSE);
    expect_status(perdure_context_create_callback(NULL, "c", NULL, &op, &cb_id), PERDURE_E_MISUSE);
    expect_status(perdure_context_callback_result(NULL, 1, &outcome, &data, &len), PERDURE_E_MISUSE);
    expect_status(perdure_context_wait_for_callback(NULL, "w", NULL, NULL, NULL, &outcome, &data, &len),
                  PERDURE_E_MISUSE);
    expect_status(perdure_context_run_child(NULL, "c", NULL, NULL, &outcome, &data, &len), PERDURE_E_MISUSE);
    expect_status(perdure_context_map(NULL, "m", 2, NULL, NULL, NULL, &outcome, &op), PERDURE_E_MISUSE);
    expect_status(perdure_context_last_error(NULL, &ev), PERDURE_E_MISUSE);
    perdure_buf out = {0};
    expect_status(perdure_invoke_handler(NULL, minimal_input, strlen(minimal_input), NOW, NULL, NULL, NULL, NULL,
                                         &out),
                  PERDURE_E_MISUSE);
}

/* The C SDK's context functions with NULL out-parameters, from inside a handler. */
static perdure_status no_transport(void *user, const unsigned char *request, unsigned long long len,
                                   perdure_buf *response)
{
    (void)user, (void)request, (void)len, (void)response;
    return PERDURE_E_INTERNAL;
}

static int sdk_step(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)user, (void)attempt, (void)result, (void)error;
    return 0;
}
static int sdk_child(perdure_context *ctx, void *user, perdure_buf *result, perdure_error_info *error)
{
    (void)ctx, (void)user, (void)result, (void)error;
    return 0;
}
static int sdk_item(perdure_context *ctx, void *user, unsigned index, perdure_buf *result, perdure_error_info *error)
{
    (void)ctx, (void)user, (void)index, (void)result, (void)error;
    return 0;
}
static int sdk_submit(void *user, const char *callback_id, perdure_error_info *error)
{
    (void)user, (void)callback_id, (void)error;
    return 0;
}

static int null_out_handler(perdure_context *ctx, void *user, const unsigned char *input,
                            unsigned long long input_len, perdure_buf *result, perdure_error_info *error)
{
    (void)input, (void)input_len, (void)result, (void)error;
    int *checked = user;
    perdure_sdk_outcome outcome;
    const unsigned char *data;
    unsigned long long len;
    perdure_op op;
    const char *id;
    perdure_error_view ev;
    expect_status(perdure_context_step(ctx, "s", NULL, NULL, NULL, &outcome, &data, &len), PERDURE_E_MISUSE);
    expect_status(perdure_context_step(ctx, "s", NULL, sdk_step, NULL, NULL, &data, &len), PERDURE_E_MISUSE);
    expect_status(perdure_context_step(ctx, "s", NULL, sdk_step, NULL, &outcome, NULL, &len), PERDURE_E_MISUSE);
    expect_status(perdure_context_step(ctx, "s", NULL, sdk_step, NULL, &outcome, &data, NULL), PERDURE_E_MISUSE);
    expect_status(perdure_context_wait(ctx, "w", 5, NULL), PERDURE_E_MISUSE);
    expect_status(perdure_context_create_callback(ctx, "c", NULL, NULL, &id), PERDURE_E_MISUSE);
    expect_status(perdure_context_create_callback(ctx, "c", NULL, &op, NULL), PERDURE_E_MISUSE);
    expect_status(perdure_context_callback_result(ctx, 1, NULL, &data, &len), PERDURE_E_MISUSE);
    expect_status(perdure_context_callback_result(ctx, 1, &outcome, NULL, &len), PERDURE_E_MISUSE);
    expect_status(perdure_context_wait_for_callback(ctx, "w", NULL, NULL, NULL, &outcome, &data, &len),
                  PERDURE_E_MISUSE);
    expect_status(perdure_context_wait_for_callback(ctx, "w", NULL, sdk_submit, NULL, NULL, &data, &len),
                  PERDURE_E_MISUSE);
    expect_status(perdure_context_run_child(ctx, "c", NULL, NULL, &outcome, &data, &len), PERDURE_E_MISUSE);
    expect_status(perdure_context_run_child(ctx, "c", sdk_child, NULL, &outcome, NULL, &len), PERDURE_E_MISUSE);
    expect_status(perdure_context_map(ctx, "m", 2, NULL, NULL, NULL, &outcome, &op), PERDURE_E_MISUSE);
    expect_status(perdure_context_map(ctx, "m", 2, NULL, sdk_item, NULL, NULL, &op), PERDURE_E_MISUSE);
    expect_status(perdure_context_map(ctx, "m", 2, NULL, sdk_item, NULL, &outcome, NULL), PERDURE_E_MISUSE);
    expect_status(perdure_context_last_error(ctx, NULL), PERDURE_E_MISUSE);
    expect_status(perdure_context_last_error(ctx, &ev), PERDURE_E_MISUSE);   /* no operation failed */
    *checked = 1;
    return 0;
}

Test(bad_input, sdk_null_out_params)
{
    int checked = 0;
    perdure_buf out = {0};
    expect_status(perdure_invoke_handler(NULL, minimal_input, strlen(minimal_input), NOW, null_out_handler, &checked,
                                         no_transport, NULL, &out),
                  PERDURE_OK);
    cr_expect(checked);
    /* None of the misuse reached the VM: nothing was declared or sent. */
    cr_expect(out.len == strlen("{\"Status\":\"SUCCEEDED\",\"Result\":\"\"}") &&
                  memcmp(out.data, "{\"Status\":\"SUCCEEDED\",\"Result\":\"\"}", out.len) == 0,
              "%.*s", (int)out.len, (const char *)out.data);
    perdure_buf_free(&out);
}

Test(bad_input, null_out_params_with_vm)
{
    perdure_vm *vm = started_vm();
    perdure_op step = running_step(vm, "s");
    perdure_next next;
    perdure_op_status status;
    const unsigned char *data;
    unsigned long long len;

    expect_fail(vm, perdure_vm_step(vm, PERDURE_ROOT, "x", NULL, NULL), PERDURE_E_MISUSE, "NULL out");
    expect_fail(vm, perdure_vm_wait(vm, PERDURE_ROOT, "x", 5, NULL), PERDURE_E_MISUSE, "NULL out");
    expect_fail(vm, perdure_vm_callback(vm, PERDURE_ROOT, "x", NULL, NULL), PERDURE_E_MISUSE, "NULL out");
    expect_fail(vm, perdure_vm_child(vm, PERDURE_ROOT, "x", NULL, 0, NULL), PERDURE_E_MISUSE, "NULL out");
    expect_fail(vm, perdure_vm_batch(vm, PERDURE_ROOT, "x", PERDURE_BATCH_MAP, 1, NULL, NULL), PERDURE_E_MISUSE,
                "NULL out");
    perdure_condition_config ccfg = {.size = sizeof ccfg};
    expect_fail(vm, perdure_vm_wait_for_condition(vm, PERDURE_ROOT, "x", &ccfg, NULL), PERDURE_E_MISUSE, "NULL out");
    perdure_op op;
    expect_fail(vm, perdure_vm_wait_for_condition(vm, PERDURE_ROOT, "x", NULL, &op), PERDURE_E_MISUSE,
                "config missing");
    expect_fail(vm, perdure_vm_wait_for_callback(vm, PERDURE_ROOT, "x", NULL, NULL, NULL), PERDURE_E_MISUSE,
                "NULL out");
    expect_fail(vm, perdure_vm_invoke(vm, PERDURE_ROOT, "x", "fn", NULL, NULL, 0, NULL), PERDURE_E_MISUSE,
                "NULL out");
    expect_fail(vm, perdure_vm_invoke(vm, PERDURE_ROOT, "x", "fn", NULL, NULL, 5, &op), PERDURE_E_MISUSE,
                "NULL payload");
    expect_fail(vm, perdure_vm_invoke(vm, PERDURE_ROOT, "x", NULL, NULL, NULL, 0, &op), PERDURE_E_INVALID,
                "function name");
    expect_fail(vm, perdure_vm_op_next(vm, step, NULL), PERDURE_E_MISUSE, "NULL out");
    expect_fail(vm, perdure_vm_op_succeed(vm, step, NULL, 5), PERDURE_E_MISUSE, "NULL payload with a length");
    expect_fail(vm, perdure_vm_take_batch(vm, NULL), PERDURE_E_MISUSE, "NULL out");
    expect_fail(vm, perdure_vm_finish(vm, PERDURE_OUTCOME_SUCCEEDED, "1", 1, NULL, NULL), PERDURE_E_MISUSE,
                "NULL next");
    expect_fail(vm, perdure_vm_finish(vm, PERDURE_OUTCOME_SUCCEEDED, NULL, 3, NULL, &next), PERDURE_E_MISUSE,
                "NULL payload with a length");
    expect_fail(vm, perdure_vm_output(vm, NULL), PERDURE_E_MISUSE, "perdure_vm_output");
    expect_status(perdure_vm_nondeterminism(vm, NULL), PERDURE_E_MISUSE);
    expect_status(perdure_vm_input(vm, NULL, &len), PERDURE_E_MISUSE);
    expect_status(perdure_vm_input(vm, &data, NULL), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_status(vm, step, NULL), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_attempt(vm, step, NULL), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_result(vm, step, NULL, &len), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_result(vm, step, &data, NULL), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_error(vm, step, NULL), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_callback_id(vm, step, NULL), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_retry_delay(vm, step, NULL), PERDURE_E_MISUSE);
    /* The step is unharmed by all of the above. */
    expect_ok(vm, perdure_vm_op_status(vm, step, &status));
    expect_ok(vm, perdure_vm_op_succeed(vm, step, "1", 1));
    expect_ok(vm, perdure_vm_op_next(vm, step, &next));
    cr_expect_eq(next, PERDURE_NEXT_CHECKPOINT);
    perdure_vm_free(vm);
}

Test(bad_input, null_out_params_of_batches)
{
    perdure_vm *vm = started_vm();
    perdure_op batch;
    perdure_next next;
    expect_ok(vm, perdure_vm_batch(vm, PERDURE_ROOT, "m", PERDURE_BATCH_MAP, 2, NULL, &batch));
    expect_fail(vm, perdure_vm_batch_poll(vm, batch, &(perdure_batch_poll){0}), PERDURE_E_MISUSE,
                "ask perdure_vm_op_next first");
    expect_ok(vm, perdure_vm_op_next(vm, batch, &next));
    cr_assert_eq(next, PERDURE_NEXT_EXECUTE);
    expect_fail(vm, perdure_vm_batch_poll(vm, batch, NULL), PERDURE_E_MISUSE, "NULL out");
    expect_status(perdure_vm_batch_outcome(vm, batch, NULL), PERDURE_E_MISUSE);
    expect_status(perdure_vm_batch_item(vm, batch, 0, NULL, NULL), PERDURE_E_MISUSE);
    perdure_op_status status;
    expect_status(perdure_vm_batch_item(vm, batch, 2, &status, NULL), PERDURE_E_MISUSE);   /* index out of range */
    expect_status(perdure_vm_batch_item(vm, batch, UINT_MAX, &status, NULL), PERDURE_E_MISUSE);
    expect_ok(vm, perdure_vm_batch_item(vm, batch, 0, &status, NULL));
    cr_expect_eq(status, PERDURE_STATUS_ABSENT);
    perdure_vm_free(vm);
}

/* ======================================================================
 * stale and foreign handles
 * ====================================================================== */

Test(bad_input, foreign_random_and_root_handles)
{
    perdure_vm *a = started_vm_seeded(11), *b = started_vm_seeded(22);
    perdure_op in_a = running_step(a, "s"), in_b = running_step(b, "s");
    /* Same position in both VMs: only the VM's stamp tells them apart. */
    cr_assert_neq(in_a, in_b, "the two VMs must stamp their handles differently (pick other seeds)");
    cr_expect_str_eq(perdure_vm_op_id(a, in_a), perdure_vm_op_id(b, in_b));

    perdure_next next;
    perdure_op_status status;
    const unsigned char *data;
    unsigned long long len;
    perdure_op child;
    const perdure_op bad[] = {in_a, 0xdeadbeefu, 12345u, UINT_MAX, in_b + 1, in_b + 1000, in_b & 0xfffffu};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        perdure_op h = bad[i];
        expect_fail(b, perdure_vm_op_next(b, h, &next), PERDURE_E_MISUSE, "bad operation handle");
        expect_fail(b, perdure_vm_op_succeed(b, h, "1", 1), PERDURE_E_MISUSE, "bad operation handle");
        expect_fail(b, perdure_vm_op_fail(b, h, NULL), PERDURE_E_MISUSE, "bad operation handle");
        expect_fail(b, perdure_vm_op_fail_decided(b, h, NULL, 1, 5), PERDURE_E_MISUSE, "bad operation handle");
        expect_fail(b, perdure_vm_op_suspended(b, h), PERDURE_E_MISUSE, "bad operation handle");
        expect_fail(b, perdure_vm_op_set_summary(b, h, "s", 1), PERDURE_E_MISUSE, "bad operation handle");
        expect_fail(b, perdure_vm_op_condition_checked(b, h, "s", 1, 0), PERDURE_E_MISUSE, "bad operation handle");
        expect_fail(b, perdure_vm_batch_poll(b, h, &(perdure_batch_poll){0}), PERDURE_E_MISUSE,
                    "not a map/parallel handle");
        expect_fail(b, perdure_vm_step(b, h, "x", NULL, &child), PERDURE_E_MISUSE, "not a context handle");
        cr_expect_null(perdure_vm_op_id(b, h), "handle %#x", h);
        expect_status(perdure_vm_op_status(b, h, &status), PERDURE_E_MISUSE);
        expect_status(perdure_vm_op_result(b, h, &data, &len), PERDURE_E_MISUSE);
        expect_status(perdure_vm_batch_outcome(b, h, &(perdure_batch_outcome){0}), PERDURE_E_MISUSE);
    }
    /* PERDURE_ROOT where an operation is required. */
    expect_fail(b, perdure_vm_op_next(b, PERDURE_ROOT, &next), PERDURE_E_MISUSE, "bad operation handle");
    expect_fail(b, perdure_vm_op_succeed(b, PERDURE_ROOT, "1", 1), PERDURE_E_MISUSE, "bad operation handle");
    expect_fail(b, perdure_vm_op_fail(b, PERDURE_ROOT, NULL), PERDURE_E_MISUSE, "bad operation handle");
    expect_fail(b, perdure_vm_op_suspended(b, PERDURE_ROOT), PERDURE_E_MISUSE, "bad operation handle");
    expect_fail(b, perdure_vm_batch_poll(b, PERDURE_ROOT, &(perdure_batch_poll){0}), PERDURE_E_MISUSE,
                "not a map/parallel handle");
    cr_expect_null(perdure_vm_op_id(b, PERDURE_ROOT));
    expect_status(perdure_vm_op_status(b, PERDURE_ROOT, &status), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_result(b, PERDURE_ROOT, &data, &len), PERDURE_E_MISUSE);
    expect_status(perdure_vm_op_callback_id(b, PERDURE_ROOT, &(const char *){NULL}), PERDURE_E_MISUSE);
    /* A step is not a context. */
    expect_fail(b, perdure_vm_step(b, in_b, "x", NULL, &child), PERDURE_E_MISUSE, "not a context handle");
    expect_fail(b, perdure_vm_wait(b, in_b, "x", 5, &child), PERDURE_E_MISUSE, "not a context handle");
    /* Neither VM was harmed. */
    expect_ok(a, perdure_vm_op_succeed(a, in_a, "1", 1));
    expect_ok(b, perdure_vm_op_succeed(b, in_b, "2", 1));
    perdure_vm_free(a);
    perdure_vm_free(b);
}

/* A handle that outlived its VM is refused by the next one. */
Test(bad_input, stale_handle_from_freed_vm)
{
    perdure_vm *old = started_vm_seeded(5);
    perdure_op stale = running_step(old, "s");
    perdure_vm_free(old);
    perdure_vm *vm = started_vm_seeded(6);
    perdure_op fresh = running_step(vm, "s");
    cr_assert_neq(stale, fresh);
    perdure_next next;
    expect_fail(vm, perdure_vm_op_next(vm, stale, &next), PERDURE_E_MISUSE, "bad operation handle");
    expect_fail(vm, perdure_vm_op_succeed(vm, stale, "1", 1), PERDURE_E_MISUSE, "bad operation handle");
    perdure_vm_free(vm);
}

/* ======================================================================
 * wrong state: before start, after finish, reports without a body
 * ====================================================================== */

Test(bad_input, calls_before_start)
{
    perdure_vm *vm = new_vm(PERDURE_WIRE_JSON, 1);
    perdure_op op;
    perdure_buf buf = {0};
    perdure_next next;
    const unsigned char *data;
    unsigned long long len;
    expect_fail(vm, perdure_vm_step(vm, PERDURE_ROOT, "s", NULL, &op), PERDURE_E_MISUSE, "before perdure_vm_start");
    expect_fail(vm, perdure_vm_take_batch(vm, &buf), PERDURE_E_MISUSE, "no invocation loaded");
    expect_fail(vm, perdure_vm_apply_response(vm, "{}", 2), PERDURE_E_MISUSE, "no batch is in flight");
    expect_fail(vm, perdure_vm_add_state(vm, "{}", 2), PERDURE_E_MISUSE, "no state page is expected");
    expect_fail(vm, perdure_vm_finish(vm, PERDURE_OUTCOME_SUCCEEDED, "1", 1, NULL, &next), PERDURE_E_MISUSE,
                "before start");
    expect_fail(vm, perdure_vm_output(vm, &buf), PERDURE_E_MISUSE, "finish the invocation");
    expect_status(perdure_vm_input(vm, &data, &len), PERDURE_E_MISUSE);
    cr_expect_null(perdure_vm_execution_arn(vm));
    cr_expect_null(perdure_vm_checkpoint_token(vm));
    perdure_vm_free(vm);
}

Test(bad_input, calls_after_finish)
{
    perdure_vm *vm = started_vm();
    perdure_next next;
    expect_ok(vm, perdure_vm_finish(vm, PERDURE_OUTCOME_SUCCEEDED, "1", 1, NULL, &next));
    cr_expect_eq(next, PERDURE_NEXT_RESULT);
    perdure_op op;
    expect_fail(vm, perdure_vm_step(vm, PERDURE_ROOT, "s", NULL, &op), PERDURE_E_MISUSE,
                "after the invocation finished");
    expect_fail(vm, perdure_vm_wait(vm, PERDURE_ROOT, "w", 5, &op), PERDURE_E_MISUSE,
                "after the invocation finished");
    expect_fail(vm, perdure_vm_child(vm, PERDURE_ROOT, "c", NULL, 0, &op), PERDURE_E_MISUSE,
                "after the invocation finished");
    expect_fail(vm, perdure_vm_finish(vm, PERDURE_OUTCOME_SUCCEEDED, "1", 1, NULL, &next), PERDURE_E_MISUSE,
                "called twice");
    expect_fail(vm, perdure_vm_finish(vm, PERDURE_OUTCOME_FAILED, NULL, 0, NULL, &next), PERDURE_E_MISUSE,
                "called twice");
    expect_fail(vm, perdure_vm_start(vm, minimal_input, strlen(minimal_input), NOW), PERDURE_E_MISUSE,
                "already loaded");
    expect_fail(vm, perdure_vm_apply_response(vm, "{}", 2), PERDURE_E_MISUSE, "no batch is in flight");
    /* The output is unaffected and can be read again. */
    for (int i = 0; i < 2; i++) {
        perdure_buf out = {0};
        expect_ok(vm, perdure_vm_output(vm, &out));
        cr_expect(out.len == strlen("{\"Status\":\"SUCCEEDED\",\"Result\":\"1\"}") &&
                      memcmp(out.data, "{\"Status\":\"SUCCEEDED\",\"Result\":\"1\"}", out.len) == 0,
                  "%.*s", (int)out.len, (const char *)out.data);
        perdure_buf_free(&out);
    }
    perdure_vm_free(vm);
}

/* An operation still running when the invocation finished cannot report any
 * more: the outcome would be queued after the end, never flushed, and it
 * would make the finished invocation's output unreadable. */
Test(bad_input, report_after_finish_is_refused)
{
    perdure_vm *vm = started_vm();
    perdure_op running = running_step(vm, "running");
    perdure_op child = running_child(vm, "child");
    perdure_next next;
    expect_ok(vm, perdure_vm_finish(vm, PERDURE_OUTCOME_SUCCEEDED, "1", 1, NULL, &next));
    cr_expect_eq(next, PERDURE_NEXT_CHECKPOINT, "the child's async START is still queued");
    expect_fail(vm, perdure_vm_op_succeed(vm, running, "1", 1), PERDURE_E_MISUSE, "finish");
    expect_fail(vm, perdure_vm_op_fail(vm, running, NULL), PERDURE_E_MISUSE, "finish");
    expect_fail(vm, perdure_vm_op_fail_decided(vm, running, NULL, 1, 5), PERDURE_E_MISUSE, "finish");
    expect_fail(vm, perdure_vm_op_succeed(vm, child, "1", 1), PERDURE_E_MISUSE, "finish");
    expect_fail(vm, perdure_vm_op_suspended(vm, child), PERDURE_E_MISUSE, "finish");
    /* Flushing what finish queued gives the output. */
    perdure_buf batch = {0};
    expect_ok(vm, perdure_vm_take_batch(vm, &batch));
    perdure_buf_free(&batch);
    static const char response[] = "{\"CheckpointToken\":\"dG9rZW4tMg==\"}";
    expect_ok(vm, perdure_vm_apply_response(vm, response, strlen(response)));
    cr_expect_eq(perdure_vm_wants_flush(vm), 0);
    perdure_buf out = {0};
    expect_ok(vm, perdure_vm_output(vm, &out));
    perdure_buf_free(&out);
    perdure_vm_free(vm);
}

Test(bad_input, finish_misuse)
{
    perdure_vm *vm = started_vm();
    perdure_next next;
    expect_fail(vm, perdure_vm_finish(vm, (perdure_outcome)7, NULL, 0, NULL, &next), PERDURE_E_MISUSE,
                "unknown outcome");
    expect_fail(vm, perdure_vm_finish(vm, PERDURE_OUTCOME_PENDING, NULL, 0, NULL, &next), PERDURE_E_MISUSE,
                "no operation is waiting on the service");
    /* Still usable: the refused calls changed nothing. */
    expect_ok(vm, perdure_vm_finish(vm, PERDURE_OUTCOME_FAILED, NULL, 0,
                                    &(perdure_error_info){.error_type = "E"}, &next));
    cr_expect_eq(next, PERDURE_NEXT_RESULT);
    perdure_vm_free(vm);
}

Test(bad_input, reports_in_the_wrong_state)
{
    perdure_vm *vm = started_vm();
    perdure_op step, wait, child;
    perdure_next next;
    expect_ok(vm, perdure_vm_step(vm, PERDURE_ROOT, "s", NULL, &step));
    expect_fail(vm, perdure_vm_op_succeed(vm, step, "1", 1), PERDURE_E_MISUSE, "not running a body");
    expect_fail(vm, perdure_vm_op_fail(vm, step, NULL), PERDURE_E_MISUSE, "not running a body");
    expect_ok(vm, perdure_vm_op_next(vm, step, &next));
    expect_fail(vm, perdure_vm_op_suspended(vm, step), PERDURE_E_MISUSE, "only a context body suspends");
    expect_fail(vm, perdure_vm_op_set_summary(vm, step, "s", 1), PERDURE_E_MISUSE, "only contexts");
    expect_fail(vm, perdure_vm_op_condition_checked(vm, step, "s", 1, 0), PERDURE_E_MISUSE,
                "not a wait_for_condition");
    expect_fail(vm, perdure_vm_batch_poll(vm, step, &(perdure_batch_poll){0}), PERDURE_E_MISUSE,
                "not a map/parallel handle");
    expect_ok(vm, perdure_vm_op_succeed(vm, step, "1", 1));
    expect_fail(vm, perdure_vm_op_succeed(vm, step, "1", 1), PERDURE_E_MISUSE, "not running a body");

    expect_ok(vm, perdure_vm_wait(vm, PERDURE_ROOT, "w", 5, &wait));
    expect_fail(vm, perdure_vm_op_succeed(vm, wait, "1", 1), PERDURE_E_MISUSE, "not running a body");
    child = running_child(vm, "c");
    expect_fail(vm, perdure_vm_op_condition_checked(vm, child, "s", 1, 0), PERDURE_E_MISUSE,
                "not a wait_for_condition");
    perdure_vm_free(vm);
}

/* ======================================================================
 * oversized payloads
 * ====================================================================== */

Test(bad_input, oversized_step_result)
{
    perdure_vm *vm = started_vm();
    perdure_op op = running_step(vm, "s");
    unsigned char *big = calloc(1, PD_MAX_STEP_RESULT + 1);
    cr_assert_not_null(big);
    expect_fail(vm, perdure_vm_op_succeed(vm, op, big, PD_MAX_STEP_RESULT + 1), PERDURE_E_TOO_LARGE,
                "step result is 262145 bytes; the limit is 262144");
    /* The body may report again, within the limit. */
    expect_ok(vm, perdure_vm_op_succeed(vm, op, big, PD_MAX_STEP_RESULT));
    free(big);
    perdure_vm_free(vm);
}

Test(bad_input, oversized_payloads)
{
    unsigned char *big = calloc(1, PD_MAX_PAYLOAD + 1);
    cr_assert_not_null(big);
    perdure_vm *vm = started_vm();
    perdure_next next;
    perdure_op op;

    perdure_op child = running_child(vm, "c");
    expect_fail(vm, perdure_vm_op_succeed(vm, child, big, PD_MAX_PAYLOAD + 1), PERDURE_E_TOO_LARGE,
                "context result is 6291457 bytes");
    expect_fail(vm, perdure_vm_op_set_summary(vm, child, big, PD_MAX_PAYLOAD + 1), PERDURE_E_TOO_LARGE,
                "summary is 6291457 bytes");
    expect_fail(vm, perdure_vm_invoke(vm, PERDURE_ROOT, "i", "fn", NULL, big, PD_MAX_PAYLOAD + 1, &op),
                PERDURE_E_TOO_LARGE, "invoke payload is 6291457 bytes");
    perdure_condition_config ccfg = {.size = sizeof ccfg, .initial_state = big,
                                     .initial_state_len = PD_MAX_PAYLOAD + 1};
    expect_fail(vm, perdure_vm_wait_for_condition(vm, PERDURE_ROOT, "c", &ccfg, &op), PERDURE_E_TOO_LARGE,
                "initial state is 6291457 bytes");
    ccfg.initial_state_len = 2;
    expect_ok(vm, perdure_vm_wait_for_condition(vm, PERDURE_ROOT, "cond", &ccfg, &op));
    expect_ok(vm, perdure_vm_op_next(vm, op, &next));
    cr_assert_eq(next, PERDURE_NEXT_EXECUTE);
    expect_fail(vm, perdure_vm_op_condition_decided(vm, op, big, PD_MAX_STEP_RESULT + 1, 1, 5), PERDURE_E_TOO_LARGE,
                "condition state is 262145 bytes");
    expect_fail(vm, perdure_vm_finish(vm, PERDURE_OUTCOME_SUCCEEDED, big, PD_MAX_PAYLOAD + 1, NULL, &next),
                PERDURE_E_TOO_LARGE, "execution result is 6291457 bytes");
    expect_ok(vm, perdure_vm_finish(vm, PERDURE_OUTCOME_SUCCEEDED, "1", 1, NULL, &next));
    perdure_vm_free(vm);
    free(big);
}

Test(bad_input, oversized_error_object)
{
    char *message = malloc(PD_MAX_ERROR_JSON + 1);
    cr_assert_not_null(message);
    memset(message, 'm', PD_MAX_ERROR_JSON);
    message[PD_MAX_ERROR_JSON] = 0;
    perdure_error_info error = {.error_type = "HugeError", .error_message = message};

    perdure_vm *vm = started_vm();
    perdure_op op = running_step(vm, "s");
    expect_fail(vm, perdure_vm_op_fail(vm, op, &error), PERDURE_E_TOO_LARGE, "error object is");
    expect_fail(vm, perdure_vm_op_fail(vm, op, &error), PERDURE_E_TOO_LARGE, "the limit is 32768");
    expect_fail(vm, perdure_vm_op_fail_decided(vm, op, &error, 1, 5), PERDURE_E_TOO_LARGE, "error object is");
    perdure_op child = running_child(vm, "c");
    expect_fail(vm, perdure_vm_op_fail(vm, child, &error), PERDURE_E_TOO_LARGE, "error object is");
    /* Within the limit the same op reports fine. */
    message[1000] = 0;
    expect_ok(vm, perdure_vm_op_fail(vm, op, &error));
    perdure_vm_free(vm);
    free(message);
}

/* Oversized text in what the service sends: TOO_LARGE naming the field. */
Test(bad_input, oversized_payload_in_input)
{
    size_t n = PD_MAX_PAYLOAD + 1;
    static const char head[] = "{\"DurableExecutionArn\":\"" ARN "\",\"CheckpointToken\":\"dG9r\","
                               "\"InitialExecutionState\":{\"Operations\":[{\"Id\":\"exec-1\",\"Type\":\"EXECUTION\","
                               "\"Status\":\"STARTED\",\"StartTimestamp\":1,\"ExecutionDetails\":{\"InputPayload\":\"";
    static const char tail[] = "\"}}]}}";
    size_t len = strlen(head) + n + strlen(tail);
    char *text = malloc(len);
    cr_assert_not_null(text);
    memcpy(text, head, strlen(head));
    memset(text + strlen(head), 'p', n);
    memcpy(text + strlen(head) + n, tail, strlen(tail));
    perdure_vm *vm = new_vm(PERDURE_WIRE_JSON, 1);
    expect_fail(vm, perdure_vm_start(vm, text, len, NOW), PERDURE_E_TOO_LARGE,
                "InitialExecutionState.Operations[0].ExecutionDetails.InputPayload: 6291457 bytes exceeds the limit");
    perdure_vm_free(vm);
    free(text);
}

/* ======================================================================
 * invalid names and durations
 * ====================================================================== */

Test(bad_input, invalid_names)
{
    char long_name[PD_MAX_NAME + 2];
    memset(long_name, 'n', PD_MAX_NAME + 1);
    long_name[PD_MAX_NAME + 1] = 0;
    static const struct {
        const char *name;
        const char *part;
    } cases[] = {
        {"", "1..256 characters, got 0"},
        {"tab\there", "outside printable ASCII at 3"},
        {"new\nline", "outside printable ASCII at 3"},
        {"caf\xc3\xa9", "outside printable ASCII at 3"},
        {"del\x7f", "outside printable ASCII at 3"},
        {"\x01", "outside printable ASCII at 0"},
    };
    perdure_vm *vm = started_vm();
    perdure_op op;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *name = cases[i].name;
        expect_fail(vm, perdure_vm_step(vm, PERDURE_ROOT, name, NULL, &op), PERDURE_E_INVALID, cases[i].part);
        expect_fail(vm, perdure_vm_wait(vm, PERDURE_ROOT, name, 5, &op), PERDURE_E_INVALID, cases[i].part);
        expect_fail(vm, perdure_vm_callback(vm, PERDURE_ROOT, name, NULL, &op), PERDURE_E_INVALID, cases[i].part);
        expect_fail(vm, perdure_vm_child(vm, PERDURE_ROOT, name, NULL, 0, &op), PERDURE_E_INVALID, cases[i].part);
        expect_fail(vm, perdure_vm_batch(vm, PERDURE_ROOT, name, PERDURE_BATCH_MAP, 1, NULL, &op), PERDURE_E_INVALID,
                    cases[i].part);
        expect_fail(vm, perdure_vm_wait_for_callback(vm, PERDURE_ROOT, name, NULL, NULL, &op), PERDURE_E_INVALID,
                    cases[i].part);
        expect_fail(vm, perdure_vm_invoke(vm, PERDURE_ROOT, name, "fn", NULL, NULL, 0, &op), PERDURE_E_INVALID,
                    cases[i].part);
        const char *names[] = {"fine", name};
        perdure_batch_config bcfg = {.size = sizeof bcfg, .max_concurrency = -1, .item_names = names};
        expect_fail(vm, perdure_vm_batch(vm, PERDURE_ROOT, "m", PERDURE_BATCH_PARALLEL, 2, &bcfg, &op),
                    PERDURE_E_INVALID, cases[i].part);
    }
    expect_fail(vm, perdure_vm_step(vm, PERDURE_ROOT, long_name, NULL, &op), PERDURE_E_INVALID,
                "1..256 characters, got 257");
    /* sub-types: 1..32 of [a-zA-Z0-9-_] */
    expect_fail(vm, perdure_vm_child(vm, PERDURE_ROOT, "c", "Bad Type", 0, &op), PERDURE_E_INVALID,
                "may hold only [a-zA-Z0-9-_]");
    expect_fail(vm, perdure_vm_child(vm, PERDURE_ROOT, "c", "", 0, &op), PERDURE_E_INVALID,
                "sub-type must be 1..32 characters, got 0");
    expect_fail(vm, perdure_vm_child(vm, PERDURE_ROOT, "c", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", 0, &op),
                PERDURE_E_INVALID, "sub-type must be 1..32 characters, got 33");
    /* invoke: function name and tenant id 1..256 */
    expect_fail(vm, perdure_vm_invoke(vm, PERDURE_ROOT, "i", "", NULL, NULL, 0, &op), PERDURE_E_INVALID,
                "function name must be 1..256 characters");
    expect_fail(vm, perdure_vm_invoke(vm, PERDURE_ROOT, "i", long_name, NULL, NULL, 0, &op), PERDURE_E_INVALID,
                "function name must be 1..256 characters");
    expect_fail(vm, perdure_vm_invoke(vm, PERDURE_ROOT, "i", "fn", "", NULL, 0, &op), PERDURE_E_INVALID,
                "tenant id must be 1..256 characters");

    /* None of the refused declarations used up a position: the next
     * operation is still #1, and names at the limits are accepted. */
    long_name[PD_MAX_NAME] = 0;
    expect_ok(vm, perdure_vm_step(vm, PERDURE_ROOT, long_name, NULL, &op));
    cr_expect_str_eq(perdure_vm_op_id(vm, op), ID_1);
    expect_ok(vm, perdure_vm_step(vm, PERDURE_ROOT, " ~", NULL, &op));
    expect_ok(vm, perdure_vm_step(vm, PERDURE_ROOT, NULL, NULL, &op));
    perdure_vm_free(vm);
}

Test(bad_input, invalid_durations)
{
    perdure_vm *vm = started_vm();
    perdure_op op;
    perdure_next next;
    const long long bad[] = {0, -1, -31622400, PD_MAX_DURATION + 1, LLONG_MAX, LLONG_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char part[96];
        snprintf(part, sizeof part, "wait duration must be 1..31622400 seconds, got %lld", bad[i]);
        expect_fail(vm, perdure_vm_wait(vm, PERDURE_ROOT, "w", bad[i], &op), PERDURE_E_INVALID, part);
        if (bad[i] == 0)
            continue;   /* 0 means "none" for callback timeouts */
        perdure_callback_config cfg = {.size = sizeof cfg, .timeout_seconds = bad[i]};
        expect_fail(vm, perdure_vm_callback(vm, PERDURE_ROOT, "c", &cfg, &op), PERDURE_E_INVALID,
                    "callback timeout must be 0..31622400 seconds");
        cfg = (perdure_callback_config){.size = sizeof cfg, .heartbeat_timeout_seconds = bad[i]};
        expect_fail(vm, perdure_vm_wait_for_callback(vm, PERDURE_ROOT, "c", &cfg, NULL, &op), PERDURE_E_INVALID,
                    "callback heartbeat timeout must be 0..31622400 seconds");
    }
    perdure_op step = running_step(vm, "s");
    expect_fail(vm, perdure_vm_op_fail_decided(vm, step, NULL, 1, 0), PERDURE_E_INVALID,
                "retry delay must be 1..31622400 seconds, got 0");
    expect_fail(vm, perdure_vm_op_fail_decided(vm, step, NULL, 1, PD_MAX_DURATION + 1), PERDURE_E_INVALID,
                "retry delay must be 1..31622400 seconds, got 31622401");
    perdure_condition_config ccfg = {.size = sizeof ccfg};
    perdure_op cond;
    expect_ok(vm, perdure_vm_wait_for_condition(vm, PERDURE_ROOT, "cond", &ccfg, &cond));
    expect_ok(vm, perdure_vm_op_next(vm, cond, &next));
    expect_fail(vm, perdure_vm_op_condition_decided(vm, cond, "s", 1, 1, 0), PERDURE_E_INVALID,
                "condition delay must be 1..31622400 seconds, got 0");
    expect_fail(vm, perdure_vm_op_condition_checked(vm, cond, "s", 1, 1), PERDURE_E_MISUSE,
                "no wait strategy was configured");
    /* The limits themselves are accepted. */
    expect_ok(vm, perdure_vm_wait(vm, PERDURE_ROOT, "w", 1, &op));
    expect_ok(vm, perdure_vm_wait(vm, PERDURE_ROOT, "w", PD_MAX_DURATION, &op));
    expect_ok(vm, perdure_vm_op_fail_decided(vm, step, NULL, 1, PD_MAX_DURATION));
    perdure_vm_free(vm);
}

Test(bad_input, invalid_strategy_values)
{
    perdure_vm *vm = started_vm();
    perdure_op op;
    perdure_retry_config retry = {.size = sizeof retry};
    perdure_retry_config_preset(&retry, PERDURE_RETRY_DEFAULT);
    perdure_step_config cfg = {.size = sizeof cfg, .retry = &retry};
    retry.max_attempts = 0;
    expect_fail(vm, perdure_vm_step(vm, PERDURE_ROOT, "s", &cfg, &op), PERDURE_E_INVALID,
                "max_attempts must be at least 1");
    retry.max_attempts = 3;
    retry.max_delay_seconds = 0.0 / 0.0;
    expect_fail(vm, perdure_vm_step(vm, PERDURE_ROOT, "s", &cfg, &op), PERDURE_E_INVALID,
                "max_delay_seconds must be finite");
    retry.max_delay_seconds = 60;
    retry.jitter = (perdure_jitter)9;
    expect_fail(vm, perdure_vm_step(vm, PERDURE_ROOT, "s", &cfg, &op), PERDURE_E_INVALID, "unknown jitter 9");
    retry.jitter = PERDURE_JITTER_NONE;
    cfg.semantics = (perdure_step_semantics)5;
    expect_fail(vm, perdure_vm_step(vm, PERDURE_ROOT, "s", &cfg, &op), PERDURE_E_INVALID, "unknown step semantics 5");
    cfg.semantics = PERDURE_AT_MOST_ONCE_PER_RETRY;
    const char *patterns[] = {"(unclosed"};
    const unsigned char is_regex[] = {1};
    retry.retryable_errors = patterns;
    retry.retryable_errors_is_regex = is_regex;
    retry.retryable_errors_len = 1;
    expect_fail(vm, perdure_vm_step(vm, PERDURE_ROOT, "s", &cfg, &op), PERDURE_E_INVALID, "is not a valid regex");

    perdure_batch_config bcfg = {.size = sizeof bcfg, .max_concurrency = 0};
    expect_fail(vm, perdure_vm_batch(vm, PERDURE_ROOT, "m", PERDURE_BATCH_MAP, 3, &bcfg, &op), PERDURE_E_INVALID,
                "max_concurrency must be at least 1 (or unset), got 0");
    bcfg.max_concurrency = -7;
    expect_fail(vm, perdure_vm_batch(vm, PERDURE_ROOT, "m", PERDURE_BATCH_MAP, 3, &bcfg, &op), PERDURE_E_INVALID,
                "got -7");
    bcfg.max_concurrency = 2;
    bcfg.nesting = (perdure_nesting)4;
    expect_fail(vm, perdure_vm_batch(vm, PERDURE_ROOT, "m", PERDURE_BATCH_MAP, 3, &bcfg, &op), PERDURE_E_INVALID,
                "unknown nesting type 4");
    bcfg.nesting = PERDURE_NESTING_NESTED;
    perdure_completion_config ccfg;
    perdure_completion_config_init(&ccfg);
    ccfg.min_successful = 4;
    bcfg.completion = &ccfg;
    expect_fail(vm, perdure_vm_batch(vm, PERDURE_ROOT, "m", PERDURE_BATCH_MAP, 3, &bcfg, &op), PERDURE_E_INVALID,
                "min_successful cannot be greater than total items: 4 > 3");
    ccfg.min_successful = -1;
    ccfg.tolerated_failure_percentage = 101;
    expect_fail(vm, perdure_vm_batch(vm, PERDURE_ROOT, "m", PERDURE_BATCH_MAP, 3, &bcfg, &op), PERDURE_E_INVALID,
                "tolerated_failure_percentage must be between 0 and 100");
    expect_fail(vm, perdure_vm_batch(vm, PERDURE_ROOT, "m", (perdure_batch_kind)3, 3, NULL, &op), PERDURE_E_INVALID,
                "unknown batch kind 3");
    perdure_wait_config wcfg;
    perdure_wait_config_init(&wcfg);
    wcfg.backoff_rate = 0;
    perdure_condition_config cond = {.size = sizeof cond, .wait = &wcfg};
    expect_fail(vm, perdure_vm_wait_for_condition(vm, PERDURE_ROOT, "c", &cond, &op), PERDURE_E_INVALID,
                "backoff_rate must be finite and > 0");

    /* Bad configs use up no position either. */
    expect_ok(vm, perdure_vm_step(vm, PERDURE_ROOT, "s", NULL, &op));
    cr_expect_str_eq(perdure_vm_op_id(vm, op), ID_1);
    perdure_vm_free(vm);
}

/* ======================================================================
 * options structs whose size field is not set
 * ====================================================================== */

Test(bad_input, options_with_size_zero)
{
    perdure_vm *vm = NULL;
    perdure_vm_options vopts = {0};
    expect_status(perdure_vm_options_init(&vopts), PERDURE_E_MISUSE);
    expect_status(perdure_vm_new(&vopts, &vm), PERDURE_E_MISUSE);
    cr_expect_null(vm);
    vopts.size = sizeof(unsigned int);
    expect_status(perdure_vm_new(&vopts, &vm), PERDURE_E_MISUSE);
    cr_expect_null(vm);
    /* out-of-range enum values in a sized struct */
    perdure_vm_options_init(&(perdure_vm_options){.size = sizeof vopts});
    vopts = (perdure_vm_options){.size = sizeof vopts, .wire = (perdure_wire)5};
    expect_status(perdure_vm_new(&vopts, &vm), PERDURE_E_INVALID);
    vopts = (perdure_vm_options){.size = sizeof vopts, .id_scheme = (perdure_id_scheme)5};
    expect_status(perdure_vm_new(&vopts, &vm), PERDURE_E_INVALID);
    cr_expect_null(vm);

    vm = started_vm();
    perdure_op op;
    perdure_step_config scfg = {0};
    expect_fail(vm, perdure_vm_step(vm, PERDURE_ROOT, "s", &scfg, &op), PERDURE_E_MISUSE,
                "perdure_step_config: size field not set");
    perdure_retry_config rcfg = {0};
    scfg = (perdure_step_config){.size = sizeof scfg, .retry = &rcfg};
    expect_fail(vm, perdure_vm_step(vm, PERDURE_ROOT, "s", &scfg, &op), PERDURE_E_MISUSE,
                "perdure_retry_config: size field not set");
    perdure_callback_config cbcfg = {0};
    expect_fail(vm, perdure_vm_callback(vm, PERDURE_ROOT, "c", &cbcfg, &op), PERDURE_E_MISUSE,
                "perdure_callback_config: size field not set");
    expect_fail(vm, perdure_vm_wait_for_callback(vm, PERDURE_ROOT, "c", &cbcfg, NULL, &op), PERDURE_E_MISUSE,
                "perdure_callback_config: size field not set");
    scfg = (perdure_step_config){0};
    expect_fail(vm, perdure_vm_wait_for_callback(vm, PERDURE_ROOT, "c", NULL, &scfg, &op), PERDURE_E_MISUSE,
                "perdure_step_config: size field not set");
    perdure_batch_config bcfg = {0};
    expect_fail(vm, perdure_vm_batch(vm, PERDURE_ROOT, "m", PERDURE_BATCH_MAP, 2, &bcfg, &op), PERDURE_E_MISUSE,
                "perdure_batch_config: size field not set");
    perdure_completion_config ccfg = {0};
    bcfg = (perdure_batch_config){.size = sizeof bcfg, .max_concurrency = -1, .completion = &ccfg};
    expect_fail(vm, perdure_vm_batch(vm, PERDURE_ROOT, "m", PERDURE_BATCH_MAP, 2, &bcfg, &op), PERDURE_E_MISUSE,
                "perdure_completion_config: size field not set");
    perdure_condition_config cond = {0};
    expect_fail(vm, perdure_vm_wait_for_condition(vm, PERDURE_ROOT, "c", &cond, &op), PERDURE_E_MISUSE,
                "size field not set");
    perdure_wait_config wcfg = {0};
    cond = (perdure_condition_config){.size = sizeof cond, .wait = &wcfg};
    expect_fail(vm, perdure_vm_wait_for_condition(vm, PERDURE_ROOT, "c", &cond, &op), PERDURE_E_MISUSE,
                "perdure_wait_config: size field not set");
    /* None of them used up a position. */
    expect_ok(vm, perdure_vm_step(vm, PERDURE_ROOT, "s", NULL, &op));
    cr_expect_str_eq(perdure_vm_op_id(vm, op), ID_1);
    perdure_vm_free(vm);

    /* The pure strategy functions call a size they cannot read invalid. */
    perdure_retry_decision d;
    perdure_error_info e = {0};
    perdure_completion_reason reason;
    rcfg = (perdure_retry_config){0};
    expect_status(perdure_retry_config_preset(&rcfg, PERDURE_RETRY_DEFAULT), PERDURE_E_INVALID);
    expect_status(perdure_retry_decide(&rcfg, 1, &e, 0.5, &d), PERDURE_E_INVALID);
    wcfg = (perdure_wait_config){0};
    expect_status(perdure_wait_decide(&wcfg, 1, 0.5, &d), PERDURE_E_INVALID);
    ccfg = (perdure_completion_config){0};
    expect_status(perdure_completion_check(&ccfg, 2, 0, 0, &reason), PERDURE_E_INVALID);
}

/* ======================================================================
 * checkpoint responses
 * ====================================================================== */

static const char good_response[] = "{\"CheckpointToken\":\"dG9rZW4tMg==\",\"NewExecutionState\":{\"Operations\":[]}}";

/* A VM with one step's SUCCEED in flight. */
static perdure_vm *vm_with_batch_in_flight(perdure_op *step)
{
    perdure_vm *vm = started_vm();
    *step = running_step(vm, "s");
    expect_ok(vm, perdure_vm_op_succeed(vm, *step, "42", 2));
    perdure_buf batch = {0};
    expect_ok(vm, perdure_vm_take_batch(vm, &batch));
    cr_assert_gt(batch.len, 0);
    perdure_buf_free(&batch);
    return vm;
}

Test(bad_input, garbage_checkpoint_response_keeps_batch_in_flight)
{
    static const struct {
        const char *text;
        perdure_status status;
        const char *part;
    } cases[] = {
        {"", PERDURE_E_DECODE, "invalid JSON"},
        {"<html>502 Bad Gateway</html>", PERDURE_E_DECODE, "invalid JSON"},
        {"{\"CheckpointToken\":", PERDURE_E_DECODE, "invalid JSON"},
        {"[]", PERDURE_E_DECODE, "expected a JSON object, got an array"},
        {"{\"CheckpointToken\":5}", PERDURE_E_DECODE, "CheckpointToken: expected a string, got an integer"},
        {"{\"CheckpointToken\":\"t\",\"NewExecutionState\":{\"Operations\":{}}}", PERDURE_E_DECODE,
         "NewExecutionState.Operations: expected an array, got an object"},
        {"{\"CheckpointToken\":\"t\",\"NewExecutionState\":{\"Operations\":[{\"Id\":\"" ID_1 "\",\"Type\":\"STEP\","
         "\"Status\":\"FINE\",\"StartTimestamp\":1.5}]}}",
         PERDURE_E_DECODE, "NewExecutionState.Operations[0].Status: unknown status \"FINE\""},
    };
    perdure_op step;
    perdure_vm *vm = vm_with_batch_in_flight(&step);
    perdure_next next;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char *copy = exact_copy(cases[i].text, strlen(cases[i].text));
        expect_fail(vm, perdure_vm_apply_response(vm, copy, strlen(cases[i].text)), cases[i].status, cases[i].part);
        free(copy);
        /* Still in flight: no new batch, the step still waits, the token is unchanged. */
        perdure_buf again = {0};
        expect_fail(vm, perdure_vm_take_batch(vm, &again), PERDURE_E_MISUSE, "has not been answered");
        cr_expect_null(again.data);
        expect_ok(vm, perdure_vm_op_next(vm, step, &next));
        cr_expect_eq(next, PERDURE_NEXT_CHECKPOINT);
        cr_expect_str_eq(perdure_vm_checkpoint_token(vm), "dG9rZW4tMQ==");
    }
    expect_fail(vm, perdure_vm_apply_response(vm, NULL, 0), PERDURE_E_DECODE, "invalid JSON");
    /* The batch can be answered again, properly. */
    expect_ok(vm, perdure_vm_apply_response(vm, good_response, strlen(good_response)));
    cr_expect_str_eq(perdure_vm_checkpoint_token(vm), "dG9rZW4tMg==");
    expect_ok(vm, perdure_vm_op_next(vm, step, &next));
    cr_expect_eq(next, PERDURE_NEXT_RESULT);
    const unsigned char *data;
    unsigned long long len;
    expect_ok(vm, perdure_vm_op_result(vm, step, &data, &len));
    cr_expect(len == 2 && memcmp(data, "42", 2) == 0);
    expect_fail(vm, perdure_vm_apply_response(vm, good_response, strlen(good_response)), PERDURE_E_MISUSE,
                "no batch is in flight");
    perdure_vm_free(vm);
}

/* NULL with a length is a caller's bug, not the service's: MISUSE, as
 * perdure_vm_start says for its input. */
Test(bad_input, null_checkpoint_response_with_length)
{
    perdure_op step;
    perdure_vm *vm = vm_with_batch_in_flight(&step);
    expect_fail(vm, perdure_vm_apply_response(vm, NULL, 10), PERDURE_E_MISUSE, "NULL");
    expect_ok(vm, perdure_vm_apply_response(vm, good_response, strlen(good_response)));
    perdure_vm_free(vm);
}

Test(bad_input, null_state_page_with_length)
{
    static const char paged[] =
        "{\"DurableExecutionArn\":\"" ARN "\",\"CheckpointToken\":\"dG9r\",\"InitialExecutionState\":"
        "{\"Operations\":[],\"NextMarker\":\"page-2\"}}";
    perdure_vm *vm = new_vm(PERDURE_WIRE_JSON, 1);
    expect_ok(vm, perdure_vm_start(vm, paged, strlen(paged), NOW));
    cr_assert_not_null(perdure_vm_state_marker(vm));
    cr_expect_str_eq(perdure_vm_state_marker(vm), "page-2");
    expect_fail(vm, perdure_vm_add_state(vm, NULL, 10), PERDURE_E_MISUSE, "NULL");
    expect_fail(vm, perdure_vm_add_state(vm, "{\"Operations\":5}", 16), PERDURE_E_DECODE,
                "Operations: expected an array, got an integer");
    expect_fail(vm, perdure_vm_add_state(vm, "nope", 4), PERDURE_E_DECODE, "invalid JSON");
    cr_expect_str_eq(perdure_vm_state_marker(vm), "page-2", "a refused page changes nothing");
    static const char last[] = "{\"Operations\":[{\"Id\":\"exec-1\",\"Type\":\"EXECUTION\",\"Status\":\"STARTED\","
                               "\"StartTimestamp\":1767225600.0,\"ExecutionDetails\":{\"InputPayload\":\"{}\"}}]}";
    expect_ok(vm, perdure_vm_add_state(vm, last, strlen(last)));
    cr_expect_null(perdure_vm_state_marker(vm));
    expect_fail(vm, perdure_vm_add_state(vm, last, strlen(last)), PERDURE_E_MISUSE, "no state page is expected");
    perdure_vm_free(vm);
}

Test(bad_input, checkpoint_response_random_corruption)
{
    const char valid[] = "{\"CheckpointToken\":\"dG9rZW4tMg==\",\"NewExecutionState\":{\"Operations\":[{\"Id\":\"" ID_1
                         "\",\"Name\":\"s\",\"Type\":\"STEP\",\"SubType\":\"Step\",\"Status\":\"SUCCEEDED\","
                         "\"StartTimestamp\":1767225600.5,\"StepDetails\":{\"Attempt\":1,\"Result\":\"42\"}}]}}";
    size_t len = strlen(valid);
    uint64_t seed = 77;
    for (int iter = 0; iter < 500; iter++) {
        perdure_op step;
        perdure_vm *vm = vm_with_batch_in_flight(&step);
        unsigned char *copy = exact_copy(valid, len);
        copy[rng_next(&seed) % len] ^= (unsigned char)(1 + rng_next(&seed) % 255);
        perdure_status st = perdure_vm_apply_response(vm, copy, len);
        free(copy);
        cr_expect(st == PERDURE_OK || st == PERDURE_E_DECODE, "iteration %d: %s (%s)", iter, perdure_status_name(st),
                  perdure_vm_errmsg(vm));
        if (st) {
            cr_expect_neq(strlen(perdure_vm_errmsg(vm)), 0);
            expect_ok(vm, perdure_vm_apply_response(vm, valid, len));
        }
        perdure_next next;
        st = perdure_vm_op_next(vm, step, &next);
        cr_expect(st == PERDURE_OK, "iteration %d: %s", iter, perdure_vm_errmsg(vm));
        perdure_vm_free(vm);
    }
}

Test(bad_input, apply_response_without_batch_in_flight)
{
    perdure_vm *vm = started_vm();
    expect_fail(vm, perdure_vm_apply_response(vm, good_response, strlen(good_response)), PERDURE_E_MISUSE,
                "no batch is in flight");
    /* Queued but not taken is not in flight either. */
    perdure_op step = running_step(vm, "s");
    expect_ok(vm, perdure_vm_op_succeed(vm, step, "1", 1));
    expect_fail(vm, perdure_vm_apply_response(vm, good_response, strlen(good_response)), PERDURE_E_MISUSE,
                "no batch is in flight");
    cr_expect(perdure_vm_wants_flush(vm));
    perdure_vm_free(vm);
}

Test(bad_input, msgpack_garbage_checkpoint_response)
{
    perdure_vm *vm = new_vm(PERDURE_WIRE_MSGPACK, 3);
    pd_buf inv = valid_mp_invocation(0);
    expect_ok(vm, perdure_vm_start(vm, inv.data, inv.len, NOW));
    pd_buf_free(&inv);
    perdure_op step;
    perdure_next next;
    expect_ok(vm, perdure_vm_step(vm, PERDURE_ROOT, "one", NULL, &step));
    expect_ok(vm, perdure_vm_op_next(vm, step, &next));
    cr_expect_eq(next, PERDURE_NEXT_RESULT, "replayed from the record");
    perdure_op fresh = running_step(vm, "two");
    expect_ok(vm, perdure_vm_op_succeed(vm, fresh, "2", 1));
    perdure_buf batch = {0};
    expect_ok(vm, perdure_vm_take_batch(vm, &batch));
    perdure_buf_free(&batch);
    expect_fail(vm, perdure_vm_apply_response(vm, "\xc1", 1), PERDURE_E_DECODE, "invalid msgpack byte 0xc1");
    expect_fail(vm, perdure_vm_apply_response(vm, "", 0), PERDURE_E_DECODE, "truncated input");
    expect_fail(vm, perdure_vm_apply_response(vm, "\x81", 1), PERDURE_E_DECODE, "truncated input");
    expect_fail(vm, perdure_vm_apply_response(vm, NULL, 10), PERDURE_E_MISUSE, "NULL");
    pd_checkpoint_response r = {0};
    set(&r.token, "dG9rZW4tMg==");
    pd_buf good;
    pd_buf_init(&good);
    pd_err err = {0};
    cr_assert_eq(pd_mp_encode_checkpoint_response(&r, 0, &good, &err), PERDURE_OK, "%s", err.msg);
    pd_checkpoint_response_free(&r);
    expect_ok(vm, perdure_vm_apply_response(vm, good.data, good.len));
    pd_buf_free(&good);
    expect_ok(vm, perdure_vm_op_next(vm, fresh, &next));
    cr_expect_eq(next, PERDURE_NEXT_RESULT);
    perdure_vm_free(vm);
}

/* ======================================================================
 * a poisoned VM repeats its error
 * ====================================================================== */

Test(bad_input, poisoned_vm_repeats_its_error)
{
    static const char input[] =
        "{\"DurableExecutionArn\":\"" ARN "\",\"CheckpointToken\":\"dG9r\",\"InitialExecutionState\":{\"Operations\":["
        "{\"Id\":\"exec-1\",\"Type\":\"EXECUTION\",\"Status\":\"STARTED\",\"StartTimestamp\":1},"
        "{\"Id\":\"" ID_1 "\",\"Name\":\"recorded\",\"Type\":\"STEP\",\"SubType\":\"Step\",\"Status\":\"SUCCEEDED\","
        "\"StartTimestamp\":2,\"StepDetails\":{\"Attempt\":1,\"Result\":\"1\"}}]}}";
    perdure_vm *vm = new_vm(PERDURE_WIRE_JSON, 1);
    expect_ok(vm, perdure_vm_start(vm, input, strlen(input), NOW));
    perdure_op op;
    expect_fail(vm, perdure_vm_step(vm, PERDURE_ROOT, "declared", NULL, &op), PERDURE_E_NONDETERMINISM,
                "non-deterministic replay");
    char message[512];
    snprintf(message, sizeof message, "%s", perdure_vm_errmsg(vm));
    cr_expect(strstr(message, "\"recorded\"") && strstr(message, "\"declared\""), "%s", message);
    perdure_nondeterminism nd;
    expect_ok(vm, perdure_vm_nondeterminism(vm, &nd));
    cr_expect_str_eq(nd.expected_name, "recorded");
    cr_expect_str_eq(nd.actual_name, "declared");
    cr_expect_str_eq(nd.operation_id, ID_1);
    cr_expect_eq(nd.position, 1);

    perdure_next next;
    perdure_buf buf = {0};
    expect_fail(vm, perdure_vm_step(vm, PERDURE_ROOT, "recorded", NULL, &op), PERDURE_E_NONDETERMINISM, message);
    expect_fail(vm, perdure_vm_wait(vm, PERDURE_ROOT, "w", 5, &op), PERDURE_E_NONDETERMINISM, message);
    expect_fail(vm, perdure_vm_wait(vm, PERDURE_ROOT, "w", 0, &op), PERDURE_E_NONDETERMINISM, message);
    expect_fail(vm, perdure_vm_op_next(vm, 12345, &next), PERDURE_E_NONDETERMINISM, message);
    expect_fail(vm, perdure_vm_take_batch(vm, &buf), PERDURE_E_NONDETERMINISM, message);
    expect_fail(vm, perdure_vm_apply_response(vm, "{}", 2), PERDURE_E_NONDETERMINISM, message);
    expect_fail(vm, perdure_vm_set_now(vm, NOW), PERDURE_E_NONDETERMINISM, message);
    expect_fail(vm, perdure_vm_finish(vm, PERDURE_OUTCOME_SUCCEEDED, "1", 1, NULL, &next), PERDURE_E_NONDETERMINISM,
                message);
    expect_fail(vm, perdure_vm_output(vm, &buf), PERDURE_E_NONDETERMINISM, message);
    cr_expect_eq(perdure_vm_wants_flush(vm), 0);
    cr_expect_null(buf.data);
    perdure_vm_free(vm);
}

/* A response that acknowledges a callback START without a CallbackId. */
Test(bad_input, protocol_error_poisons)
{
    perdure_vm *vm = started_vm();
    perdure_op cb;
    perdure_next next;
    expect_ok(vm, perdure_vm_callback(vm, PERDURE_ROOT, "cb", NULL, &cb));
    expect_ok(vm, perdure_vm_op_next(vm, cb, &next));
    cr_assert_eq(next, PERDURE_NEXT_CHECKPOINT);
    perdure_buf batch = {0};
    expect_ok(vm, perdure_vm_take_batch(vm, &batch));
    perdure_buf_free(&batch);
    expect_ok(vm, perdure_vm_apply_response(vm, good_response, strlen(good_response)));
    expect_fail(vm, perdure_vm_op_next(vm, cb, &next), PERDURE_E_PROTOCOL, "has no CallbackId");
    expect_fail(vm, perdure_vm_op_next(vm, cb, &next), PERDURE_E_PROTOCOL, "has no CallbackId");
    perdure_op op;
    expect_fail(vm, perdure_vm_step(vm, PERDURE_ROOT, "s", NULL, &op), PERDURE_E_PROTOCOL, "has no CallbackId");
    expect_status(perdure_vm_nondeterminism(vm, &(perdure_nondeterminism){0}), PERDURE_E_MISUSE);
    perdure_vm_free(vm);
}

/* perdure_vm_step_next (core/sdk_fast.c): the same answers as perdure_vm_step,
 * perdure_vm_op_next and perdure_vm_op_result called one after another, and
 * the plain JSON of the Python SDK's envelopes, or none where the binding must
 * decode the envelope itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "internal.h"

#define ARN "arn:aws:lambda:us-east-1:123456789012:function:fn:$LATEST/durable-execution/name/exec-1"
#define T0_MS 1767225600000LL

/* A VM started on an execution whose root steps 1..n are SUCCEEDED steps
 * named "s" with these results (NULL: no Result). */
static perdure_vm *start(const char *const *results, size_t n)
{
    perdure_vm_options o = {.size = sizeof o};
    cr_assert_eq(perdure_vm_options_init(&o), PERDURE_OK);
    o.wire = PERDURE_WIRE_JSON;
    o.random_seed = 42;
    perdure_vm *vm = NULL;
    cr_assert_eq(perdure_vm_new(&o, &vm), PERDURE_OK);
    json_t *ops = json_array();
    json_array_append_new(ops, json_pack("{s:s,s:s,s:s,s:I,s:{s:s}}", "Id", "exec-1", "Type", "EXECUTION", "Status",
                                         "STARTED", "StartTimestamp", (json_int_t)T0_MS, "ExecutionDetails",
                                         "InputPayload", "{}"));
    for (size_t i = 0; i < n; i++) {
        char raw[32], id[PD_MAX_ID + 1];
        snprintf(raw, sizeof raw, "%zu", i + 1);
        cr_assert_eq(perdure_id_hash(PERDURE_IDS_BLAKE2B, raw, id, sizeof id), PERDURE_OK);
        json_t *details = json_pack("{s:i}", "Attempt", 1);
        if (results[i])
            json_object_set_new(details, "Result", json_string(results[i]));
        json_array_append_new(ops, json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:o}", "Id", id, "Type", "STEP", "SubType",
                                             "Step", "Name", "s", "Status", "SUCCEEDED", "StartTimestamp",
                                             (json_int_t)T0_MS + 100, "StepDetails", details));
    }
    json_t *input = json_pack("{s:s,s:s,s:{s:o}}", "DurableExecutionArn", ARN, "CheckpointToken", "t0",
                              "InitialExecutionState", "Operations", ops);
    char *text = json_dumps(input, JSON_COMPACT);
    json_decref(input);
    cr_assert_eq(perdure_vm_start(vm, text, strlen(text), T0_MS + 5000), PERDURE_OK, "%s", perdure_vm_errmsg(vm));
    free(text);
    return vm;
}

static perdure_step_next_io io_with(unsigned char *plain, unsigned long long cap)
{
    perdure_step_next_io io = {.size = sizeof io, .plain = plain, .plain_cap = cap};
    return io;
}

/* The plain form of a step's recorded result ("" when it is not rewritten). */
static char *plain_of(const char *result)
{
    perdure_vm *vm = start(&result, 1);
    static unsigned char buf[4096];
    static char text[4096];
    perdure_step_next_io io = io_with(buf, sizeof buf);
    cr_assert_eq(perdure_vm_step_next(vm, PERDURE_ROOT, "s", NULL, &io), PERDURE_OK, "%s", perdure_vm_errmsg(vm));
    cr_assert_eq(io.next, PERDURE_NEXT_RESULT);
    cr_assert_eq(io.result_len, strlen(result));
    cr_assert_eq(memcmp(io.result, result, io.result_len), 0, "the recorded result is handed back as it is");
    cr_assert_leq(io.plain_len, io.result_len);
    memcpy(text, buf, io.plain_len);
    text[io.plain_len] = '\0';
    perdure_vm_free(vm);
    return text;
}

Test(step_next, same_answers_as_the_three_calls)
{
    const char *results[] = {"\"ok\"", NULL, "{\"t\":\"i\",\"v\":7}"};
    perdure_vm *a = start(results, 3), *b = start(results, 3);
    unsigned char buf[64];
    for (int i = 0; i < 3; i++) {
        perdure_step_next_io io = io_with(buf, sizeof buf);
        cr_assert_eq(perdure_vm_step_next(a, PERDURE_ROOT, "s", NULL, &io), PERDURE_OK);
        perdure_op op;
        perdure_next next;
        const unsigned char *data;
        unsigned long long len;
        cr_assert_eq(perdure_vm_step(b, PERDURE_ROOT, "s", NULL, &op), PERDURE_OK);
        cr_assert_eq(perdure_vm_op_next(b, op, &next), PERDURE_OK);
        cr_assert_eq(perdure_vm_op_result(b, op, &data, &len), PERDURE_OK);
        cr_expect_str_eq(perdure_vm_op_id(a, io.op), perdure_vm_op_id(b, op), "the same step");
        cr_expect_eq(io.next, next);
        cr_expect_eq(io.result_len, len);
        cr_expect_eq(io.result == NULL, data == NULL);
        if (data)
            cr_expect_eq(memcmp(io.result, data, len), 0);
    }
    /* a new step: EXECUTE, no result */
    perdure_step_next_io io = io_with(buf, sizeof buf);
    cr_assert_eq(perdure_vm_step_next(a, PERDURE_ROOT, "s", NULL, &io), PERDURE_OK);
    cr_expect_eq(io.next, PERDURE_NEXT_EXECUTE);
    cr_expect_null(io.result);
    cr_expect_eq(io.plain_len, 0);
    cr_expect_eq(perdure_vm_op_succeed(a, io.op, "1", 1), PERDURE_OK, "the op handed back is the step's");
    perdure_vm_free(a);
    perdure_vm_free(b);
}

Test(step_next, errors_are_the_declarations)
{
    const char *results[] = {"1"};
    perdure_vm *vm = start(results, 1);
    perdure_step_next_io io = io_with(NULL, 0);
    io.size = 4;
    cr_expect_eq(perdure_vm_step_next(vm, PERDURE_ROOT, "s", NULL, &io), PERDURE_E_MISUSE, "size too small");
    cr_expect_eq(perdure_vm_step_next(vm, PERDURE_ROOT, "s", NULL, NULL), PERDURE_E_MISUSE);
    io = io_with(NULL, 0);
    io.op = 12345;
    cr_expect_eq(perdure_vm_step_next(vm, PERDURE_ROOT, "other", NULL, &io), PERDURE_E_NONDETERMINISM);
    cr_expect_eq(io.op, 12345, "untouched on a failed declaration");
    cr_expect_eq(perdure_vm_step_next(vm, PERDURE_ROOT, "s", NULL, &io), PERDURE_E_NONDETERMINISM, "poisoned");
    perdure_vm_free(vm);
    cr_expect_eq(perdure_vm_step_next(NULL, PERDURE_ROOT, "s", NULL, &io), PERDURE_E_MISUSE);
}

Test(step_next, no_plain_buffer_or_too_small)
{
    const char *results[] = {"{\"t\":\"i\",\"v\":7}", "{\"t\":\"i\",\"v\":7}"};
    perdure_vm *vm = start(results, 2);
    perdure_step_next_io io = io_with(NULL, 1000);
    cr_assert_eq(perdure_vm_step_next(vm, PERDURE_ROOT, "s", NULL, &io), PERDURE_OK);
    cr_expect_eq(io.plain_len, 0);
    unsigned char small[4];
    io = io_with(small, sizeof small);
    cr_assert_eq(perdure_vm_step_next(vm, PERDURE_ROOT, "s", NULL, &io), PERDURE_OK);
    cr_expect_eq(io.plain_len, 0, "a result longer than the buffer is not rewritten");
    cr_expect_eq(io.result_len, strlen(results[1]));
    perdure_vm_free(vm);
}

Test(step_next, plain_json_of_envelopes)
{
    static const struct {
        const char *envelope, *plain;
    } cases[] = {
        {"{\"t\":\"n\",\"v\":null}", "null"},
        {"{\"t\":\"b\",\"v\":true}", "true"},
        {"{\"t\":\"b\",\"v\":false}", "false"},
        {"{\"t\":\"i\",\"v\":-12}", "-12"},
        {"{\"t\":\"i\",\"v\":123456789012345678901234567890}", "123456789012345678901234567890"},
        {"{\"t\":\"f\",\"v\":1.5}", "1.5"},
        {"{\"t\":\"f\",\"v\":-2e-3}", "-2e-3"},
        {"{\"t\":\"f\",\"v\":1E+400}", "1E+400"},
        {"{\"t\":\"s\",\"v\":\"a\\\"b\\\\\\u00e9\"}", "\"a\\\"b\\\\\\u00e9\""},
        {"{\"t\":\"s\",\"v\":\"\xc3\xa9t\xc3\xa9\"}", "\"\xc3\xa9t\xc3\xa9\""},
        {"{\"t\":\"m\",\"v\":{}}", "{}"},
        {"{\"t\":\"l\",\"v\":[]}", "[]"},
        {"{\"t\":\"m\",\"v\":{\"id\":{\"t\":\"i\",\"v\":1},\"t\":{\"t\":\"s\",\"v\":\"x\"},\"v\":{\"t\":\"l\",\"v\":"
         "[{\"t\":\"n\",\"v\":null},{\"t\":\"m\",\"v\":{\"\":{\"t\":\"f\",\"v\":0.0}}}]}}}",
         "{\"id\":1,\"t\":\"x\",\"v\":[null,{\"\":0.0}]}"},
        /* not rewritten: the binding's decoder gives these their meaning or error */
        {"\"plain\"", ""},
        {"[1,2]", ""},
        {"{\"t\":\"t\",\"v\":[]}", ""},                    /* tuple */
        {"{\"t\":\"B\",\"v\":\"AA==\"}", ""},              /* bytes */
        {"{\"t\":\"dt\",\"v\":\"2020-01-01T00:00:00\"}", ""},
        {"{\"t\":\"f\",\"v\":1}", ""},                     /* would parse as int */
        {"{\"t\":\"i\",\"v\":1.0}", ""},                   /* int(1.0) */
        {"{\"t\":\"i\",\"v\":true}", ""},
        {"{\"t\":\"s\",\"v\":5}", ""},                     /* str(5) */
        {"{\"t\":\"n\",\"v\":0}", ""},
        {"{\"t\":\"b\",\"v\":1}", ""},
        {"{\"t\":\"f\",\"v\":NaN}", ""},
        {"{\"t\":\"f\",\"v\":-Infinity}", ""},
        {"{\"t\":\"i\",\"v\":01}", ""},
        {"{\"t\":\"i\",\"v\":-}", ""},
        {"{\"t\":\"f\",\"v\":1.}", ""},
        {"{\"t\":\"f\",\"v\":1e}", ""},
        {"{\"v\":1,\"t\":\"i\"}", ""},                     /* keys in another order */
        {"{\"t\":\"i\",\"v\":1,\"x\":2}", ""},             /* extra key */
        {"{\"t\": \"i\",\"v\":1}", ""},                    /* whitespace */
        {"{\"t\":\"i\",\"v\":1} ", ""},
        {"{\"t\":\"\\u0069\",\"v\":1}", ""},               /* escaped tag */
        {"{\"t\":\"m\",\"v\":{\"a\":1}}", ""},             /* a bare member */
        {"{\"t\":\"l\",\"v\":[1]}", ""},
        {"{\"t\":\"m\",\"v\":{\"a\":{\"t\":\"i\",\"v\":1},}}", ""},
        {"{\"t\":\"l\",\"v\":[{\"t\":\"i\",\"v\":1}", ""}, /* truncated */
        {"{\"t\":\"s\",\"v\":\"a\tb\"}", ""},              /* raw control character */
        {"{\"t\":\"s\",\"v\":\"ab\\\"}", ""},              /* unterminated */
        {"{\"t\":\"m\",\"v\":{\"a\":{\"t\":\"i\",\"v\":1}}}x", ""},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_str_eq(plain_of(cases[i].envelope), cases[i].plain, "%s", cases[i].envelope);
}

Test(step_next, nesting_is_bounded)
{
    /* 63 nested lists hold a leaf; 64 are refused */
    for (int levels = 63; levels <= 64; levels++) {
        size_t size = (size_t)levels * 20 + 64;
        char *doc = malloc(size), *p = doc;
        for (int i = 0; i < levels; i++)
            p += sprintf(p, "{\"t\":\"l\",\"v\":[");
        p += sprintf(p, "{\"t\":\"i\",\"v\":1}");
        for (int i = 0; i < levels; i++)
            p += sprintf(p, "]}");
        const char *plain = plain_of(doc);
        if (levels == 63)
            cr_expect_eq(strlen(plain), (size_t)levels * 2 + 1);
        else
            cr_expect_str_eq(plain, "");
        free(doc);
    }
}

/* The ABI as a user sees it: only <perdure.h>, linked only against
 * libperdure.so. Everything here must work through exported symbols. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include <perdure.h>

#define STR2(x) #x
#define STR(x) STR2(x)

Test(abi, version_matches_header_macros)
{
    const char *v = perdure_version();
    cr_assert_not_null(v);
    cr_assert_str_eq(v, STR(PERDURE_VERSION_MAJOR) "." STR(PERDURE_VERSION_MINOR) "." STR(PERDURE_VERSION_PATCH));
    unsigned major, minor, patch;
    cr_assert_eq(sscanf(v, "%u.%u.%u", &major, &minor, &patch), 3);
    cr_expect_eq(major, PERDURE_VERSION_MAJOR);
    cr_expect_eq(minor, PERDURE_VERSION_MINOR);
    cr_expect_eq(patch, PERDURE_VERSION_PATCH);
}

Test(abi, status_names)
{
    static const struct {
        perdure_status status;
        const char *name;
    } table[] = {
        {PERDURE_OK, "PERDURE_OK"},
        {PERDURE_E_MISUSE, "PERDURE_E_MISUSE"},
        {PERDURE_E_INVALID, "PERDURE_E_INVALID"},
        {PERDURE_E_DECODE, "PERDURE_E_DECODE"},
        {PERDURE_E_TOO_LARGE, "PERDURE_E_TOO_LARGE"},
        {PERDURE_E_NONDETERMINISM, "PERDURE_E_NONDETERMINISM"},
        {PERDURE_E_NOMEM, "PERDURE_E_NOMEM"},
        {PERDURE_E_PROTOCOL, "PERDURE_E_PROTOCOL"},
        {PERDURE_E_ORPHANED, "PERDURE_E_ORPHANED"},
        {PERDURE_E_INTERNAL, "PERDURE_E_INTERNAL"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        cr_expect_str_eq(perdure_status_name(table[i].status), table[i].name);
    /* Unknown values still get static, non-NULL text. */
    const int unknown[] = {1, 42, -10, -1000, 0x7fffffff, -0x7fffffff - 1};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *name = perdure_status_name(unknown[i]);
        cr_assert_not_null(name, "status %d", unknown[i]);
        cr_expect_neq(strlen(name), 0);
    }
}

Test(abi, id_hash_golden_vector)
{
    char out[65];
    cr_assert_eq(perdure_id_hash(PERDURE_IDS_BLAKE2B, "1", out, sizeof out), PERDURE_OK);
    cr_expect_str_eq(out, "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97");
}

/* perdure_retry_decide's delays for every preset, with the header's formula
 * delay = max(1, ceil(jitter(min(base(n), max_delay)))). */
Test(abi, retry_preset_delays)
{
    static const struct {
        perdure_retry_preset preset;
        double random01;
        long long delays[11];   /* delay after attempt n (1-based); 0: no retry */
    } cases[] = {
        /* 6 attempts, 5 s..60 s, x2, FULL: random 0.5 halves min(5*2^(n-1), 60) */
        {PERDURE_RETRY_DEFAULT, 0.5, {3, 5, 10, 20, 30, 0}},
        /* full jitter at random 0 still waits one second */
        {PERDURE_RETRY_DEFAULT, 0.0, {1, 1, 1, 1, 1, 0}},
        /* 3 attempts, 5 s..300 s, x2, FULL */
        {PERDURE_RETRY_CONFIG_DEFAULTS, 0.5, {3, 5, 0}},
        {PERDURE_RETRY_NONE, 0.5, {0}},
        /* 3 attempts, HALF: d/2 + random * d/2 */
        {PERDURE_RETRY_TRANSIENT, 0.0, {3, 5, 0}},
        {PERDURE_RETRY_TRANSIENT, 0.5, {4, 8, 0}},
        {PERDURE_RETRY_RESOURCE_AVAILABILITY, 0.5, {3, 5, 10, 20, 0}},
        /* 10 attempts, 1 s..60 s, x1.5, NONE: ceil(1.5^(n-1)) */
        {PERDURE_RETRY_CRITICAL, 0.9, {1, 2, 3, 4, 6, 8, 12, 18, 26, 0}},
        /* 6 attempts, 1 s + 1 s per attempt */
        {PERDURE_RETRY_LINEAR, 0.9, {1, 2, 3, 4, 5, 0}},
        {PERDURE_RETRY_FIXED, 0.9, {5, 5, 5, 5, 0}},
    };
    perdure_error_info error = {.error_type = "ValueError", .error_message = "boom"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        perdure_retry_config cfg = {.size = sizeof cfg};
        cr_assert_eq(perdure_retry_config_preset(&cfg, cases[c].preset), PERDURE_OK);
        for (unsigned n = 1;; n++) {
            perdure_retry_decision d = {-1, -1};
            cr_assert_eq(perdure_retry_decide(&cfg, n, &error, cases[c].random01, &d), PERDURE_OK);
            long long want = cases[c].delays[n - 1];
            cr_expect_eq(d.should_retry, want != 0, "preset %d attempt %u: should_retry", (int)cases[c].preset, n);
            cr_expect_eq(d.delay_seconds, want, "preset %d random %g attempt %u: delay %lld, want %lld",
                         (int)cases[c].preset, cases[c].random01, n, d.delay_seconds, want);
            if (!want)
                break;
        }
    }
}

Test(abi, retry_filters_through_public_api)
{
    perdure_retry_config cfg = {.size = sizeof cfg};
    cr_assert_eq(perdure_retry_config_preset(&cfg, PERDURE_RETRY_FIXED), PERDURE_OK);
    const char *types[] = {"TimeoutError"};
    cfg.retryable_error_types = types;
    cfg.retryable_error_types_len = 1;
    perdure_retry_decision d;
    perdure_error_info timeout = {.error_type = "TimeoutError"}, other = {.error_type = "ValueError"};
    cr_assert_eq(perdure_retry_decide(&cfg, 1, &timeout, 0.3, &d), PERDURE_OK);
    cr_expect(d.should_retry && d.delay_seconds == 5);
    cr_assert_eq(perdure_retry_decide(&cfg, 1, &other, 0.3, &d), PERDURE_OK);
    cr_expect_not(d.should_retry);
}

/* ---- a whole invocation on the JSON wire ---- */

#define ARN "arn:aws:lambda:us-east-1:123456789012:function:fn:$LATEST/durable-execution/order-1/exec-1"
#define STEP_ID "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"

static const char input_json[] =
    "{\"DurableExecutionArn\":\"" ARN "\","
    "\"CheckpointToken\":\"dG9rZW4tMQ==\","
    "\"InitialExecutionState\":{\"Operations\":[{\"Id\":\"exec-1\",\"Type\":\"EXECUTION\",\"Status\":\"STARTED\","
    "\"StartTimestamp\":1767225600000,\"ExecutionDetails\":{\"InputPayload\":\"{\\\"order\\\":1}\"}}],"
    "\"NextMarker\":\"\"}}";

static const char response_json[] =
    "{\"CheckpointToken\":\"dG9rZW4tMg==\",\"NewExecutionState\":{\"Operations\":["
    "{\"Id\":\"" STEP_ID "\",\"Name\":\"charge\",\"Type\":\"STEP\",\"SubType\":\"Step\",\"Status\":\"SUCCEEDED\","
    "\"StartTimestamp\":1767225600.5,\"EndTimestamp\":1767225600.75,"
    "\"StepDetails\":{\"Attempt\":1,\"Result\":\"\\\"charged\\\"\"}}]}}";

static int contains(const perdure_buf *b, const char *needle)
{
    size_t n = strlen(needle);
    for (unsigned long long i = 0; b->data && i + n <= b->len; i++)
        if (memcmp(b->data + i, needle, n) == 0)
            return 1;
    return 0;
}

Test(abi, full_invocation_json_wire)
{
    perdure_vm_options opts = {.size = sizeof opts};
    cr_assert_eq(perdure_vm_options_init(&opts), PERDURE_OK);
    opts.wire = PERDURE_WIRE_JSON;
    opts.random_seed = 7;
    perdure_vm *vm = NULL;
    cr_assert_eq(perdure_vm_new(&opts, &vm), PERDURE_OK);
    cr_assert_not_null(vm);
    cr_expect_str_eq(perdure_vm_errmsg(vm), "");

    cr_assert_eq(perdure_vm_start(vm, input_json, strlen(input_json), 1767225600100LL), PERDURE_OK,
                 "%s", perdure_vm_errmsg(vm));
    cr_expect_null(perdure_vm_state_marker(vm));
    cr_expect_str_eq(perdure_vm_execution_arn(vm), ARN);
    cr_expect_str_eq(perdure_vm_checkpoint_token(vm), "dG9rZW4tMQ==");
    cr_expect_not(perdure_vm_is_replaying(vm));
    const unsigned char *in;
    unsigned long long in_len;
    cr_assert_eq(perdure_vm_input(vm, &in, &in_len), PERDURE_OK);
    cr_expect_eq(in_len, strlen("{\"order\":1}"));
    cr_expect_eq(memcmp(in, "{\"order\":1}", in_len), 0);

    perdure_op op;
    cr_assert_eq(perdure_vm_step(vm, PERDURE_ROOT, "charge", NULL, &op), PERDURE_OK, "%s", perdure_vm_errmsg(vm));
    cr_expect_str_eq(perdure_vm_op_id(vm, op), STEP_ID);
    perdure_next next;
    cr_assert_eq(perdure_vm_op_next(vm, op, &next), PERDURE_OK);
    cr_assert_eq(next, PERDURE_NEXT_EXECUTE);
    unsigned attempt = 0;
    cr_assert_eq(perdure_vm_op_attempt(vm, op, &attempt), PERDURE_OK);
    cr_expect_eq(attempt, 1);
    cr_assert_eq(perdure_vm_op_succeed(vm, op, "\"charged\"", 9), PERDURE_OK);
    cr_assert_eq(perdure_vm_op_next(vm, op, &next), PERDURE_OK);
    cr_assert_eq(next, PERDURE_NEXT_CHECKPOINT);
    cr_expect(perdure_vm_wants_flush(vm));

    perdure_buf batch = {0};
    cr_assert_eq(perdure_vm_take_batch(vm, &batch), PERDURE_OK, "%s", perdure_vm_errmsg(vm));
    cr_assert_not_null(batch.data);
    cr_expect(contains(&batch, "\"CheckpointToken\":\"dG9rZW4tMQ==\""), "%.*s", (int)batch.len, batch.data);
    cr_expect(contains(&batch, "\"Id\":\"" STEP_ID "\""), "%.*s", (int)batch.len, batch.data);
    cr_expect(contains(&batch, "\"Action\":\"START\""), "%.*s", (int)batch.len, batch.data);
    cr_expect(contains(&batch, "\"Action\":\"SUCCEED\""), "%.*s", (int)batch.len, batch.data);
    cr_expect(contains(&batch, "\"Payload\":\"\\\"charged\\\"\""), "%.*s", (int)batch.len, batch.data);
    cr_expect(contains(&batch, "\"Name\":\"charge\""), "%.*s", (int)batch.len, batch.data);
    perdure_buf_free(&batch);
    cr_expect_null(batch.data);
    cr_expect_eq(batch.len, 0);

    cr_assert_eq(perdure_vm_apply_response(vm, response_json, strlen(response_json)), PERDURE_OK, "%s",
                 perdure_vm_errmsg(vm));
    cr_expect_str_eq(perdure_vm_checkpoint_token(vm), "dG9rZW4tMg==");
    cr_expect_not(perdure_vm_wants_flush(vm));
    cr_assert_eq(perdure_vm_op_next(vm, op, &next), PERDURE_OK);
    cr_assert_eq(next, PERDURE_NEXT_RESULT);
    perdure_op_status status;
    cr_assert_eq(perdure_vm_op_status(vm, op, &status), PERDURE_OK);
    cr_expect_eq(status, PERDURE_STATUS_SUCCEEDED);
    const unsigned char *result;
    unsigned long long result_len;
    cr_assert_eq(perdure_vm_op_result(vm, op, &result, &result_len), PERDURE_OK);
    cr_assert_eq(result_len, 9);
    cr_expect_eq(memcmp(result, "\"charged\"", 9), 0);

    cr_assert_eq(perdure_vm_finish(vm, PERDURE_OUTCOME_SUCCEEDED, "{\"ok\":true}", 11, NULL, &next), PERDURE_OK,
                 "%s", perdure_vm_errmsg(vm));
    cr_assert_eq(next, PERDURE_NEXT_RESULT);
    perdure_buf output = {0};
    cr_assert_eq(perdure_vm_output(vm, &output), PERDURE_OK, "%s", perdure_vm_errmsg(vm));
    cr_assert_not_null(output.data);
    const char expected[] = "{\"Status\":\"SUCCEEDED\",\"Result\":\"{\\\"ok\\\":true}\"}";
    cr_expect_eq(output.len, strlen(expected), "%.*s", (int)output.len, output.data);
    cr_expect_eq(memcmp(output.data, expected, output.len < strlen(expected) ? output.len : strlen(expected)), 0,
                 "%.*s", (int)output.len, output.data);
    perdure_buf_free(&output);
    perdure_vm_free(vm);
}

/* The second invocation replays the recorded step without running it. */
Test(abi, replay_json_wire)
{
    static const char replay_input[] =
        "{\"DurableExecutionArn\":\"" ARN "\",\"CheckpointToken\":\"dG9rZW4tMw==\","
        "\"InitialExecutionState\":{\"Operations\":["
        "{\"Id\":\"exec-1\",\"Type\":\"EXECUTION\",\"Status\":\"STARTED\",\"StartTimestamp\":1767225600000,"
        "\"ExecutionDetails\":{\"InputPayload\":\"{}\"}},"
        "{\"Id\":\"" STEP_ID "\",\"Name\":\"charge\",\"Type\":\"STEP\",\"SubType\":\"Step\",\"Status\":\"SUCCEEDED\","
        "\"StartTimestamp\":1767225600500,\"EndTimestamp\":1767225600750,"
        "\"StepDetails\":{\"Attempt\":1,\"Result\":\"7\"}}]}}";
    perdure_vm *vm;
    cr_assert_eq(perdure_vm_new(NULL, &vm), PERDURE_OK);
    cr_assert_eq(perdure_vm_start(vm, replay_input, strlen(replay_input), 1767225700000LL), PERDURE_OK, "%s",
                 perdure_vm_errmsg(vm));
    cr_expect(perdure_vm_is_replaying(vm));
    perdure_op op;
    perdure_next next;
    cr_assert_eq(perdure_vm_step(vm, PERDURE_ROOT, "charge", NULL, &op), PERDURE_OK);
    cr_assert_eq(perdure_vm_op_next(vm, op, &next), PERDURE_OK);
    cr_assert_eq(next, PERDURE_NEXT_RESULT);
    const unsigned char *result;
    unsigned long long len;
    cr_assert_eq(perdure_vm_op_result(vm, op, &result, &len), PERDURE_OK);
    cr_expect(len == 1 && result[0] == '7');
    cr_expect_not(perdure_vm_wants_flush(vm));
    cr_assert_eq(perdure_vm_finish(vm, PERDURE_OUTCOME_FAILED, NULL, 0,
                                   &(perdure_error_info){.error_type = "ValueError", .error_message = "no"}, &next),
                 PERDURE_OK);
    cr_assert_eq(next, PERDURE_NEXT_RESULT);
    perdure_buf output = {0};
    cr_assert_eq(perdure_vm_output(vm, &output), PERDURE_OK);
    const char expected[] = "{\"Status\":\"FAILED\",\"Error\":{\"ErrorType\":\"ValueError\",\"ErrorMessage\":\"no\"}}";
    cr_expect(output.len == strlen(expected) && memcmp(output.data, expected, output.len) == 0, "%.*s",
              (int)output.len, output.data);
    perdure_buf_free(&output);
    perdure_vm_free(vm);
}

Test(abi, free_functions_accept_null)
{
    perdure_vm_free(NULL);
    perdure_buf_free(NULL);
    perdure_buf empty = {0};
    perdure_buf_free(&empty);
    cr_expect_str_eq(perdure_vm_errmsg(NULL), perdure_vm_errmsg(NULL));
    cr_expect_not_null(perdure_vm_errmsg(NULL));
}

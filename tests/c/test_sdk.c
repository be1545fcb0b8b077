/* The C SDK (perdure_invoke_handler, perdure_context_*) driven through the
 * in-memory JSON-wire stand-in service of examples/c/loopback.c. Each
 * invoke() is one invocation: the handler replays what the loopback recorded
 * and runs only what is new. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "internal.h"
#include "loopback.h"

/* ---- the harness: loopback service plus a transport that can misbehave ---- */

typedef struct harness {
    loopback *lb;
    int calls;                 /* transport calls so far */
    int fail_on_call;          /* 1-based call that fails with fail_status; 0: never */
    perdure_status fail_status;
    int garbage_on_call;       /* 1-based call answered with text that is not JSON */
    pd_buf requests;           /* every request body, one per line */
} harness;

static void harness_init(harness *h, const char *input_json)
{
    memset(h, 0, sizeof *h);
    h->lb = loopback_new(input_json);
    cr_assert_not_null(h->lb);
    pd_buf_init(&h->requests);
}

static void harness_free(harness *h)
{
    loopback_free(h->lb);
    pd_buf_free(&h->requests);
}

static perdure_status transport(void *user, const unsigned char *request, unsigned long long len,
                                perdure_buf *response)
{
    harness *h = user;
    h->calls++;
    pd_buf_append(&h->requests, request, len);
    pd_buf_append(&h->requests, "\n", 1);
    if (h->calls == h->fail_on_call)
        return h->fail_status;
    if (h->calls == h->garbage_on_call) {
        static const char garbage[] = "<html>502 Bad Gateway</html>";
        response->data = malloc(sizeof garbage - 1);
        cr_assert_not_null(response->data);
        memcpy(response->data, garbage, sizeof garbage - 1);
        response->len = sizeof garbage - 1;
        return PERDURE_OK;
    }
    return loopback_checkpoint(h->lb, request, len, response);
}

/* Whether any request so far contains needle. */
static bool sent(const harness *h, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= h->requests.len; i++)
        if (memcmp(h->requests.data + i, needle, n) == 0)
            return true;
    return false;
}

static perdure_vm_options default_options(void)
{
    perdure_vm_options opts = {.size = sizeof opts};
    perdure_vm_options_init(&opts);
    opts.wire = PERDURE_WIRE_JSON;
    opts.random_seed = 42;
    return opts;
}

/* One invocation. On success *out is the parsed output (json_decref it). */
static perdure_status invoke_with(harness *h, const perdure_vm_options *opts, perdure_handler_fn fn, void *user,
                                  json_t **out)
{
    char *input = loopback_invocation_input(h->lb);
    cr_assert_not_null(input);
    perdure_buf output = {(unsigned char *)"sentinel", 99};
    perdure_status st = perdure_invoke_handler(opts, input, strlen(input), loopback_now_ms(h->lb), fn, user,
                                               transport, h, &output);
    free(input);
    *out = NULL;
    if (st == PERDURE_OK) {
        json_error_t je;
        *out = json_loadb((const char *)output.data, output.len, 0, &je);
        cr_assert_not_null(*out, "output is not JSON (%s): %.*s", je.text, (int)output.len, (const char *)output.data);
        perdure_buf_free(&output);
    } else {
        cr_assert_null(output.data, "no output on failure");
        cr_assert_eq(output.len, 0);
    }
    return st;
}

static json_t *invoke(harness *h, perdure_handler_fn fn, void *user)
{
    perdure_vm_options opts = default_options();
    json_t *out;
    perdure_status st = invoke_with(h, &opts, fn, user, &out);
    cr_assert_eq(st, PERDURE_OK, "perdure_invoke_handler: %s", perdure_status_name(st));
    return out;
}

static const char *out_status(const json_t *out) { return json_string_value(json_object_get(out, "Status")); }
static const char *out_result(const json_t *out) { return json_string_value(json_object_get(out, "Result")); }
static const char *out_error(const json_t *out, const char *field)
{
    return json_string_value(json_object_get(json_object_get(out, "Error"), field));
}

static void expect_status(json_t *out, const char *status)
{
    char *text = json_dumps(out, JSON_COMPACT);
    cr_assert_not_null(out_status(out), "%s", text);
    cr_assert_str_eq(out_status(out), status, "output %s", text);
    free(text);
}

/* ---- helpers for handlers ---- */

static int text_result(perdure_buf *out, const char *text)
{
    out->len = strlen(text);
    out->data = malloc(out->len ? out->len : 1);
    cr_assert_not_null(out->data);
    memcpy(out->data, text, out->len);
    return 0;
}

static int bytes_result(perdure_buf *out, const unsigned char *data, unsigned long long len)
{
    out->len = len;
    out->data = malloc(len ? len : 1);
    cr_assert_not_null(out->data);
    if (len)
        memcpy(out->data, data, len);
    return 0;
}

/* Fails the handler with the error of the operation that just ended in error. */
static int fail_with_last_error(perdure_context *ctx, perdure_error_info *error, perdure_error_kind *kind)
{
    perdure_error_view e;
    cr_assert_eq(perdure_context_last_error(ctx, &e), PERDURE_OK);
    if (kind)
        *kind = e.kind;
    error->error_type = e.error_type;
    error->error_message = e.error_message;
    return 1;
}

/* After an operation call: 1 to return from the handler now. */
#define SDK_CHECK(ctx, call, outcome, error, rc)                                                                      \
    do {                                                                                                              \
        perdure_status st_ = (call);                                                                                  \
        if (st_ != PERDURE_OK) {                                                                                      \
            (rc) = 1;                                                                                                 \
            break;                                                                                                    \
        }                                                                                                             \
        if ((outcome) == PERDURE_SDK_SUSPEND) {                                                                       \
            (rc) = 0;                                                                                                 \
            break;                                                                                                    \
        }                                                                                                             \
        if ((outcome) == PERDURE_SDK_ERROR) {                                                                         \
            (rc) = fail_with_last_error((ctx), (error), NULL);                                                        \
            break;                                                                                                    \
        }                                                                                                             \
        (rc) = -1;                                                                                                    \
    } while (0)

/* ======================================================================
 * steps run once and are replayed afterwards
 * ====================================================================== */

typedef struct steps_state {
    int a_calls, b_calls, handler_calls, after_wait;
    int replaying_at_start[8];
    perdure_status last_status;
} steps_state;

static int step_a(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)error;
    steps_state *s = user;
    cr_expect_eq(attempt, 1);
    s->a_calls++;
    return text_result(result, "\"A\"");
}

static int step_b(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)error, (void)attempt;
    steps_state *s = user;
    s->b_calls++;
    return text_result(result, "\"B\"");
}

static int steps_handler(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                         perdure_buf *result, perdure_error_info *error)
{
    steps_state *s = user;
    perdure_sdk_outcome outcome;
    const unsigned char *a, *b;
    unsigned long long a_len, b_len;
    int rc;
    cr_assert_not_null(perdure_context_vm(ctx));
    s->replaying_at_start[s->handler_calls++ % 8] = perdure_vm_is_replaying(perdure_context_vm(ctx));
    cr_expect_eq(input_len, strlen("{\"order\":7}"));
    cr_expect_eq(memcmp(input, "{\"order\":7}", input_len), 0);

    SDK_CHECK(ctx, perdure_context_step(ctx, "a", NULL, step_a, s, &outcome, &a, &a_len), outcome, error, rc);
    if (rc >= 0)
        return rc;
    /* Keep a copy: the view is valid only until the next VM call. */
    char a_text[16];
    cr_assert_lt(a_len, sizeof a_text);
    memcpy(a_text, a, a_len);
    a_text[a_len] = 0;
    SDK_CHECK(ctx, perdure_context_wait(ctx, "pause", 10, &outcome), outcome, error, rc);
    if (rc >= 0)
        return rc;
    s->after_wait++;
    SDK_CHECK(ctx, perdure_context_step(ctx, "b", NULL, step_b, s, &outcome, &b, &b_len), outcome, error, rc);
    if (rc >= 0)
        return rc;
    char text[64];
    snprintf(text, sizeof text, "[%s,%.*s]", a_text, (int)b_len, (const char *)b);
    return text_result(result, text);
}

Test(sdk, steps_run_once_then_replay)
{
    harness h;
    harness_init(&h, "{\"order\":7}");
    steps_state s = {0};

    json_t *out = invoke(&h, steps_handler, &s);
    expect_status(out, "PENDING");
    json_decref(out);
    cr_expect_eq(s.a_calls, 1);
    cr_expect_eq(s.b_calls, 0);
    cr_expect_eq(s.after_wait, 0);
    cr_expect_not(s.replaying_at_start[0], "a fresh execution is not replaying");
    cr_expect(sent(&h, "\"WaitSeconds\":10"));

    loopback_skip_time(h.lb);
    out = invoke(&h, steps_handler, &s);
    expect_status(out, "SUCCEEDED");
    cr_expect_str_eq(out_result(out), "[\"A\",\"B\"]");
    json_decref(out);
    cr_expect_eq(s.a_calls, 1, "step a was replayed, not re-run");
    cr_expect_eq(s.b_calls, 1);
    cr_expect(s.replaying_at_start[1], "the second invocation starts by replaying");

    /* The same history delivered again replays everything and sends nothing. */
    int calls = h.calls;
    out = invoke(&h, steps_handler, &s);
    expect_status(out, "SUCCEEDED");
    cr_expect_str_eq(out_result(out), "[\"A\",\"B\"]");
    json_decref(out);
    cr_expect_eq(s.a_calls, 1);
    cr_expect_eq(s.b_calls, 1);
    cr_expect_eq(h.calls, calls, "a full replay checkpoints nothing");
    harness_free(&h);
}

/* ======================================================================
 * retries: the configured delay, then FAILED with the step's ErrorType
 * ====================================================================== */

typedef struct retry_state {
    unsigned attempts[8];
    int n;
    char message[64];
    perdure_error_kind kind;
    int handler_errors;
} retry_state;

static int declined(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)result;
    retry_state *s = user;
    cr_assert_lt(s->n, 8);
    s->attempts[s->n++] = attempt;
    snprintf(s->message, sizeof s->message, "card declined on attempt %u", attempt);
    error->error_type = "PaymentDeclined";
    error->error_message = s->message;
    return 1;
}

static int retry_handler(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                         perdure_buf *result, perdure_error_info *error)
{
    (void)input, (void)input_len;
    retry_state *s = user;
    perdure_retry_config retry = {.size = sizeof retry};
    cr_assert_eq(perdure_retry_config_preset(&retry, PERDURE_RETRY_CONFIG_DEFAULTS), PERDURE_OK);
    retry.max_attempts = 3;
    retry.initial_delay_seconds = 7;
    retry.backoff_rate = 2;
    retry.jitter = PERDURE_JITTER_NONE;
    perdure_step_config cfg = {.size = sizeof cfg, .retry = &retry};
    perdure_sdk_outcome outcome;
    const unsigned char *value;
    unsigned long long len;
    cr_assert_eq(perdure_context_step(ctx, "charge", &cfg, declined, s, &outcome, &value, &len), PERDURE_OK);
    if (outcome == PERDURE_SDK_SUSPEND)
        return 0;
    if (outcome == PERDURE_SDK_ERROR) {
        s->handler_errors++;
        return fail_with_last_error(ctx, error, &s->kind);
    }
    return bytes_result(result, value, len);
}

Test(sdk, failing_step_is_retried_with_delay_then_fails)
{
    harness h;
    harness_init(&h, "{}");
    retry_state s = {0};

    long long t0 = loopback_now_ms(h.lb);
    json_t *out = invoke(&h, retry_handler, &s);
    expect_status(out, "PENDING");
    json_decref(out);
    cr_assert_eq(s.n, 1);
    cr_expect(sent(&h, "\"Action\":\"RETRY\""));
    cr_expect(sent(&h, "\"NextAttemptDelaySeconds\":7"), "%.*s", (int)h.requests.len, h.requests.data);
    cr_expect(sent(&h, "\"ErrorType\":\"PaymentDeclined\""));

    /* Not yet due: the step stays PENDING and the handler suspends again
     * without running the body. */
    out = invoke(&h, retry_handler, &s);
    expect_status(out, "PENDING");
    json_decref(out);
    cr_expect_eq(s.n, 1);

    loopback_skip_time(h.lb);
    cr_expect_eq(loopback_now_ms(h.lb) - t0, 7000, "the retry was scheduled 7 s later");
    long long t1 = loopback_now_ms(h.lb);
    out = invoke(&h, retry_handler, &s);
    expect_status(out, "PENDING");
    json_decref(out);
    cr_assert_eq(s.n, 2);
    cr_expect(sent(&h, "\"NextAttemptDelaySeconds\":14"));

    loopback_skip_time(h.lb);
    cr_expect_eq(loopback_now_ms(h.lb) - t1, 14000, "backoff rate 2: 14 s");
    out = invoke(&h, retry_handler, &s);
    expect_status(out, "FAILED");
    cr_expect_str_eq(out_error(out, "ErrorType"), "PaymentDeclined");
    cr_expect_str_eq(out_error(out, "ErrorMessage"), "card declined on attempt 3");
    json_decref(out);
    cr_assert_eq(s.n, 3);
    cr_expect(s.attempts[0] == 1 && s.attempts[1] == 2 && s.attempts[2] == 3);
    cr_expect_eq(s.kind, PERDURE_ERRK_STEP);
    cr_expect(sent(&h, "\"Action\":\"FAIL\""));

    /* Replaying the FAILED step re-raises without running the body. */
    out = invoke(&h, retry_handler, &s);
    expect_status(out, "FAILED");
    cr_expect_str_eq(out_error(out, "ErrorType"), "PaymentDeclined");
    json_decref(out);
    cr_expect_eq(s.n, 3);
    harness_free(&h);
}

/* ======================================================================
 * wait
 * ====================================================================== */

static int wait_handler(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                        perdure_buf *result, perdure_error_info *error)
{
    (void)input, (void)input_len, (void)error;
    int *after = user;
    perdure_sdk_outcome outcome;
    cr_assert_eq(perdure_context_wait(ctx, "nap", 45, &outcome), PERDURE_OK);
    cr_assert_neq(outcome, PERDURE_SDK_ERROR);
    if (outcome == PERDURE_SDK_SUSPEND)
        return 0;
    ++*after;
    return text_result(result, "\"rested\"");
}

Test(sdk, wait_suspends_and_resumes_after_skip_time)
{
    harness h;
    harness_init(&h, "{}");
    int after = 0;
    long long t0 = loopback_now_ms(h.lb);

    json_t *out = invoke(&h, wait_handler, &after);
    expect_status(out, "PENDING");
    cr_expect_null(json_object_get(out, "Result"));
    json_decref(out);
    cr_expect(sent(&h, "\"WaitSeconds\":45"));
    cr_expect_eq(after, 0);

    out = invoke(&h, wait_handler, &after);   /* the timer has not fired */
    expect_status(out, "PENDING");
    json_decref(out);
    cr_expect_eq(after, 0);

    loopback_skip_time(h.lb);
    cr_expect_eq(loopback_now_ms(h.lb) - t0, 45000);
    out = invoke(&h, wait_handler, &after);
    expect_status(out, "SUCCEEDED");
    cr_expect_str_eq(out_result(out), "\"rested\"");
    json_decref(out);
    cr_expect_eq(after, 1);
    harness_free(&h);
}

/* ======================================================================
 * create_callback + callback_result
 * ====================================================================== */

typedef struct callback_state {
    char ids[4][128];
    int n;
} callback_state;

static int callback_handler(perdure_context *ctx, void *user, const unsigned char *input,
                            unsigned long long input_len, perdure_buf *result, perdure_error_info *error)
{
    (void)input, (void)input_len;
    callback_state *s = user;
    perdure_callback_config cfg = {.size = sizeof cfg, .timeout_seconds = 3600};
    perdure_op cb;
    const char *id = NULL;
    cr_assert_eq(perdure_context_create_callback(ctx, "approval", &cfg, &cb, &id), PERDURE_OK);
    cr_assert_not_null(id);
    cr_assert_lt(s->n, 4);
    snprintf(s->ids[s->n++], sizeof s->ids[0], "%s", id);
    perdure_sdk_outcome outcome;
    const unsigned char *value;
    unsigned long long len;
    cr_assert_eq(perdure_context_callback_result(ctx, cb, &outcome, &value, &len), PERDURE_OK);
    if (outcome == PERDURE_SDK_SUSPEND)
        return 0;
    if (outcome == PERDURE_SDK_ERROR)
        return fail_with_last_error(ctx, error, NULL);
    return bytes_result(result, value, len);
}

Test(sdk, callback_suspends_until_answered)
{
    harness h;
    harness_init(&h, "{}");
    callback_state s = {0};

    json_t *out = invoke(&h, callback_handler, &s);
    expect_status(out, "PENDING");
    json_decref(out);
    cr_assert_eq(s.n, 1);
    cr_expect(sent(&h, "\"TimeoutSeconds\":3600"));
    const char *open = loopback_open_callback(h.lb);
    cr_assert_not_null(open);
    cr_expect_str_eq(open, s.ids[0], "the handler saw the service's CallbackId");

    out = invoke(&h, callback_handler, &s);   /* nobody answered yet */
    expect_status(out, "PENDING");
    json_decref(out);
    cr_assert_eq(s.n, 2);
    cr_expect_str_eq(s.ids[1], s.ids[0], "replay hands out the same id");

    loopback_callback_succeed(h.lb, s.ids[0], "\"approved\"");
    cr_expect_null(loopback_open_callback(h.lb));
    out = invoke(&h, callback_handler, &s);
    expect_status(out, "SUCCEEDED");
    cr_expect_str_eq(out_result(out), "\"approved\"");
    json_decref(out);
    harness_free(&h);
}

/* ======================================================================
 * wait_for_callback
 * ====================================================================== */

typedef struct wfc_state {
    int submits;
    char id[128];
} wfc_state;

static int submitter(void *user, const char *callback_id, perdure_error_info *error)
{
    (void)error;
    wfc_state *s = user;
    cr_assert_not_null(callback_id);
    s->submits++;
    snprintf(s->id, sizeof s->id, "%s", callback_id);
    return 0;
}

static int wfc_handler(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                       perdure_buf *result, perdure_error_info *error)
{
    (void)input, (void)input_len;
    perdure_sdk_outcome outcome;
    const unsigned char *value;
    unsigned long long len;
    cr_assert_eq(perdure_context_wait_for_callback(ctx, "approve", NULL, submitter, user, &outcome, &value, &len),
                 PERDURE_OK);
    if (outcome == PERDURE_SDK_SUSPEND)
        return 0;
    if (outcome == PERDURE_SDK_ERROR)
        return fail_with_last_error(ctx, error, NULL);
    return bytes_result(result, value, len);
}

Test(sdk, wait_for_callback_submitter_gets_the_id)
{
    harness h;
    harness_init(&h, "{}");
    wfc_state s = {0};

    json_t *out = invoke(&h, wfc_handler, &s);
    expect_status(out, "PENDING");
    json_decref(out);
    cr_assert_eq(s.submits, 1);
    const char *open = loopback_open_callback(h.lb);
    cr_assert_not_null(open);
    cr_expect_str_eq(s.id, open);
    cr_expect(sent(&h, "\"SubType\":\"WaitForCallback\""));

    out = invoke(&h, wfc_handler, &s);
    expect_status(out, "PENDING");
    json_decref(out);
    cr_expect_eq(s.submits, 1, "a recorded submitter is not run again");

    loopback_callback_succeed(h.lb, s.id, "{\"ok\":1}");
    out = invoke(&h, wfc_handler, &s);
    expect_status(out, "SUCCEEDED");
    cr_expect_str_eq(out_result(out), "{\"ok\":1}");
    json_decref(out);
    cr_expect_eq(s.submits, 1);
    harness_free(&h);
}

/* ======================================================================
 * run_child
 * ====================================================================== */

typedef struct child_state {
    int body_calls, inner_calls, fail;
    perdure_error_kind kind;
} child_state;

static int inner_step(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)attempt, (void)error;
    child_state *s = user;
    s->inner_calls++;
    return text_result(result, s->inner_calls == 1 ? "1" : "2");
}

static int child_body(perdure_context *ctx, void *user, perdure_buf *result, perdure_error_info *error)
{
    child_state *s = user;
    s->body_calls++;
    perdure_sdk_outcome outcome;
    const unsigned char *v;
    unsigned long long len;
    char text[32] = "";
    for (int i = 0; i < 2; i++) {
        char name[16];
        snprintf(name, sizeof name, "inner-%d", i + 1);
        cr_assert_eq(perdure_context_step(ctx, name, NULL, inner_step, s, &outcome, &v, &len), PERDURE_OK);
        cr_assert_eq(outcome, PERDURE_SDK_OK);
        snprintf(text + strlen(text), sizeof text - strlen(text), "%.*s", (int)len, (const char *)v);
    }
    if (s->fail) {
        error->error_type = "ChildBroke";
        error->error_message = "the child gave up";
        return 1;
    }
    return text_result(result, text);
}

static int child_handler(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                         perdure_buf *result, perdure_error_info *error)
{
    (void)input, (void)input_len, (void)error;
    child_state *s = user;
    perdure_sdk_outcome outcome;
    const unsigned char *v;
    unsigned long long len;
    cr_assert_eq(perdure_context_run_child(ctx, "child", child_body, s, &outcome, &v, &len), PERDURE_OK);
    if (outcome == PERDURE_SDK_SUSPEND)
        return 0;
    if (outcome == PERDURE_SDK_ERROR) {
        perdure_error_view e;
        cr_assert_eq(perdure_context_last_error(ctx, &e), PERDURE_OK);
        s->kind = e.kind;
        char text[64];
        snprintf(text, sizeof text, "\"caught %s\"", e.error_type ? e.error_type : "?");
        return text_result(result, text);
    }
    char text[32];
    snprintf(text, sizeof text, "%.*s", (int)len, (const char *)v);
    cr_assert_eq(perdure_context_wait(ctx, "after", 5, &outcome), PERDURE_OK);
    if (outcome == PERDURE_SDK_SUSPEND)
        return 0;
    return text_result(result, text);
}

Test(sdk, run_child_runs_once_and_replays_its_result)
{
    harness h;
    harness_init(&h, "{}");
    child_state s = {0};

    json_t *out = invoke(&h, child_handler, &s);
    expect_status(out, "PENDING");
    json_decref(out);
    cr_expect_eq(s.body_calls, 1);
    cr_expect_eq(s.inner_calls, 2);
    cr_expect(sent(&h, "\"SubType\":\"RunInChildContext\""));

    loopback_skip_time(h.lb);
    out = invoke(&h, child_handler, &s);
    expect_status(out, "SUCCEEDED");
    cr_expect_str_eq(out_result(out), "12");
    json_decref(out);
    cr_expect_eq(s.body_calls, 1, "a SUCCEEDED child is not re-entered");
    cr_expect_eq(s.inner_calls, 2);
    harness_free(&h);
}

Test(sdk, run_child_failure_is_a_child_error)
{
    harness h;
    harness_init(&h, "{}");
    child_state s = {.fail = 1};
    json_t *out = invoke(&h, child_handler, &s);
    expect_status(out, "SUCCEEDED");
    cr_expect_str_eq(out_result(out), "\"caught ChildBroke\"");
    json_decref(out);
    cr_expect_eq(s.kind, PERDURE_ERRK_CHILD);
    cr_expect(sent(&h, "\"ErrorType\":\"ChildBroke\""));
    harness_free(&h);
}

/* ======================================================================
 * map
 * ====================================================================== */

typedef struct map_state {
    int calls[8];
    int fail_index;        /* -1: none */
    int wait_in_items;
    int max_concurrency;
    unsigned item_count;
    perdure_batch_outcome outcome;
    perdure_sdk_outcome map_outcome;
} map_state;

static int map_item(perdure_context *ctx, void *user, unsigned index, perdure_buf *result, perdure_error_info *error)
{
    map_state *s = user;
    cr_assert_lt(index, 8);
    s->calls[index]++;
    if (s->wait_in_items) {
        perdure_sdk_outcome outcome;
        cr_assert_eq(perdure_context_wait(ctx, "item-wait", 5, &outcome), PERDURE_OK);
        if (outcome == PERDURE_SDK_SUSPEND)
            return 0;
    }
    if ((int)index == s->fail_index) {
        error->error_type = "ItemError";
        error->error_message = "item failed";
        return 1;
    }
    char text[32];
    snprintf(text, sizeof text, "\"item-%u\"", index);
    return text_result(result, text);
}

static int map_handler(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                       perdure_buf *result, perdure_error_info *error)
{
    (void)input, (void)input_len, (void)error;
    map_state *s = user;
    perdure_batch_config cfg = {.size = sizeof cfg, .max_concurrency = s->max_concurrency};
    perdure_op batch;
    cr_assert_eq(perdure_context_map(ctx, "items", s->item_count, &cfg, map_item, s, &s->map_outcome, &batch),
                 PERDURE_OK);
    if (s->map_outcome == PERDURE_SDK_SUSPEND)
        return 0;
    cr_assert_eq(s->map_outcome, PERDURE_SDK_OK, "a map succeeds even when items fail");
    perdure_vm *vm = perdure_context_vm(ctx);
    cr_assert_eq(perdure_vm_batch_outcome(vm, batch, &s->outcome), PERDURE_OK);
    const unsigned char *v;
    unsigned long long len;
    cr_assert_eq(perdure_vm_op_result(vm, batch, &v, &len), PERDURE_OK);
    return bytes_result(result, v, len);
}

Test(sdk, map_fail_fast_stops_at_first_failure)
{
    harness h;
    harness_init(&h, "{}");
    map_state s = {.fail_index = 1, .max_concurrency = 2, .item_count = 4};

    json_t *out = invoke(&h, map_handler, &s);
    expect_status(out, "SUCCEEDED");
    cr_expect(s.calls[0] == 1 && s.calls[1] == 1, "items 0 and 1 ran");
    cr_expect(s.calls[2] == 0 && s.calls[3] == 0, "fail-fast: items 2 and 3 never started");
    cr_expect_eq(s.outcome.reason, PERDURE_COMPLETION_FAILURE_TOLERANCE_EXCEEDED);
    cr_expect_eq(s.outcome.total, 4);
    cr_expect_eq(s.outcome.succeeded, 1);
    cr_expect_eq(s.outcome.failed, 1);

    json_error_t je;
    json_t *batch = json_loads(out_result(out), 0, &je);
    cr_assert_not_null(batch, "BatchResult is JSON: %s", out_result(out));
    cr_expect_str_eq(json_string_value(json_object_get(batch, "completionReason")), "FAILURE_TOLERANCE_EXCEEDED");
    json_t *all = json_object_get(batch, "all");
    cr_assert_eq(json_array_size(all), 2, "only started items are listed");
    json_t *first = json_array_get(all, 0), *second = json_array_get(all, 1);
    cr_expect_eq(json_integer_value(json_object_get(first, "index")), 0);
    cr_expect_str_eq(json_string_value(json_object_get(first, "status")), "SUCCEEDED");
    cr_expect_str_eq(json_string_value(json_object_get(first, "result")), "\"item-0\"");
    cr_expect_eq(json_integer_value(json_object_get(second, "index")), 1);
    cr_expect_str_eq(json_string_value(json_object_get(second, "status")), "FAILED");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(second, "error"), "ErrorType")), "ItemError");
    json_decref(batch);
    json_decref(out);
    cr_expect(sent(&h, "\"SubType\":\"Map\""));
    cr_expect(sent(&h, "\"SubType\":\"MapIteration\""));
    harness_free(&h);
}

Test(sdk, map_items_suspend_and_resume)
{
    harness h;
    harness_init(&h, "{}");
    map_state s = {.fail_index = -1, .max_concurrency = 2, .item_count = 3, .wait_in_items = 1};

    json_t *out = invoke(&h, map_handler, &s);
    expect_status(out, "PENDING");
    json_decref(out);
    for (int i = 0; i < 3; i++)
        cr_expect_eq(s.calls[i], 1, "item %d started and suspended on its wait", i);

    loopback_skip_time(h.lb);
    out = invoke(&h, map_handler, &s);
    expect_status(out, "SUCCEEDED");
    cr_expect_eq(s.outcome.reason, PERDURE_COMPLETION_ALL_COMPLETED);
    cr_expect_eq(s.outcome.succeeded, 3);
    json_t *batch = json_loads(out_result(out), 0, NULL);
    cr_assert_not_null(batch);
    cr_expect_str_eq(json_string_value(json_object_get(batch, "completionReason")), "ALL_COMPLETED");
    cr_expect_eq(json_array_size(json_object_get(batch, "all")), 3);
    json_decref(batch);
    json_decref(out);
    for (int i = 0; i < 3; i++)
        cr_expect_eq(s.calls[i], 2, "item %d resumed once", i);
    harness_free(&h);
}

/* ======================================================================
 * validation errors inside the handler are deterministic: re-invoking would
 * fail the same way forever, so they end the execution FAILED
 * ====================================================================== */

typedef struct invalid_state {
    int kind;   /* 0: wait 0 s, 1: map max_concurrency 0, 2: step result over 256 KiB, 3: bad name */
    perdure_status seen;
} invalid_state;

static int huge_step(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)user, (void)attempt, (void)error;
    result->len = PD_MAX_STEP_RESULT + 1;
    result->data = malloc(result->len);
    cr_assert_not_null(result->data);
    memset(result->data, 'x', result->len);
    return 0;
}

static int invalid_handler(perdure_context *ctx, void *user, const unsigned char *input,
                           unsigned long long input_len, perdure_buf *result, perdure_error_info *error)
{
    (void)input, (void)input_len, (void)result;
    invalid_state *s = user;
    perdure_sdk_outcome outcome;
    const unsigned char *v;
    unsigned long long len;
    perdure_op batch;
    perdure_batch_config cfg = {.size = sizeof cfg, .max_concurrency = 0};
    switch (s->kind) {
    case 0:
        s->seen = perdure_context_wait(ctx, "zero", 0, &outcome);
        break;
    case 1:
        s->seen = perdure_context_map(ctx, "items", 2, &cfg, map_item, NULL, &outcome, &batch);
        break;
    case 2:
        s->seen = perdure_context_step(ctx, "huge", NULL, huge_step, NULL, &outcome, &v, &len);
        break;
    default:
        s->seen = perdure_context_step(ctx, "bad\tname", NULL, huge_step, NULL, &outcome, &v, &len);
        break;
    }
    error->error_type = "HandlerSawError";
    return 1;
}

static void invalid_case(int kind, perdure_status status, const char *message_part)
{
    harness h;
    harness_init(&h, "{}");
    invalid_state s = {.kind = kind};
    json_t *out = invoke(&h, invalid_handler, &s);
    cr_expect_eq(s.seen, status, "the handler got %s", perdure_status_name(s.seen));
    expect_status(out, "FAILED");
    cr_expect_str_eq(out_error(out, "ErrorType"), perdure_status_name(status));
    const char *message = out_error(out, "ErrorMessage");
    cr_assert_not_null(message);
    cr_expect(strstr(message, message_part) != NULL, "ErrorMessage: %s", message);
    json_decref(out);
    harness_free(&h);
}

Test(sdk, invalid_wait_fails_the_execution)
{
    invalid_case(0, PERDURE_E_INVALID, "wait duration must be 1..31622400 seconds, got 0");
}
Test(sdk, invalid_max_concurrency_fails_the_execution)
{
    invalid_case(1, PERDURE_E_INVALID, "max_concurrency must be at least 1");
}
Test(sdk, oversized_step_result_fails_the_execution)
{
    invalid_case(2, PERDURE_E_TOO_LARGE, "step result is 262145 bytes");
}
Test(sdk, invalid_name_fails_the_execution) { invalid_case(3, PERDURE_E_INVALID, "printable ASCII"); }

/* ======================================================================
 * non-determinism
 * ====================================================================== */

typedef struct nd_state {
    int invocation;
    int kind;          /* 0: step renamed, 1: wait renamed, 2: step replaced by a wait */
    perdure_status status;
} nd_state;

static int nd_step(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)user, (void)attempt, (void)error;
    return text_result(result, "1");
}

static int nd_handler(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                      perdure_buf *result, perdure_error_info *error)
{
    (void)input, (void)input_len, (void)result;
    nd_state *s = user;
    s->invocation++;
    perdure_sdk_outcome outcome;
    const unsigned char *v;
    unsigned long long len;
    bool first = s->invocation == 1;
    perdure_status st;
    if (s->kind == 2 && !first)
        st = perdure_context_wait(ctx, "first-name", 1, &outcome);
    else
        st = perdure_context_step(ctx, s->kind == 0 && !first ? "second-name" : "first-name", NULL, nd_step, s,
                                  &outcome, &v, &len);
    if (st) {
        s->status = st;
        error->error_type = "HandlerSawError";
        return 1;
    }
    st = perdure_context_wait(ctx, s->kind == 1 && !first ? "renamed-wait" : "the-wait", 5, &outcome);
    if (st) {
        s->status = st;
        error->error_type = "HandlerSawError";
        return 1;
    }
    return 0;
}

static void nondeterminism_case(int kind, const char *expected, const char *actual)
{
    harness h;
    harness_init(&h, "{}");
    nd_state s = {.kind = kind};
    json_t *out = invoke(&h, nd_handler, &s);
    expect_status(out, "PENDING");
    json_decref(out);
    loopback_skip_time(h.lb);

    out = invoke(&h, nd_handler, &s);
    cr_expect_eq(s.status, PERDURE_E_NONDETERMINISM, "the handler got %s", perdure_status_name(s.status));
    expect_status(out, "FAILED");
    cr_expect_str_eq(out_error(out, "ErrorType"), "NonDeterministicExecutionError");
    const char *message = out_error(out, "ErrorMessage");
    cr_assert_not_null(message);
    cr_expect(strstr(message, expected) != NULL, "message names the recorded operation: %s", message);
    cr_expect(strstr(message, actual) != NULL, "message names the declared operation: %s", message);
    json_decref(out);
    harness_free(&h);
}

Test(sdk, nondeterminism_step_renamed) { nondeterminism_case(0, "\"first-name\"", "\"second-name\""); }
Test(sdk, nondeterminism_wait_renamed) { nondeterminism_case(1, "\"the-wait\"", "\"renamed-wait\""); }
Test(sdk, nondeterminism_step_became_wait) { nondeterminism_case(2, "STEP", "WAIT"); }

/* ======================================================================
 * transport failures
 * ====================================================================== */

typedef struct transport_state {
    perdure_status seen;
    int step_calls;
} transport_state;

static int simple_step(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)attempt, (void)error;
    transport_state *s = user;
    s->step_calls++;
    return text_result(result, "\"done\"");
}

static int transport_handler(perdure_context *ctx, void *user, const unsigned char *input,
                             unsigned long long input_len, perdure_buf *result, perdure_error_info *error)
{
    (void)input, (void)input_len;
    transport_state *s = user;
    perdure_sdk_outcome outcome;
    const unsigned char *v;
    unsigned long long len;
    s->seen = perdure_context_step(ctx, "one", NULL, simple_step, s, &outcome, &v, &len);
    if (s->seen) {
        error->error_type = "ShouldNotMatter";
        return 1;
    }
    if (outcome != PERDURE_SDK_OK)
        return outcome == PERDURE_SDK_ERROR ? fail_with_last_error(ctx, error, NULL) : 0;
    return text_result(result, "\"a result longer than the inline limit\"");
}

static void transport_failure_case(perdure_status failure)
{
    harness h;
    harness_init(&h, "{}");
    h.fail_on_call = 1;
    h.fail_status = failure;
    transport_state s = {0};
    perdure_vm_options opts = default_options();
    json_t *out;
    perdure_status st = invoke_with(&h, &opts, transport_handler, &s, &out);
    cr_expect_eq(st, failure, "perdure_invoke_handler returned %s, the transport said %s", perdure_status_name(st),
                 perdure_status_name(failure));
    cr_expect_eq(s.seen, failure, "the operation reported the transport's status");
    cr_expect_eq(h.calls, 1);
    json_decref(out);

    /* The service re-invokes: nothing was recorded, so the step runs again. */
    out = invoke(&h, transport_handler, &s);
    expect_status(out, "SUCCEEDED");
    json_decref(out);
    cr_expect_eq(s.step_calls, 2);
    harness_free(&h);
}

Test(sdk, transport_failure_internal) { transport_failure_case(PERDURE_E_INTERNAL); }
Test(sdk, transport_failure_nomem) { transport_failure_case(PERDURE_E_NOMEM); }
/* A stale token is what the loopback itself answers with PERDURE_E_PROTOCOL:
 * retryable, so it must not end the execution. */
Test(sdk, transport_failure_protocol) { transport_failure_case(PERDURE_E_PROTOCOL); }

Test(sdk, garbage_checkpoint_response_is_returned)
{
    harness h;
    harness_init(&h, "{}");
    h.garbage_on_call = 1;
    transport_state s = {0};
    perdure_vm_options opts = default_options();
    json_t *out;
    cr_expect_eq(invoke_with(&h, &opts, transport_handler, &s, &out), PERDURE_E_DECODE);
    cr_expect_eq(s.seen, PERDURE_E_DECODE);
    harness_free(&h);
}

/* An oversized result is checkpointed on the EXECUTION while finishing. */
Test(sdk, oversized_result_checkpointed_at_finish)
{
    harness h;
    harness_init(&h, "{}");
    transport_state s = {0};
    perdure_vm_options opts = default_options();
    opts.max_inline_result = 10;
    json_t *out;
    cr_assert_eq(invoke_with(&h, &opts, transport_handler, &s, &out), PERDURE_OK);
    expect_status(out, "SUCCEEDED");
    cr_expect_str_eq(out_result(out), "");
    json_decref(out);
    cr_expect(sent(&h, "\"Type\":\"EXECUTION\""));
    cr_expect(sent(&h, "a result longer than the inline limit"));
    harness_free(&h);
}

Test(sdk, transport_failure_while_finishing)
{
    harness h;
    harness_init(&h, "{}");
    transport_state s = {0};
    h.fail_on_call = 2;   /* 1: the step's SUCCEED, 2: the EXECUTION result */
    h.fail_status = PERDURE_E_INTERNAL;
    perdure_vm_options opts = default_options();
    opts.max_inline_result = 10;
    json_t *out;
    cr_expect_eq(invoke_with(&h, &opts, transport_handler, &s, &out), PERDURE_E_INTERNAL);
    cr_expect_eq(s.seen, PERDURE_OK);
    cr_expect_eq(h.calls, 2);
    harness_free(&h);
}

/* ======================================================================
 * misuse of the SDK entry points
 * ====================================================================== */

static int never_called(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                        perdure_buf *result, perdure_error_info *error)
{
    (void)ctx, (void)user, (void)input, (void)input_len, (void)result, (void)error;
    cr_assert_fail("the handler must not run");
    return 1;
}

Test(sdk, invoke_handler_rejects_bad_arguments)
{
    harness h;
    harness_init(&h, "{}");
    char *input = loopback_invocation_input(h.lb);
    perdure_buf out = {0};
    perdure_vm_options opts = default_options();
    size_t len = strlen(input);
    cr_expect_eq(perdure_invoke_handler(&opts, input, len, 0, NULL, NULL, transport, &h, &out), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_invoke_handler(&opts, input, len, 0, never_called, NULL, NULL, &h, &out), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_invoke_handler(&opts, input, len, 0, never_called, NULL, transport, &h, NULL),
                 PERDURE_E_MISUSE);
    cr_expect_eq(perdure_invoke_handler(&opts, NULL, len, 0, never_called, NULL, transport, &h, &out),
                 PERDURE_E_MISUSE);
    cr_expect_eq(perdure_invoke_handler(&opts, "{", 1, 0, never_called, NULL, transport, &h, &out), PERDURE_E_DECODE);
    perdure_vm_options zero = {0};
    cr_expect_eq(perdure_invoke_handler(&zero, input, len, 0, never_called, NULL, transport, &h, &out),
                 PERDURE_E_MISUSE);
    cr_expect_null(out.data);
    cr_expect_eq(h.calls, 0);
    free(input);
    harness_free(&h);
}

Test(sdk, output_failed_needs_no_vm)
{
    perdure_error_info error = {.error_type = "NonDeterministicExecutionError", .error_message = "step 2 changed"};
    perdure_buf out = {0};
    cr_assert_eq(perdure_output_failed(NULL, &error, &out), PERDURE_OK);
    json_error_t jerr;
    json_t *o = json_loadb((const char *)out.data, out.len, 0, &jerr);
    cr_assert_not_null(o, "%.*s", (int)out.len, out.data);
    expect_status(o, "FAILED");
    cr_assert_str_eq(out_error(o, "ErrorType"), "NonDeterministicExecutionError");
    cr_assert_str_eq(out_error(o, "ErrorMessage"), "step 2 changed");
    json_decref(o);
    perdure_buf_free(&out);

    perdure_vm_options opts;
    opts.size = sizeof opts;
    perdure_vm_options_init(&opts);
    opts.wire = PERDURE_WIRE_MSGPACK;
    cr_assert_eq(perdure_output_failed(&opts, &error, &out), PERDURE_OK);
    cr_assert(out.len > 0 && out.data[0] != '{', "msgpack, not JSON");
    perdure_buf_free(&out);

    cr_assert_eq(perdure_output_failed(NULL, NULL, &out), PERDURE_E_MISUSE);
    cr_assert_eq(perdure_output_failed(NULL, &error, NULL), PERDURE_E_MISUSE);
}

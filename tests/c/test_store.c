/* The embedded service's store (service/store.c) on REAL SQLite files in a
 * temporary directory. Workflows are driven by the replay VM and the C SDK
 * through leases (perdure_lease_checkpoint is the SDK's transport, msgpack on
 * the wire); time is a clock the tests skip forward. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "exec.h"
#include "store_fixture.h"

static char *start(perdure_store *s, const char *fn, const char *version, const char *name, int *existed)
{
    perdure_start_options o = {.size = sizeof o, .function_name = fn, .version = version, .name = name,
                               .input = "{\"order\":42}", .input_len = 12};
    perdure_buf arn = {0};
    int ex = -1;
    OK(s, perdure_store_start(s, &o, &arn, &ex));
    if (existed)
        *existed = ex;
    char *text = strndup((const char *)arn.data, arn.len);
    perdure_buf_free(&arn);
    return text;
}

static json_t *describe(perdure_store *s, const char *arn)
{
    perdure_buf b = {0};
    OK(s, perdure_store_describe(s, arn, &b));
    return as_json(&b);
}

static const char *status_of(json_t *d) { return json_string_value(json_object_get(d, "Status")); }

/* ---- handlers ------------------------------------------------------------- */

static int charge(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)user;
    if (attempt == 1) {
        error->error_type = "ValueError";
        error->error_message = "card declined";
        return 1;
    }
    set_result(result, "\"charged\"");
    return 0;
}

typedef struct flow {
    char callback_id[256];
    int invocations;
} flow;

/* step (fails once, retried after 2 s) -> wait 10 s -> callback -> result */
static int order_handler(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                         perdure_buf *result, perdure_error_info *error)
{
    (void)input, (void)input_len, (void)error;
    flow *f = user;
    f->invocations++;
    perdure_retry_config retry = {.size = sizeof retry};
    perdure_retry_config_preset(&retry, PERDURE_RETRY_CONFIG_DEFAULTS);
    retry.initial_delay_seconds = 2;
    retry.jitter = PERDURE_JITTER_NONE;
    perdure_step_config cfg = {.size = sizeof cfg, .retry = &retry};
    perdure_sdk_outcome outcome = PERDURE_SDK_ERROR;
    const unsigned char *r;
    unsigned long long len;
    perdure_context_step(ctx, "charge", &cfg, charge, NULL, &outcome, &r, &len);
    if (outcome != PERDURE_SDK_OK)
        return 0;
    perdure_context_wait(ctx, "cool-off", 10, &outcome);
    if (outcome != PERDURE_SDK_OK)
        return 0;
    perdure_callback_config cb = {.size = sizeof cb, .timeout_seconds = 3600};
    perdure_op op;
    const char *id;
    perdure_context_create_callback(ctx, "approval", &cb, &op, &id);
    if (id)
        snprintf(f->callback_id, sizeof f->callback_id, "%s", id);
    perdure_context_callback_result(ctx, op, &outcome, &r, &len);
    if (outcome != PERDURE_SDK_OK)
        return 0;
    result->data = malloc(len ? len : 1);
    memcpy(result->data, r, len);
    result->len = len;
    return 0;
}



static perdure_vm_options vm_options(void)
{
    perdure_vm_options o = {.size = sizeof o};
    perdure_vm_options_init(&o);
    o.wire = PERDURE_WIRE_MSGPACK;
    o.random_seed = 7;
    return o;
}

/* Runs one invocation of the lease through the C SDK and completes it. */
static void run_lease(perdure_store *s, perdure_lease *l, perdure_handler_fn handler, void *user)
{
    const unsigned char *input;
    unsigned long long len;
    cr_assert_eq(perdure_lease_input(l, &input, &len), PERDURE_OK);
    perdure_vm_options o = vm_options();
    perdure_buf output = {0};
    perdure_status st =
        perdure_invoke_handler(&o, input, len, fake_now, handler, user, perdure_lease_checkpoint, l, &output);
    cr_assert_eq(st, PERDURE_OK, "invoke: %s %s", perdure_status_name(st), perdure_lease_errmsg(l));
    st = perdure_lease_complete(l, output.data, output.len);
    perdure_buf_free(&output);
    OK(s, st);
}

/* Leases one execution of fn/version and runs it; 0 when none was ready. */
static int run_once(perdure_store *s, const char *fn, const char *version, perdure_handler_fn handler, void *user)
{
    perdure_function_ref ref = {fn, version};
    perdure_lease *l = NULL;
    OK(s, perdure_store_lease(s, &ref, 1, "test-worker", &l));
    if (!l)
        return 0;
    run_lease(s, l, handler, user);
    return 1;
}

/* ---- tests ---------------------------------------------------------------- */

TestSuite(store, .init = make_dir, .fini = remove_dir);

Test(store, start_is_idempotent_by_name)
{
    perdure_store *s = open_store(true, 0);
    int existed;
    char *a = start(s, "fn", NULL, "order-1", &existed);
    cr_assert_eq(existed, 0);
    cr_assert(strstr(a, "arn:aws:lambda:") == a, "%s", a);
    cr_assert(strstr(a, ":function:fn:$LATEST/durable-execution/order-1/"), "%s", a);
    char *b = start(s, "fn", NULL, "order-1", &existed);
    cr_assert_eq(existed, 1);
    cr_assert_str_eq(a, b);
    char *g = start(s, "fn", NULL, NULL, &existed);   /* a generated name */
    cr_assert_eq(existed, 0);
    cr_assert_str_neq(a, g);
    /* the same name for another function is refused, not a second execution */
    perdure_start_options o = {.size = sizeof o, .function_name = "other", .name = "order-1"};
    perdure_buf arn = {0};
    cr_assert_eq(perdure_store_start(s, &o, &arn, &existed), PERDURE_E_CONFLICT);
    perdure_buf list = {0};
    OK(s, perdure_store_list(s, "fn", NULL, &list));
    json_t *j = as_json(&list);
    cr_assert_eq(json_array_size(json_object_get(j, "DurableExecutions")), 2);
    json_decref(j);
    OK(s, perdure_store_list(s, NULL, "SUCCEEDED", &list));
    j = as_json(&list);
    cr_assert_eq(json_array_size(json_object_get(j, "DurableExecutions")), 0);
    json_decref(j);
    json_t *d = describe(s, a);
    cr_assert_str_eq(status_of(d), "RUNNING");
    cr_assert_str_eq(json_string_value(json_object_get(d, "DurableExecutionName")), "order-1");
    cr_assert_str_eq(json_string_value(json_object_get(d, "InputPayload")), "{\"order\":42}");
    cr_assert_str_eq(json_string_value(json_object_get(d, "Version")), "$LATEST");
    cr_assert_eq(json_real_value(json_object_get(d, "StartTimestamp")), T0 / 1000.0);
    cr_assert_null(json_object_get(d, "EndTimestamp"));
    json_decref(d);
    perdure_buf none = {0};
    cr_assert_eq(perdure_store_describe(s, "arn:nope", &none), PERDURE_E_NOT_FOUND);
    free(a), free(b), free(g);
    perdure_store_close(s);
}

Test(store, version_pinning)
{
    perdure_store *s = open_store(true, 0);
    char *a = start(s, "fn", "2", "pinned", NULL);
    perdure_function_ref latest = {"fn", NULL}, other = {"other", "2"}, v2 = {"fn", "2"};
    perdure_lease *l = NULL;
    OK(s, perdure_store_lease(s, &latest, 1, "w", &l));
    cr_assert_null(l);
    OK(s, perdure_store_lease(s, &other, 1, "w", &l));
    cr_assert_null(l);
    perdure_function_ref both[] = {latest, v2};
    OK(s, perdure_store_lease(s, both, 2, "w", &l));
    cr_assert_not_null(l);
    cr_assert_str_eq(perdure_lease_arn(l), a);
    cr_assert_str_eq(perdure_lease_function(l), "fn");
    run_lease(s, l, simple_handler, NULL);
    json_t *d = describe(s, a);
    cr_assert_str_eq(status_of(d), "SUCCEEDED");
    cr_assert_str_eq(json_string_value(json_object_get(d, "Version")), "2");
    cr_assert_str_eq(json_string_value(json_object_get(d, "Result")), "\"done\"");
    json_decref(d);
    free(a);
    perdure_store_close(s);
}

/* Runs the order workflow to its end; reopen: close and reopen the store
 * between invocations. */
static void order_workflow(bool reopen)
{
    perdure_store *s = open_store(true, 0);
    perdure_function_ref ref = {"orders", NULL};
    long long due;
    OK(s, perdure_store_next_wakeup(s, &ref, 1, &due));
    cr_assert_eq(due, -1, "nothing scheduled yet");
    char *arn = start(s, "orders", NULL, "order-7", NULL);
    OK(s, perdure_store_next_wakeup(s, &ref, 1, &due));
    cr_assert_eq(due, fake_now, "a new execution is ready now");
    flow f = {0};
    /* 1: the step fails, its retry is due in 2 s */
    cr_assert(run_once(s, "orders", NULL, order_handler, &f));
    cr_assert_not(run_once(s, "orders", NULL, order_handler, &f), "the retry is not due yet");
    OK(s, perdure_store_next_wakeup(s, &ref, 1, &due));
    cr_assert_eq(due, T0 + 2000);
    if (reopen) {
        perdure_store_close(s);
        s = open_store(true, 0);
    }
    fake_now = due;
    /* 2: the step succeeds; the wait suspends for 10 s */
    cr_assert(run_once(s, "orders", NULL, order_handler, &f));
    OK(s, perdure_store_next_wakeup(s, &ref, 1, &due));
    cr_assert_eq(due, fake_now + 10000, "%lld", due - fake_now);
    cr_assert_not(run_once(s, "orders", NULL, order_handler, &f));
    if (reopen) {
        perdure_store_close(s);
        s = open_store(true, 0);
    }
    fake_now += 10000;
    /* 3: the wait is over; the callback is created and awaited */
    cr_assert(run_once(s, "orders", NULL, order_handler, &f));
    cr_assert_gt(strlen(f.callback_id), 20, "a callback id: %s", f.callback_id);
    cr_assert_not(run_once(s, "orders", NULL, order_handler, &f), "waiting for the callback");
    json_t *d = describe(s, arn);
    cr_assert_str_eq(status_of(d), "RUNNING");
    json_decref(d);
    if (reopen) {
        perdure_store_close(s);
        s = open_store(true, 0);
    }
    fake_now += 5000;
    OK(s, perdure_store_callback_succeed(s, f.callback_id, "\"approved\"", 10));
    /* the first answer stands */
    cr_assert_eq(perdure_store_callback_succeed(s, f.callback_id, "\"again\"", 7), PERDURE_E_CONFLICT);
    cr_assert(strstr(perdure_store_errmsg(s), f.callback_id), "%s", perdure_store_errmsg(s));
    cr_assert_eq(perdure_store_callback_fail(s, f.callback_id, NULL), PERDURE_E_CONFLICT);
    /* 4: the callback's answer is the result */
    cr_assert(run_once(s, "orders", NULL, order_handler, &f));
    cr_assert_eq(f.invocations, 4);
    cr_assert_not(run_once(s, "orders", NULL, order_handler, &f));
    OK(s, perdure_store_next_wakeup(s, &ref, 1, &due));
    cr_assert_eq(due, -1);
    d = describe(s, arn);
    cr_assert_str_eq(status_of(d), "SUCCEEDED");
    cr_assert_str_eq(json_string_value(json_object_get(d, "Result")), "\"approved\"");
    cr_assert_eq(json_real_value(json_object_get(d, "EndTimestamp")), fake_now / 1000.0);
    cr_assert_str_eq(json_string_value(json_object_get(d, "FunctionArn")),
                     "arn:aws:lambda:us-east-1:000000000000:function:orders:$LATEST");
    json_decref(d);
    cr_assert_str_eq(history_types(s, arn),
                     "ExecutionStarted StepStarted StepFailed InvocationCompleted StepStarted StepSucceeded "
                     "WaitStarted InvocationCompleted WaitSucceeded CallbackStarted InvocationCompleted "
                     "CallbackSucceeded InvocationCompleted ExecutionSucceeded");
    /* history details, with and without data */
    perdure_buf b = {0};
    OK(s, perdure_store_history(s, arn, 1, &b));
    json_t *h = as_json(&b);
    json_t *failed = json_array_get(json_object_get(h, "Events"), 2);
    cr_assert_str_eq(json_string_value(json_object_get(failed, "Name")), "charge");
    json_t *err = json_object_get(json_object_get(json_object_get(failed, "StepFailedDetails"), "Error"), "Payload");
    cr_assert_str_eq(json_string_value(json_object_get(err, "ErrorMessage")), "card declined");
    json_t *cbs = json_object_get(json_array_get(json_object_get(h, "Events"), 9), "CallbackStartedDetails");
    cr_assert_str_eq(json_string_value(json_object_get(cbs, "CallbackId")), f.callback_id);
    json_decref(h);
    OK(s, perdure_store_history(s, arn, 0, &b));
    cr_assert_null(memmem(b.data, b.len, "card declined", 13), "no data without include_data");
    perdure_buf_free(&b);
    /* operations */
    OK(s, perdure_store_operations(s, arn, &b));
    json_t *ops = as_json(&b);
    json_t *list = json_object_get(ops, "Operations");
    cr_assert_eq(json_array_size(list), 4, "EXECUTION, step, wait, callback");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 1), "Type")), "STEP");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 1), "Status")), "SUCCEEDED");
    json_decref(ops);
    /* status events: RUNNING then SUCCEEDED */
    long long last = 0;
    OK(s, perdure_store_status_events(s, 0, &b, &last));
    json_t *ev = as_json(&b);
    json_t *evs = json_object_get(ev, "Events");
    cr_assert_eq(json_array_size(evs), 2);
    cr_assert_eq(last, json_integer_value(json_object_get(json_array_get(evs, 1), "Sequence")));
    json_t *e0 = json_array_get(evs, 0), *e1 = json_array_get(evs, 1);
    cr_assert_str_eq(json_string_value(json_object_get(e0, "detail-type")), "Durable Execution Status Change");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e0, "detail"), "status")), "RUNNING");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e1, "detail"), "status")), "SUCCEEDED");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e1, "detail"), "durableExecutionArn")), arn);
    cr_assert_not_null(json_object_get(json_object_get(e1, "detail"), "endTimestamp"));
    cr_assert_str_eq(json_string_value(json_object_get(e0, "time")), "2026-01-01T00:00:00Z");
    json_decref(ev);
    OK(s, perdure_store_status_events(s, last, &b, &last));
    ev = as_json(&b);
    cr_assert_eq(json_array_size(json_object_get(ev, "Events")), 0);
    json_decref(ev);
    free(arn);
    perdure_store_close(s);
}

Test(store, whole_workflow_through_leases) { order_workflow(false); }

Test(store, close_and_reopen_mid_execution) { order_workflow(true); }

Test(store, callbacks_unknown_ids)
{
    perdure_store *s = open_store(true, 0);
    cr_assert_eq(perdure_store_callback_succeed(s, "no-such-callback", "1", 1), PERDURE_E_NOT_FOUND);
    cr_assert(strstr(perdure_store_errmsg(s), "no-such-callback"), "%s", perdure_store_errmsg(s));
    perdure_error_info e = {.error_type = "Rejected", .error_message = "no"};
    cr_assert_eq(perdure_store_callback_fail(s, "no-such-callback", &e), PERDURE_E_NOT_FOUND);
    cr_assert_eq(perdure_store_callback_heartbeat(s, "no-such-callback"), PERDURE_E_NOT_FOUND);
    cr_assert_eq(perdure_store_stop(s, "arn:nope", NULL), PERDURE_E_NOT_FOUND);
    perdure_store_close(s);
}

Test(store, callback_failure_fails_the_workflow)
{
    perdure_store *s = open_store(true, 0);
    char *arn = start(s, "orders", NULL, "order-f", NULL);
    flow f = {0};
    cr_assert(run_once(s, "orders", NULL, order_handler, &f));
    fake_now += 2000;
    cr_assert(run_once(s, "orders", NULL, order_handler, &f));
    fake_now += 10000;
    cr_assert(run_once(s, "orders", NULL, order_handler, &f));
    OK(s, perdure_store_callback_heartbeat(s, f.callback_id));
    perdure_error_info e = {.error_type = "Rejected", .error_message = "manager said no"};
    OK(s, perdure_store_callback_fail(s, f.callback_id, &e));
    cr_assert_eq(perdure_store_callback_heartbeat(s, f.callback_id), PERDURE_E_CONFLICT);
    cr_assert(run_once(s, "orders", NULL, order_handler, &f));
    char *types = history_types(s, arn);
    cr_assert(strstr(types, "CallbackFailed InvocationCompleted"), "%s", types);
    free(arn);
    perdure_store_close(s);
}

Test(store, stop)
{
    perdure_store *s = open_store(true, 0);
    char *arn = start(s, "fn", NULL, "to-stop", NULL);
    fake_now += 1000;
    perdure_error_info e = {.error_type = "Cancelled", .error_message = "by operator"};
    OK(s, perdure_store_stop(s, arn, &e));
    json_t *d = describe(s, arn);
    cr_assert_str_eq(status_of(d), "STOPPED");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "Error"), "ErrorMessage")), "by operator");
    json_decref(d);
    cr_assert_str_eq(history_types(s, arn), "ExecutionStarted ExecutionStopped");
    cr_assert_eq(perdure_store_stop(s, arn, NULL), PERDURE_E_CONFLICT);
    cr_assert_not(run_once(s, "fn", NULL, simple_handler, NULL));
    perdure_buf b = {0};
    long long last;
    OK(s, perdure_store_status_events(s, 0, &b, &last));
    json_t *ev = as_json(&b);
    cr_assert_eq(json_array_size(json_object_get(ev, "Events")), 2);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(json_array_get(json_object_get(ev, "Events"), 1), "detail"),
                                          "status")),
        "STOPPED");
    json_decref(ev);
    free(arn);
    perdure_store_close(s);
}

Test(store, stop_during_an_invocation)
{
    perdure_store *s = open_store(true, 0);
    char *arn = start(s, "fn", NULL, "stop-mid", NULL);
    perdure_function_ref ref = {"fn", NULL};
    perdure_lease *l = NULL;
    OK(s, perdure_store_lease(s, &ref, 1, "w", &l));
    cr_assert_not_null(l);
    perdure_store *other = open_store(true, 0);
    OK(other, perdure_store_stop(other, arn, NULL));
    /* the lease's checkpoints are refused; its output is ignored */
    const unsigned char *input;
    unsigned long long len;
    perdure_lease_input(l, &input, &len);
    perdure_vm_options o = vm_options();
    perdure_buf output = {0};
    perdure_status st =
        perdure_invoke_handler(&o, input, len, fake_now, simple_handler, NULL, perdure_lease_checkpoint, l, &output);
    cr_assert_eq(st, PERDURE_E_CONFLICT, "%s", perdure_status_name(st));
    OK(s, perdure_lease_abandon(l, "stopped"));
    perdure_buf_free(&output);
    json_t *d = describe(s, arn);
    cr_assert_str_eq(status_of(d), "STOPPED");
    json_decref(d);
    free(arn);
    perdure_store_close(other);
    perdure_store_close(s);
}

Test(store, lease_expiry_is_a_crash)
{
    perdure_store *s = open_store(true, 1000);
    char *arn = start(s, "fn", NULL, "crashy", NULL);
    perdure_function_ref ref = {"fn", NULL};
    perdure_lease *first = NULL, *second = NULL;
    OK(s, perdure_store_lease(s, &ref, 1, "w1", &first));
    cr_assert_not_null(first);
    OK(s, perdure_store_lease(s, &ref, 1, "w2", &second));
    cr_assert_null(second, "leased: nobody else gets it");
    long long due;
    OK(s, perdure_store_next_wakeup(s, &ref, 1, &due));
    cr_assert_eq(due, T0 + 1000, "the lease's expiry");
    fake_now += 1001;
    /* the expired invocation is ended as crashed; a retry is due 1 s later */
    OK(s, perdure_store_lease(s, &ref, 1, "w2", &second));
    cr_assert_null(second);
    cr_assert_str_eq(history_types(s, arn), "ExecutionStarted InvocationCompleted");
    perdure_buf b = {0};
    OK(s, perdure_store_history(s, arn, 1, &b));
    cr_assert_not_null(memmem(b.data, b.len, "Runtime.ExitError", 17), "%.*s", (int)b.len, b.data);
    cr_assert_not_null(memmem(b.data, b.len, "lease expired", 13));
    perdure_buf_free(&b);
    fake_now += 1000;
    OK(s, perdure_store_lease(s, &ref, 1, "w2", &second));
    cr_assert_not_null(second, "re-leased after the crash");
    /* the first worker lost its lease, and is told why */
    cr_assert_eq(perdure_lease_complete(first, NULL, 0), PERDURE_E_CONFLICT);
    cr_assert(strstr(perdure_store_errmsg(s), "was lost"), "%s", perdure_store_errmsg(s));
    run_lease(s, second, simple_handler, NULL);
    json_t *d = describe(s, arn);
    cr_assert_str_eq(status_of(d), "SUCCEEDED");
    json_decref(d);
    free(arn);
    perdure_store_close(s);
}

Test(store, a_refused_output_is_explained_by_the_store_after_the_lease_is_gone)
{
    perdure_store *s = open_store(true, 60000);
    char *arn = start(s, "fn", NULL, "garbled", NULL);
    perdure_function_ref ref = {"fn", NULL};
    perdure_lease *l = NULL;
    OK(s, perdure_store_lease(s, &ref, 1, "w1", &l));
    cr_assert_not_null(l);
    static const unsigned char not_msgpack[] = {0xc1};
    cr_assert_eq(perdure_lease_complete(l, not_msgpack, sizeof not_msgpack), PERDURE_E_DECODE);
    cr_assert(strstr(perdure_store_errmsg(s), "invalid msgpack"), "%s", perdure_store_errmsg(s));
    free(arn);
    perdure_store_close(s);
}

Test(store, release_worker_expires_its_leases_now)
{
    perdure_store *s = open_store(true, 60000);
    char *arn = start(s, "fn", NULL, "orphaned", NULL);
    perdure_function_ref ref = {"fn", NULL};
    perdure_lease *dead = NULL, *next = NULL;
    unsigned released = 99;
    OK(s, perdure_store_lease(s, &ref, 1, "host:1/1", &dead));
    cr_assert_not_null(dead);
    OK(s, perdure_store_release_worker(s, "host:1/2", &released));
    cr_assert_eq(released, 0, "another worker's leases are untouched");
    OK(s, perdure_store_lease(s, &ref, 1, "w2", &next));
    cr_assert_null(next, "still leased");
    OK(s, perdure_store_release_worker(s, "host:1/1", &released));
    cr_assert_eq(released, 1);
    /* taken over without waiting for the 60 s lease: recorded as a crash */
    OK(s, perdure_store_lease(s, &ref, 1, "w2", &next));
    cr_assert_null(next, "the crash retry is due 1 s later");
    cr_assert_str_eq(history_types(s, arn), "ExecutionStarted InvocationCompleted");
    fake_now += 1000;
    OK(s, perdure_store_lease(s, &ref, 1, "w2", &next));
    cr_assert_not_null(next);
    cr_assert_eq(perdure_lease_complete(dead, NULL, 0), PERDURE_E_CONFLICT, "the dead worker's lease is void");
    run_lease(s, next, simple_handler, NULL);
    json_t *d = describe(s, arn);
    cr_assert_str_eq(status_of(d), "SUCCEEDED");
    json_decref(d);
    cr_assert_eq(perdure_store_release_worker(NULL, "w", NULL), PERDURE_E_MISUSE);
    cr_assert_eq(perdure_store_release_worker(s, NULL, NULL), PERDURE_E_MISUSE);
    free(arn);
    perdure_store_close(s);
}

Test(store, abandon_is_a_crash_and_retried)
{
    perdure_store *s = open_store(true, 0);
    char *arn = start(s, "fn", NULL, "abandoned", NULL);
    perdure_function_ref ref = {"fn", NULL};
    perdure_lease *l = NULL;
    OK(s, perdure_store_lease(s, &ref, 1, "w", &l));
    OK(s, perdure_lease_abandon(l, "worker shutting down"));
    cr_assert_not(run_once(s, "fn", NULL, simple_handler, NULL), "retried after a delay");
    fake_now += 1000;
    cr_assert(run_once(s, "fn", NULL, simple_handler, NULL));
    cr_assert_str_eq(history_types(s, arn),
                     "ExecutionStarted InvocationCompleted StepStarted StepSucceeded InvocationCompleted "
                     "ExecutionSucceeded");
    free(arn);
    perdure_store_close(s);
}

/* A child process that commits once it reads a byte from fd. Forked before
 * the parent opens anything, so it inherits no SQLite connection. */
static pid_t committer(int fd)
{
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        if (read(fd, &c, 1) != 1)
            _exit(3);
        usleep(100000);
        _exit(start_from_child("child"));
    }
    return pid;
}

Test(store, wait_change_sees_other_handles)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = committer(fds[0]);
    cr_assert_geq(pid, 0);
    perdure_store *a = open_store(true, 0), *b = open_store(true, 0);
    int changed = -1;
    OK(a, perdure_store_wait_change(a, 0, &changed));
    cr_assert_eq(changed, 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    OK(a, perdure_store_wait_change(a, 100, &changed));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert_eq(changed, 0);
    long long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    cr_assert_geq(ms, 95);
    /* its own writes are not a change */
    free(start(a, "fn", NULL, "mine", NULL));
    OK(a, perdure_store_wait_change(a, 0, &changed));
    cr_assert_eq(changed, 0);
    free(start(b, "fn", NULL, "theirs", NULL));
    OK(a, perdure_store_wait_change(a, 5000, &changed));
    cr_assert_eq(changed, 1);
    /* a commit by another process while waiting wakes it */
    cr_assert_eq(write(fds[1], "x", 1), 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    OK(a, perdure_store_wait_change(a, 10000, &changed));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert_eq(changed, 1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    cr_assert_lt(ms, 5000, "woken by the commit, not the timeout (%lld ms)", ms);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %d", WEXITSTATUS(status));
    close(fds[0]);
    close(fds[1]);
    perdure_store_close(a);
    perdure_store_close(b);
}

Test(store, memory_store)
{
    perdure_store *s = NULL;
    perdure_store_options o = {.size = sizeof o, .clock = fake_clock};
    cr_assert_eq(perdure_store_open(":memory:", &o, &s), PERDURE_OK, "%s", perdure_store_errmsg(s));
    char *arn = start(s, "fn", NULL, "m", NULL);
    cr_assert(run_once(s, "fn", NULL, simple_handler, NULL));
    json_t *d = describe(s, arn);
    cr_assert_str_eq(status_of(d), "SUCCEEDED");
    json_decref(d);
    int changed = -1;
    OK(s, perdure_store_wait_change(s, 20, &changed));
    cr_assert_eq(changed, 0);
    free(arn);
    perdure_store_close(s);
}

/* ---- two processes never run one execution at once ------------------------- */

#define N_EXEC 40
#define N_PROC 3

typedef struct shared {
    int active[N_EXEC];
    int runs[N_EXEC];
    int overlap;
} shared;

static shared *sh;

static int tracked_handler(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                           perdure_buf *result, perdure_error_info *error)
{
    int i = *(int *)user;
    if (__atomic_add_fetch(&sh->active[i], 1, __ATOMIC_SEQ_CST) > 1)
        __atomic_store_n(&sh->overlap, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&sh->runs[i], 1, __ATOMIC_SEQ_CST);
    usleep(2000);
    int r = simple_handler(ctx, NULL, input, input_len, result, error);
    __atomic_sub_fetch(&sh->active[i], 1, __ATOMIC_SEQ_CST);
    return r;
}

static int worker(void)
{
    perdure_store *s = NULL;
    perdure_store_options o = {.size = sizeof o, .busy_timeout_ms = 20000};
    if (perdure_store_open(path, &o, &s)) {
        perdure_store_close(s);
        return 1;
    }
    perdure_function_ref ref = {"fn", NULL};
    int idle = 0;
    while (idle < 3) {
        perdure_lease *l = NULL;
        if (perdure_store_lease(s, &ref, 1, "proc", &l))
            return 2;
        if (!l) {
            idle++;
            usleep(5000);
            continue;
        }
        idle = 0;
        const char *arn = perdure_lease_arn(l);
        const char *slash = strstr(arn, "/durable-execution/e-");
        int i = atoi(slash + strlen("/durable-execution/e-"));
        const unsigned char *input;
        unsigned long long len;
        perdure_lease_input(l, &input, &len);
        perdure_vm_options vo = vm_options();
        perdure_buf output = {0};
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        if (perdure_invoke_handler(&vo, input, len, (long long)ts.tv_sec * 1000, tracked_handler, &i,
                                   perdure_lease_checkpoint, l, &output))
            return 3;
        perdure_status st = perdure_lease_complete(l, output.data, output.len);
        perdure_buf_free(&output);
        if (st)
            return 4;
    }
    perdure_store_close(s);
    return 0;
}

Test(store, processes_never_share_an_execution)
{
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(sh, MAP_FAILED);
    memset(sh, 0, sizeof *sh);
    perdure_store *s = NULL;
    perdure_store_options o = {.size = sizeof o};
    OK(s, perdure_store_open(path, &o, &s));
    char *arns[N_EXEC];
    for (int i = 0; i < N_EXEC; i++) {
        char name[16];
        snprintf(name, sizeof name, "e-%d", i);
        perdure_start_options so = {.size = sizeof so, .function_name = "fn", .name = name};
        perdure_buf arn = {0};
        OK(s, perdure_store_start(s, &so, &arn, NULL));
        arns[i] = strndup((const char *)arn.data, arn.len);
        perdure_buf_free(&arn);
    }
    perdure_store_close(s);   /* the workers inherit no connection */
    pid_t pids[N_PROC];
    for (int p = 0; p < N_PROC; p++) {
        pids[p] = fork();
        cr_assert_geq(pids[p], 0);
        if (pids[p] == 0)
            _exit(worker());
    }
    for (int p = 0; p < N_PROC; p++) {
        int status;
        waitpid(pids[p], &status, 0);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker %d: %d", p, WEXITSTATUS(status));
    }
    OK(s, perdure_store_open(path, &o, &s));
    cr_assert_eq(sh->overlap, 0, "two processes ran one execution at once");
    for (int i = 0; i < N_EXEC; i++) {
        cr_assert_eq(sh->runs[i], 1, "execution %d ran %d times", i, sh->runs[i]);
        json_t *d = describe(s, arns[i]);
        cr_assert_str_eq(status_of(d), "SUCCEEDED");
        json_decref(d);
        free(arns[i]);
    }
    perdure_store_close(s);
    munmap(sh, sizeof *sh);
}

/* ---- group commit ------------------------------------------------------------
 *
 * A VFS shim in front of SQLite's default VFS sees every write and sync of a
 * -wal file: writes take numbers from one counter (each thread remembers its
 * last), and a finished sync records the number reached when it began, so
 * "every WAL write before number n is on disk" reads synced >= n. Syncs
 * sleep a little, as a real disk does, so that commits pile up behind them. */

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <valgrind/valgrind.h>

typedef struct shim_file {
    sqlite3_file base;
    bool wal;
    sqlite3_file *real;   /* follows this struct */
} shim_file;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs shim_vfs;
static atomic_ullong wal_writes, wal_synced, wal_syncs;
static _Thread_local unsigned long long my_last_wal_write;
static unsigned sync_sleep_ms;

#define REAL(f) (((shim_file *)(f))->real)
static int shim_close(sqlite3_file *f) { return REAL(f)->pMethods->xClose(REAL(f)); }
static int shim_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o) { return REAL(f)->pMethods->xRead(REAL(f), b, n, o); }
static int shim_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    int rc = REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
    if (((shim_file *)f)->wal)
        my_last_wal_write = ++wal_writes;
    return rc;
}
static int shim_truncate(sqlite3_file *f, sqlite3_int64 n) { return REAL(f)->pMethods->xTruncate(REAL(f), n); }
static int shim_sync(sqlite3_file *f, int flags)
{
    if (!((shim_file *)f)->wal)
        return REAL(f)->pMethods->xSync(REAL(f), flags);
    unsigned long long reached = wal_writes;
    if (sync_sleep_ms)
        nanosleep(&(struct timespec){.tv_nsec = sync_sleep_ms * 1000000L}, NULL);
    int rc = REAL(f)->pMethods->xSync(REAL(f), flags);
    wal_syncs++;
    unsigned long long was = wal_synced;
    while (rc == SQLITE_OK && was < reached && !atomic_compare_exchange_weak(&wal_synced, &was, reached)) {
    }
    return rc;
}
static int shim_size(sqlite3_file *f, sqlite3_int64 *n) { return REAL(f)->pMethods->xFileSize(REAL(f), n); }
static int shim_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int shim_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int shim_reserved(sqlite3_file *f, int *r) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), r); }
static int shim_fcntl(sqlite3_file *f, int op, void *a) { return REAL(f)->pMethods->xFileControl(REAL(f), op, a); }
static int shim_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int shim_caps(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int shim_shm_map(sqlite3_file *f, int i, int sz, int ext, void volatile **p)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), i, sz, ext, p);
}
static int shim_shm_lock(sqlite3_file *f, int o, int n, int fl) { return REAL(f)->pMethods->xShmLock(REAL(f), o, n, fl); }
static void shim_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int shim_shm_unmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
static int shim_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **p) { return REAL(f)->pMethods->xFetch(REAL(f), o, n, p); }
static int shim_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p) { return REAL(f)->pMethods->xUnfetch(REAL(f), o, p); }

static const sqlite3_io_methods shim_methods = {
    3, shim_close, shim_read, shim_write, shim_truncate, shim_sync, shim_size, shim_lock, shim_unlock, shim_reserved,
    shim_fcntl, shim_sector, shim_caps, shim_shm_map, shim_shm_lock, shim_shm_barrier, shim_shm_unmap, shim_fetch,
    shim_unfetch};

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
    (void)vfs;
    shim_file *f = (shim_file *)file;
    f->real = (sqlite3_file *)(f + 1);
    f->wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    /* Files the real VFS opens at version < 3 (none of unix's) would need
     * methods of their version; its methods are all version 3. */
    f->base.pMethods = f->real->pMethods ? &shim_methods : NULL;
    return rc;
}

/* Every SQLite file of this test process goes through the shim from now on. */
static void install_shim(unsigned sleep_ms)
{
    real_vfs = sqlite3_vfs_find(NULL);
    cr_assert_geq(real_vfs->iVersion, 3);
    shim_vfs = *real_vfs;
    shim_vfs.zName = "perdure-test-shim";
    shim_vfs.szOsFile = (int)sizeof(shim_file) + real_vfs->szOsFile;
    shim_vfs.xOpen = shim_open;
    cr_assert_eq(sqlite3_vfs_register(&shim_vfs, 1), SQLITE_OK);
    /* Valgrind runs one thread at a time, some 20-50 times slower: a sync
     * must last as long relative to the committers' work as it does natively,
     * or commits stop arriving while one is in flight. */
    sync_sleep_ms = RUNNING_ON_VALGRIND ? sleep_ms * 10 : sleep_ms;
}

typedef struct gc_thread {
    char name[32];
    int steps;
    perdure_lease *lease;
    /* counted by the thread, checked by the test's thread */
    int acks, unsynced_acks, refused, status;
    char error[256];
} gc_thread;

static int nth_step(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)user, (void)attempt, (void)error;
    set_result(result, "{\"ok\":true}");
    return 0;
}

static int steps_handler(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                         perdure_buf *result, perdure_error_info *error)
{
    (void)input, (void)input_len, (void)error;
    gc_thread *t = user;
    for (int i = 0; i < t->steps; i++) {
        perdure_sdk_outcome outcome = PERDURE_SDK_ERROR;
        const unsigned char *r;
        unsigned long long len;
        perdure_context_step(ctx, "s", NULL, nth_step, NULL, &outcome, &r, &len);
        if (outcome != PERDURE_SDK_OK)
            return 0;
    }
    set_result(result, "\"done\"");
    return 0;
}

/* The SDK's transport: the store's checkpoint, then the check that what
 * this thread wrote to the WAL was synced before the answer came back. */
static perdure_status acked_checkpoint(void *user, const unsigned char *req, unsigned long long len, perdure_buf *resp)
{
    gc_thread *t = user;
    perdure_status st = perdure_lease_checkpoint(t->lease, req, len, resp);
    if (st == PERDURE_OK) {
        t->acks++;
        if (wal_synced < my_last_wal_write)
            t->unsynced_acks++;
    }
    return st;
}

/* A worker thread's own handle on the store, and its lease of execution
 * t->name's function; t->status says why not. */
static perdure_status lease_own(gc_thread *t, perdure_store **s, const unsigned char **input, unsigned long long *len)
{
    perdure_store_options o = {.size = sizeof o, .clock = fake_clock};
    if ((t->status = perdure_store_open(path, &o, s)))
        return t->status;
    perdure_function_ref ref = {t->name, NULL};
    if ((t->status = perdure_store_lease(*s, &ref, 1, t->name, &t->lease)) || !t->lease)
        return t->status = t->status ? t->status : PERDURE_E_NOT_FOUND;
    return t->status = perdure_lease_input(t->lease, input, len);
}

static void close_own(gc_thread *t, perdure_store *s)
{
    if (t->status)
        snprintf(t->error, sizeof t->error, "%s: %s", perdure_status_name(t->status), perdure_store_errmsg(s));
    perdure_store_close(s);
}

/* A worker thread with a handle of its own: leases execution t->name's
 * function and runs it to the end through acked_checkpoint. */
static void *gc_worker(void *arg)
{
    gc_thread *t = arg;
    perdure_store *s = NULL;
    const unsigned char *input;
    unsigned long long ilen;
    if (lease_own(t, &s, &input, &ilen))
        goto out;
    perdure_vm_options vo = vm_options();
    perdure_buf output = {0};
    t->status = perdure_invoke_handler(&vo, input, ilen, fake_now, steps_handler, t, acked_checkpoint, t, &output);
    if (!t->status) {
        t->status = perdure_lease_complete(t->lease, output.data, output.len);
        if (!t->status && wal_synced < my_last_wal_write)
            t->unsynced_acks++;
    } else {
        perdure_lease_abandon(t->lease, "test");
    }
    perdure_buf_free(&output);
out:
    close_own(t, s);
    return NULL;
}

#define GC_THREADS 6

Test(store, group_commit_concurrent_committers)
{
    install_shim(20);
    perdure_store *s = open_store(true, 0);
    gc_thread ts[GC_THREADS] = {0};
    char *arns[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++) {
        snprintf(ts[i].name, sizeof ts[i].name, "fn%d", i);
        ts[i].steps = 8;
        arns[i] = start(s, ts[i].name, NULL, ts[i].name, NULL);
    }
    unsigned long long syncs_before = wal_syncs;
    pthread_t tid[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++)
        cr_assert_eq(pthread_create(&tid[i], NULL, gc_worker, &ts[i]), 0);
    int acks = 0;
    for (int i = 0; i < GC_THREADS; i++) {
        pthread_join(tid[i], NULL);
        cr_assert_eq(ts[i].status, PERDURE_OK, "thread %d: %s", i, ts[i].error);
        cr_assert_eq(ts[i].unsynced_acks, 0, "thread %d: a commit was acknowledged before it was synced", i);
        acks += ts[i].acks;
        json_t *d = describe(s, arns[i]);
        cr_assert_str_eq(status_of(d), "SUCCEEDED");
        json_decref(d);
        free(arns[i]);
    }
    /* every step checkpointed at least once, and one lease and one completion each */
    cr_assert_geq(acks, GC_THREADS * 8);
    unsigned long long commits = (unsigned long long)acks + 2 * GC_THREADS, syncs = wal_syncs - syncs_before;
    cr_assert_lt(syncs * 2, commits, "%llu fdatasyncs for %llu commits: commits did not share syncs", syncs, commits);
    perdure_store_close(s);
}

/* Threads whose batches are refused (a stale checkpoint token) commit next to
 * threads whose batches succeed: each batch stands or falls alone. */
static void *stale_worker(void *arg)
{
    gc_thread *t = arg;
    perdure_store *s = NULL;
    const unsigned char *input;
    unsigned long long ilen;
    if (lease_own(t, &s, &input, &ilen))
        goto out;
    perdure_vm_options vo = vm_options();
    perdure_vm *vm = NULL;
    perdure_vm_new(&vo, &vm);
    perdure_vm_start(vm, input, ilen, fake_now);
    perdure_step_config cfg = {.size = sizeof cfg};
    perdure_op op;
    perdure_next next;
    perdure_vm_step(vm, PERDURE_ROOT, "s", &cfg, &op);
    perdure_vm_op_next(vm, op, &next);
    perdure_vm_op_succeed(vm, op, "1", 1);
    perdure_buf req = {0}, resp = {0};
    perdure_vm_take_batch(vm, &req);
    /* The same batch without its ClientToken (so not answered as a retry)
     * and with a token that is stale once the batch is in. */
    pd_bytes token = {0}, client_token = {0};
    pd_update *updates = NULL;
    size_t n = 0;
    pd_err err = {0};
    pd_buf stale;
    pd_buf_init(&stale);
    if (pd_mp_decode_checkpoint_request(req.data, req.len, &token, &updates, &n, &client_token, &err) ||
        pd_mp_encode_checkpoint_request(token.data, updates, n, NULL, 4096, &stale, &err))
        t->status = PERDURE_E_INTERNAL;
    else if (!(t->status = perdure_lease_checkpoint(t->lease, req.data, req.len, &resp))) {
        for (int i = 0; i < t->steps; i++) {
            perdure_buf again = {0};
            if (perdure_lease_checkpoint(t->lease, stale.data, stale.len, &again) != PERDURE_OK)
                t->refused++;
            perdure_buf_free(&again);
        }
    }
    pd_updates_free(updates, n);
    pd_bytes_clear(&token);
    pd_bytes_clear(&client_token);
    pd_buf_free(&stale);
    if (t->status)
        goto done;
    t->status = perdure_lease_abandon(t->lease, "stale worker done");
    t->lease = NULL;
done:
    if (t->lease)
        perdure_lease_abandon(t->lease, "test");
    perdure_buf_free(&req);
    perdure_buf_free(&resp);
    perdure_vm_free(vm);
out:
    close_own(t, s);
    return NULL;
}

Test(store, group_commit_refused_batch_stands_alone)
{
    install_shim(5);
    perdure_store *s = open_store(true, 0);
    gc_thread ts[GC_THREADS] = {0};
    char *arns[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++) {
        snprintf(ts[i].name, sizeof ts[i].name, "fn%d", i);
        ts[i].steps = 10;
        arns[i] = start(s, ts[i].name, NULL, ts[i].name, NULL);
    }
    pthread_t tid[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++)
        cr_assert_eq(pthread_create(&tid[i], NULL, i % 2 ? stale_worker : gc_worker, &ts[i]), 0);
    for (int i = 0; i < GC_THREADS; i++)
        pthread_join(tid[i], NULL);
    for (int i = 0; i < GC_THREADS; i++) {
        cr_assert_eq(ts[i].status, PERDURE_OK, "thread %d: %s", i, ts[i].error);
        json_t *d = describe(s, arns[i]);
        if (i % 2) {
            /* every replay refused; the one good batch kept; the abandoned
             * invocation waits for its retry */
            cr_assert_eq(ts[i].refused, ts[i].steps);
            cr_assert_str_eq(status_of(d), "RUNNING");
            cr_assert_str_eq(history_types(s, arns[i]),
                             "ExecutionStarted StepStarted StepSucceeded InvocationCompleted");
        } else {
            cr_assert_eq(ts[i].unsynced_acks, 0);
            cr_assert_str_eq(status_of(d), "SUCCEEDED");
        }
        json_decref(d);
        free(arns[i]);
    }
    perdure_store_close(s);
}

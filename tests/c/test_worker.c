/* The worker runtime (service/store.c): perdure_store_lease_wait, which
 * blocks without CPU until an execution is ready, and perdure_worker_run_one,
 * one lease + one invocation of a C handler. Real SQLite files in a temporary
 * directory; most tests skip a fake store clock forward. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include <perdure.h>

#include "store_fixture.h"

static char *start(perdure_store *s, const char *fn, const char *name)
{
    perdure_start_options o = {.size = sizeof o, .function_name = fn, .name = name};
    perdure_buf arn = {0};
    OK(s, perdure_store_start(s, &o, &arn, NULL));
    char *text = strndup((const char *)arn.data, arn.len);
    perdure_buf_free(&arn);
    return text;
}

static char *status_of(perdure_store *s, const char *arn)
{
    perdure_buf b = {0};
    OK(s, perdure_store_describe(s, arn, &b));
    json_t *d = as_json(&b);
    static char out[32];
    snprintf(out, sizeof out, "%s", json_string_value(json_object_get(d, "Status")));
    json_decref(d);
    return out;
}

static long long mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static long long cpu_ms(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (long long)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000 +
           (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1000;
}

/* A CPU budget in ms: valgrind runs the code that does run (SQLite, the VM)
 * some 20 times slower, while a busy wait would still burn the whole wait. */
static long long cpu_budget(long long ms)
{
    const char *preload = getenv("LD_PRELOAD");
    return preload && strstr(preload, "vgpreload") ? ms * 20 : ms;
}

/* ---- handlers ------------------------------------------------------------- */



typedef struct flow {
    char callback_id[256];
    int invocations;
    long long input_len;
} flow;

/* step -> wait 10 s -> callback -> the callback's payload */
static int flow_handler(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                        perdure_buf *result, perdure_error_info *error)
{
    (void)input, (void)error;
    flow *f = user;
    f->invocations++;
    f->input_len = (long long)input_len;
    perdure_sdk_outcome outcome = PERDURE_SDK_ERROR;
    const unsigned char *r;
    unsigned long long len;
    perdure_context_step(ctx, "prepare", NULL, simple_step, NULL, &outcome, &r, &len);
    if (outcome != PERDURE_SDK_OK)
        return 0;
    perdure_context_wait(ctx, "cool-off", 10, &outcome);
    if (outcome != PERDURE_SDK_OK)
        return 0;
    perdure_callback_config cb = {.size = sizeof cb, .timeout_seconds = 3600};
    perdure_op op;
    const char *id = NULL;
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

/* ---- perdure_store_lease_wait ------------------------------------------------ */

TestSuite(worker, .init = make_dir, .fini = remove_dir);

static perdure_function_ref fn_ref = {"fn", NULL};

Test(worker, lease_wait_returns_at_once_when_ready)
{
    perdure_store *s = open_store(true, 0);
    char *arn = start(s, "fn", "ready");
    perdure_lease *l = (perdure_lease *)&l;
    long long t0 = mono_ms();
    OK(s, perdure_store_lease_wait(s, &fn_ref, 1, "w", 10000, &l));
    cr_assert_not_null(l);
    cr_assert_lt(mono_ms() - t0, 1000);
    cr_assert_str_eq(perdure_lease_arn(l), arn);
    OK(s, perdure_lease_abandon(l, "test"));
    /* max_wait_ms 0 is one try: the crashed invocation is retried after 1 s */
    l = (perdure_lease *)&l;
    OK(s, perdure_store_lease_wait(s, &fn_ref, 1, "w", 0, &l));
    cr_assert_null(l);
    fake_now += 1000;
    OK(s, perdure_store_lease_wait(s, &fn_ref, 1, "w", 0, &l));
    cr_assert_not_null(l);
    OK(s, perdure_lease_abandon(l, "test"));
    free(arn);
    perdure_store_close(s);
}

Test(worker, lease_wait_misuse)
{
    perdure_store *s = open_store(true, 0);
    perdure_lease *l = (perdure_lease *)&l;
    cr_assert_eq(perdure_store_lease_wait(s, &fn_ref, 1, "w", 0, NULL), PERDURE_E_MISUSE);
    cr_assert_eq(perdure_store_lease_wait(NULL, &fn_ref, 1, "w", 0, &l), PERDURE_E_MISUSE);
    cr_assert_null(l);
    cr_assert_eq(perdure_store_lease_wait(s, NULL, 1, "w", 0, &l), PERDURE_E_MISUSE);
    cr_assert_eq(perdure_store_lease_wait(s, &fn_ref, 0, "w", 0, &l), PERDURE_E_MISUSE);
    cr_assert_eq(perdure_store_now(NULL), -1);
    cr_assert_eq(perdure_store_now(s), T0);
    fake_now += 5;
    cr_assert_eq(perdure_store_now(s), T0 + 5);
    perdure_store_close(s);
}

/* Nothing ready (one execution waits on a timer 10 s away on the fake clock,
 * another function's execution is ready): the wait times out, asleep. */
Test(worker, lease_wait_times_out_without_cpu)
{
    perdure_store *s = open_store(true, 0);
    char *other = start(s, "other", "not-ours");
    char *arn = start(s, "fn", "waiting");
    flow f = {0};
    perdure_worker_function w = {sizeof w, "fn", NULL, flow_handler, &f};
    int ran = 0;
    OK(s, perdure_worker_run_one(s, &w, 1, "w", 0, &ran));
    cr_assert_eq(ran, 1);
    long long due;
    OK(s, perdure_store_next_wakeup(s, &fn_ref, 1, &due));
    cr_assert_eq(due, T0 + 10000, "the wait's timer");
    perdure_lease *l = (perdure_lease *)&l;
    long long cpu0 = cpu_ms(), t0 = mono_ms();
    OK(s, perdure_store_lease_wait(s, &fn_ref, 1, "w", 300, &l));
    long long cpu = cpu_ms() - cpu0, elapsed = mono_ms() - t0;
    cr_assert_null(l);
    cr_assert_geq(elapsed, 295, "waited %lld ms", elapsed);
    cr_assert_lt(elapsed, 2000, "waited %lld ms", elapsed);
    cr_assert_lt(cpu, cpu_budget(50), "%lld ms of CPU while waiting %lld ms", cpu, elapsed);
    /* and with nothing scheduled at all */
    perdure_function_ref none = {"nobody", NULL};
    cpu0 = cpu_ms(), t0 = mono_ms();
    OK(s, perdure_store_lease_wait(s, &none, 1, "w", 300, &l));
    cpu = cpu_ms() - cpu0, elapsed = mono_ms() - t0;
    cr_assert_null(l);
    cr_assert_geq(elapsed, 295);
    cr_assert_lt(cpu, cpu_budget(50), "%lld ms of CPU while waiting %lld ms", cpu, elapsed);
    cr_assert_str_eq(status_of(s, arn), "RUNNING");
    free(arn);
    free(other);
    perdure_store_close(s);
}

/* A child process that starts an execution of "fn" after 200 ms. Forked
 * before the parent opens anything (SQLite connections must not cross a
 * fork); it shares the fake clock's value. */
/* Ends a forked child with `code`. Through exec, not exit: the child's copy
 * of criterion's memory (its threads are not forked) would otherwise be
 * reported as leaked when the suite runs under valgrind --trace-children. */
static void child_exit(int code)
{
    char cmd[16];
    snprintf(cmd, sizeof cmd, "exit %d", code);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(code);
}

static pid_t delayed_starter(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        usleep(200000);
        child_exit(start_from_child("from-child"));
    }
    return pid;
}

Test(worker, lease_wait_wakes_when_another_process_starts_an_execution)
{
    long long t0 = mono_ms();        /* the child starts its execution 200 ms after the fork */
    pid_t pid = delayed_starter();   /* before opening: the child inherits no SQLite connection */
    cr_assert_geq(pid, 0);
    perdure_store *s = open_store(true, 0);
    perdure_lease *l = NULL;
    long long cpu0 = cpu_ms();
    OK(s, perdure_store_lease_wait(s, &fn_ref, 1, "w", 10000, &l));
    long long cpu = cpu_ms() - cpu0, elapsed = mono_ms() - t0;
    cr_assert_not_null(l, "woken with a lease");
    cr_assert_geq(elapsed, 150, "%lld ms", elapsed);
    cr_assert_lt(elapsed, 5000, "woken by the commit, not the timeout (%lld ms)", elapsed);
    cr_assert_lt(cpu, cpu_budget(100), "%lld ms of CPU", cpu);
    cr_assert(strstr(perdure_lease_arn(l), "/durable-execution/from-child/"), "%s", perdure_lease_arn(l));
    OK(s, perdure_lease_abandon(l, "test"));
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %d", WEXITSTATUS(status));
    perdure_store_close(s);
}

/* On the wall clock: a lease that expires (a crashed worker) is taken over
 * when it is due, with no commit to wake the waiter. */
Test(worker, lease_wait_wakes_when_a_lease_expires)
{
    perdure_store *dead = open_store(false, 300), *s = open_store(false, 300);
    char *arn = start(s, "fn", "crashy");
    perdure_lease *lost = NULL, *l = NULL;
    long long t0 = mono_ms();
    OK(dead, perdure_store_lease(dead, &fn_ref, 1, "dead", &lost));
    cr_assert_not_null(lost);
    long long cpu0 = cpu_ms();
    /* expiry after 300 ms ends the invocation as crashed; it is retried 1 s later */
    OK(s, perdure_store_lease_wait(s, &fn_ref, 1, "w", 10000, &l));
    long long cpu = cpu_ms() - cpu0, elapsed = mono_ms() - t0;
    cr_assert_not_null(l);
    cr_assert_geq(elapsed, 1200, "%lld ms", elapsed);
    cr_assert_lt(elapsed, 5000, "%lld ms", elapsed);
    cr_assert_lt(cpu, cpu_budget(100), "%lld ms of CPU", cpu);
    OK(s, perdure_lease_abandon(l, "test"));
    /* the dead worker's lease can no longer change anything */
    cr_assert_eq(perdure_lease_abandon(lost, "late"), PERDURE_E_CONFLICT);
    cr_assert(strstr(history_types(s, arn), "ExecutionStarted InvocationCompleted InvocationCompleted") ==
                  history_types(s, arn),
              "%s", history_types(s, arn));
    free(arn);
    perdure_store_close(s);
    perdure_store_close(dead);
}

/* ---- perdure_worker_run_one --------------------------------------------------- */

Test(worker, run_one_drives_a_workflow_to_success)
{
    perdure_store *s = open_store(true, 0);
    char *arn = start(s, "orders", "order-1");
    flow f = {0};
    perdure_worker_function fns[] = {
        {sizeof fns[0], "unused", "7", simple_handler, NULL},
        {sizeof fns[0], "orders", NULL, flow_handler, &f},
    };
    int ran = -1;
    /* 1: the step runs, the wait suspends for 10 s (store clock) */
    OK(s, perdure_worker_run_one(s, fns, 2, "w", 0, &ran));
    cr_assert_eq(ran, 1);
    cr_assert_eq(f.invocations, 1);
    cr_assert_eq(f.input_len, 4, "the execution's input, null");
    OK(s, perdure_worker_run_one(s, fns, 2, "w", 100, &ran));
    cr_assert_eq(ran, 0, "the wait is not over");
    /* 2: the wait is over: the callback is created and awaited */
    fake_now += 10000;
    OK(s, perdure_worker_run_one(s, fns, 2, "w", 0, &ran));
    cr_assert_eq(ran, 1);
    cr_assert_gt(strlen(f.callback_id), 20);
    OK(s, perdure_worker_run_one(s, fns, 2, "w", 50, &ran));
    cr_assert_eq(ran, 0, "waiting for the callback");
    cr_assert_str_eq(status_of(s, arn), "RUNNING");
    fake_now += 500;
    OK(s, perdure_store_callback_succeed(s, f.callback_id, "{\"ok\":true}", 11));
    /* 3: the answer is the result */
    OK(s, perdure_worker_run_one(s, fns, 2, "w", 1000, &ran));
    cr_assert_eq(ran, 1);
    cr_assert_eq(f.invocations, 3);
    cr_assert_str_eq(status_of(s, arn), "SUCCEEDED");
    cr_assert_str_eq(history_types(s, arn),
                     "ExecutionStarted StepStarted StepSucceeded WaitStarted InvocationCompleted WaitSucceeded "
                     "CallbackStarted InvocationCompleted CallbackSucceeded InvocationCompleted ExecutionSucceeded");
    /* timestamps come from the store's clock */
    perdure_buf b = {0};
    OK(s, perdure_store_describe(s, arn, &b));
    json_t *d = as_json(&b);
    cr_assert_str_eq(json_string_value(json_object_get(d, "Result")), "{\"ok\":true}");
    cr_assert_eq(json_real_value(json_object_get(d, "EndTimestamp")), (T0 + 10500) / 1000.0);
    json_decref(d);
    OK(s, perdure_store_operations(s, arn, &b));
    json_t *ops = as_json(&b);
    json_t *wait = json_array_get(json_object_get(ops, "Operations"), 2);
    cr_assert_str_eq(json_string_value(json_object_get(wait, "Type")), "WAIT");
    cr_assert_eq(json_real_value(json_object_get(json_object_get(wait, "WaitDetails"), "ScheduledEndTimestamp")),
                 (T0 + 10000) / 1000.0);
    json_decref(ops);
    OK(s, perdure_worker_run_one(s, fns, 2, "w", 0, &ran));
    cr_assert_eq(ran, 0);
    free(arn);
    perdure_store_close(s);
}

Test(worker, run_one_serves_versions)
{
    perdure_store *s = open_store(true, 0);
    perdure_start_options o = {.size = sizeof o, .function_name = "fn", .version = "2", .name = "v2"};
    perdure_buf arn = {0};
    OK(s, perdure_store_start(s, &o, &arn, NULL));
    flow f = {0};
    perdure_worker_function fns[] = {
        {sizeof fns[0], "fn", NULL, flow_handler, &f},
        {sizeof fns[0], "fn", "2", simple_handler, NULL},
    };
    int ran = 0;
    OK(s, perdure_worker_run_one(s, fns, 1, "w", 0, &ran));
    cr_assert_eq(ran, 0, "$LATEST only");
    OK(s, perdure_worker_run_one(s, fns, 2, "w", 0, &ran));
    cr_assert_eq(ran, 1);
    cr_assert_eq(f.invocations, 0, "version 2's handler ran");
    char *a = strndup((const char *)arn.data, arn.len);
    cr_assert_str_eq(status_of(s, a), "SUCCEEDED");
    free(a);
    perdure_buf_free(&arn);
    perdure_store_close(s);
}

Test(worker, run_one_misuse)
{
    perdure_store *s = open_store(true, 0);
    perdure_worker_function w = {sizeof w, "fn", NULL, simple_handler, NULL};
    int ran = -1;
    cr_assert_eq(perdure_worker_run_one(s, &w, 1, "w", 0, NULL), PERDURE_E_MISUSE);
    cr_assert_eq(perdure_worker_run_one(NULL, &w, 1, "w", 0, &ran), PERDURE_E_MISUSE);
    cr_assert_eq(ran, 0);
    cr_assert_eq(perdure_worker_run_one(s, NULL, 1, "w", 0, &ran), PERDURE_E_MISUSE);
    cr_assert_eq(perdure_worker_run_one(s, &w, 0, "w", 0, &ran), PERDURE_E_MISUSE);
    perdure_worker_function bad = w;
    bad.handler = NULL;
    cr_assert_eq(perdure_worker_run_one(s, &bad, 1, "w", 0, &ran), PERDURE_E_MISUSE);
    bad = w;
    bad.size = 4;
    cr_assert_eq(perdure_worker_run_one(s, &bad, 1, "w", 0, &ran), PERDURE_E_MISUSE);
    perdure_store_close(s);
}

/* The handler's lease is taken over mid-invocation (it ran too long): its
 * next checkpoint is refused, run_one abandons the invocation and reports the
 * conflict; the new owner finishes the execution. */
typedef struct takeover {
    perdure_store *other;
    perdure_lease *stolen;
    int calls;
} takeover;

static int takeover_handler(perdure_context *ctx, void *user, const unsigned char *input,
                            unsigned long long input_len, perdure_buf *result, perdure_error_info *error)
{
    (void)input, (void)input_len, (void)error;
    takeover *t = user;
    t->calls++;
    perdure_sdk_outcome outcome = PERDURE_SDK_ERROR;
    const unsigned char *r;
    unsigned long long len;
    perdure_context_step(ctx, "a", NULL, simple_step, NULL, &outcome, &r, &len);
    if (outcome != PERDURE_SDK_OK)
        return 0;
    if (t->calls == 1) {
        fake_now += 1000;   /* past the 1 s lease: the other worker ends it as crashed */
        perdure_lease *none = NULL;
        if (perdure_store_lease(t->other, &fn_ref, 1, "thief", &none) || none)
            return 1;
        fake_now += 1000;   /* the crashed invocation's retry is due */
        if (perdure_store_lease(t->other, &fn_ref, 1, "thief", &t->stolen) || !t->stolen)
            return 1;
    }
    perdure_context_step(ctx, "b", NULL, simple_step, NULL, &outcome, &r, &len);
    if (outcome == PERDURE_SDK_OK)
        set_result(result, "\"done\"");
    return 0;
}

Test(worker, run_one_reports_a_lost_lease)
{
    perdure_store *s = open_store(true, 1000);
    takeover t = {.other = open_store(true, 1000)};
    char *arn = start(s, "fn", "taken-over");
    perdure_worker_function w = {sizeof w, "fn", NULL, takeover_handler, &t};
    int ran = 0;
    perdure_status st = perdure_worker_run_one(s, &w, 1, "w", 0, &ran);
    cr_assert_eq(ran, 1);
    cr_assert_eq(st, PERDURE_E_CONFLICT, "%s: %s", perdure_status_name(st), perdure_store_errmsg(s));
    cr_assert(strstr(perdure_store_errmsg(s), "lost"), "%s", perdure_store_errmsg(s));
    cr_assert_not_null(t.stolen);
    /* the new owner runs the invocation to the end */
    const unsigned char *input;
    unsigned long long len;
    OK(t.other, perdure_lease_input(t.stolen, &input, &len));
    perdure_vm_options o = {.size = sizeof o};
    perdure_vm_options_init(&o);
    o.wire = PERDURE_WIRE_MSGPACK;
    perdure_buf output = {0};
    OK(t.other, perdure_invoke_handler(&o, input, len, fake_now, takeover_handler, &t, perdure_lease_checkpoint,
                                       t.stolen, &output));
    OK(t.other, perdure_lease_complete(t.stolen, output.data, output.len));
    perdure_buf_free(&output);
    cr_assert_str_eq(status_of(s, arn), "SUCCEEDED");
    cr_assert_str_eq(history_types(s, arn),
                     "ExecutionStarted StepStarted StepSucceeded InvocationCompleted StepStarted StepSucceeded "
                     "InvocationCompleted ExecutionSucceeded");
    free(arn);
    perdure_store_close(t.other);
    perdure_store_close(s);
}

/* ---- chained invokes: the store starts the target and answers the caller ---- */

typedef struct invoker {
    const char *function;     /* FunctionName */
    const char *payload;      /* NULL: none */
    bool wait_after;          /* a 5 s wait after the invoke: one more replay */
    perdure_store *other;     /* non-NULL: run the target on this handle before suspending */
    const perdure_worker_function *other_fns;
    int invocations;
    int answers;              /* invocations where the invoke had finished */
    perdure_sdk_outcome outcome;
    char error_type[64];
} invoker;

/* invoke "call" -> (wait "after") -> the invoke's result, or "caught" */
static int invoker_handler(perdure_context *ctx, void *user, const unsigned char *input,
                           unsigned long long input_len, perdure_buf *result, perdure_error_info *error)
{
    (void)input, (void)input_len, (void)error;
    invoker *iv = user;
    iv->invocations++;
    perdure_sdk_outcome o = PERDURE_SDK_SUSPEND;
    const unsigned char *r = NULL;
    unsigned long long len = 0;
    perdure_status st = perdure_context_invoke(ctx, "call", iv->function, iv->payload,
                                               iv->payload ? strlen(iv->payload) : 0, &o, &r, &len);
    if (!st && o == PERDURE_SDK_SUSPEND && iv->other) {
        /* another worker runs the target to its end while this invocation
         * still runs */
        int ran = 0;
        if (perdure_worker_run_one(iv->other, iv->other_fns, 1, "other", 0, &ran) || !ran)
            iv->error_type[0] = '!';
    }
    if (st || o == PERDURE_SDK_SUSPEND)
        return 0;
    iv->answers++;
    iv->outcome = o;
    if (o == PERDURE_SDK_ERROR) {
        perdure_error_view e = {0};
        if (!perdure_context_last_error(ctx, &e) && e.error_type)
            snprintf(iv->error_type, sizeof iv->error_type, "%s", e.error_type);
        set_result(result, "\"caught\"");
        return 0;
    }
    if (iv->wait_after) {
        perdure_sdk_outcome w = PERDURE_SDK_SUSPEND;
        perdure_context_wait(ctx, "after", 5, &w);
        if (w != PERDURE_SDK_OK)
            return 0;
    }
    result->len = len;
    result->data = malloc(len ? len : 1);
    if (len)
        memcpy(result->data, r, len);
    return 0;
}

typedef struct target {
    const char *answer;       /* NULL: {"echo":<input>} */
    const char *fail_type;    /* non-NULL: fail with this ErrorType */
    int invocations;
    char input[256];
} target;

static int target_handler(perdure_context *ctx, void *user, const unsigned char *input,
                          unsigned long long input_len, perdure_buf *result, perdure_error_info *error)
{
    (void)ctx;
    target *t = user;
    t->invocations++;
    snprintf(t->input, sizeof t->input, "%.*s", (int)input_len, (const char *)input);
    if (t->fail_type) {
        error->error_type = t->fail_type;
        error->error_message = "the target broke";
        return 1;
    }
    if (t->answer) {
        set_result(result, t->answer);
    } else {
        char buf[300];
        snprintf(buf, sizeof buf, "{\"echo\":%s}", t->input);
        set_result(result, buf);
    }
    return 0;
}

/* The executions of function fn: how many, and the first's ARN (malloc'd). */
static size_t executions_of(perdure_store *s, const char *fn, char **first_arn)
{
    perdure_buf b = {0};
    OK(s, perdure_store_list(s, fn, NULL, &b));
    json_t *l = as_json(&b);
    json_t *arr = json_object_get(l, "DurableExecutions");
    size_t n = json_array_size(arr);
    if (first_arn)
        *first_arn = n ? strdup(json_string_value(json_object_get(json_array_get(arr, 0), "DurableExecutionArn")))
                       : NULL;
    json_decref(l);
    return n;
}

/* The first event of this type in arn's history (a new reference). */
static json_t *first_event(perdure_store *s, const char *arn, const char *type)
{
    perdure_buf b = {0};
    OK(s, perdure_store_history(s, arn, 1, &b));
    json_t *h = as_json(&b);
    size_t i;
    json_t *e, *found = NULL;
    json_array_foreach(json_object_get(h, "Events"), i, e)
    {
        if (!found && strcmp(json_string_value(json_object_get(e, "EventType")), type) == 0)
            found = json_incref(e);
    }
    json_decref(h);
    cr_assert_not_null(found, "no %s event in %s", type, arn);
    return found;
}

static const char *detail_str(json_t *event, const char *details, const char *key)
{
    return json_string_value(json_object_get(json_object_get(event, details), key));
}

/* Runs the worker until nothing is ready; returns how many invocations ran. */
static int run_all(perdure_store *s, const perdure_worker_function *fns, unsigned n)
{
    int total = 0, ran = 1;
    while (ran) {
        OK(s, perdure_worker_run_one(s, fns, n, "w", 0, &ran));
        total += ran;
        cr_assert_lt(total, 100, "the worker does not settle");
    }
    return total;
}

Test(worker, chained_invoke_returns_the_target_result)
{
    perdure_store *s = open_store(true, 0);
    char *caller = start(s, "caller", "caller-1");
    invoker iv = {.function = "target", .payload = "{\"n\":42}"};
    target t = {0};
    perdure_worker_function fns[] = {
        {sizeof fns[0], "caller", NULL, invoker_handler, &iv},
        {sizeof fns[0], "target", NULL, target_handler, &t},
    };
    int ran = 0;
    /* 1: the caller starts the invoke and suspends; the target exists */
    OK(s, perdure_worker_run_one(s, fns, 2, "w", 0, &ran));
    cr_assert_eq(ran, 1);
    cr_assert_eq(iv.invocations, 1);
    cr_assert_eq(t.invocations, 0);
    char *target_arn = NULL;
    cr_assert_eq(executions_of(s, "target", &target_arn), 1);
    cr_assert(strstr(target_arn, ":function:target:$LATEST/durable-execution/"), "%s", target_arn);
    cr_assert_str_eq(status_of(s, target_arn), "RUNNING");
    cr_assert_str_eq(history_types(s, caller), "ExecutionStarted ChainedInvokeStarted InvocationCompleted");
    json_t *started = first_event(s, caller, "ChainedInvokeStarted");
    cr_assert_str_eq(detail_str(started, "ChainedInvokeStartedDetails", "DurableExecutionArn"), target_arn);
    cr_assert_str_eq(detail_str(started, "ChainedInvokeStartedDetails", "FunctionName"), "target");
    cr_assert_str_eq(detail_str(started, "ChainedInvokeStartedDetails", "ExecutedVersion"), "$LATEST");
    json_decref(started);
    /* the target's input is the invoke's payload */
    perdure_buf b = {0};
    OK(s, perdure_store_describe(s, target_arn, &b));
    json_t *d = as_json(&b);
    cr_assert_str_eq(json_string_value(json_object_get(d, "InputPayload")), "{\"n\":42}");
    json_decref(d);
    /* 2: the target runs and ends; the caller becomes ready */
    fake_now += 100;
    OK(s, perdure_worker_run_one(s, fns, 2, "w", 0, &ran));
    cr_assert_eq(ran, 1);
    cr_assert_eq(t.invocations, 1);
    cr_assert_str_eq(t.input, "{\"n\":42}");
    cr_assert_str_eq(status_of(s, target_arn), "SUCCEEDED");
    cr_assert_str_eq(history_types(s, caller),
                     "ExecutionStarted ChainedInvokeStarted InvocationCompleted ChainedInvokeSucceeded");
    json_t *done = first_event(s, caller, "ChainedInvokeSucceeded");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(done, "ChainedInvokeSucceededDetails"), "Result"), "Payload")),
                     "{\"echo\":{\"n\":42}}");
    json_decref(done);
    /* 3: the caller replays the invoke and gets the value */
    fake_now += 100;
    OK(s, perdure_worker_run_one(s, fns, 2, "w", 0, &ran));
    cr_assert_eq(ran, 1);
    cr_assert_eq(iv.invocations, 2);
    cr_assert_eq(iv.outcome, PERDURE_SDK_OK);
    cr_assert_str_eq(status_of(s, caller), "SUCCEEDED");
    cr_assert_str_eq(history_types(s, caller), "ExecutionStarted ChainedInvokeStarted InvocationCompleted "
                                               "ChainedInvokeSucceeded InvocationCompleted ExecutionSucceeded");
    OK(s, perdure_store_describe(s, caller, &b));
    d = as_json(&b);
    cr_assert_str_eq(json_string_value(json_object_get(d, "Result")), "{\"echo\":{\"n\":42}}");
    json_decref(d);
    OK(s, perdure_worker_run_one(s, fns, 2, "w", 0, &ran));
    cr_assert_eq(ran, 0);
    cr_assert_eq(t.invocations, 1);
    cr_assert_eq(executions_of(s, "target", NULL), 1);
    free(target_arn);
    free(caller);
    perdure_store_close(s);
}

Test(worker, chained_invoke_of_a_failing_target)
{
    perdure_store *s = open_store(true, 0);
    char *caller = start(s, "caller", "caller-f");
    invoker iv = {.function = "target"};
    target t = {.fail_type = "TargetError"};
    perdure_worker_function fns[] = {
        {sizeof fns[0], "caller", NULL, invoker_handler, &iv},
        {sizeof fns[0], "target", NULL, target_handler, &t},
    };
    cr_assert_eq(run_all(s, fns, 2), 3);
    cr_assert_eq(t.invocations, 1);
    cr_assert_str_eq(t.input, "null", "no payload: a null input");
    cr_assert_eq(iv.answers, 1);
    cr_assert_eq(iv.outcome, PERDURE_SDK_ERROR);
    cr_assert_str_eq(iv.error_type, "TargetError");
    cr_assert_str_eq(status_of(s, caller), "SUCCEEDED");
    cr_assert_str_eq(history_types(s, caller), "ExecutionStarted ChainedInvokeStarted InvocationCompleted "
                                               "ChainedInvokeFailed InvocationCompleted ExecutionSucceeded");
    json_t *failed = first_event(s, caller, "ChainedInvokeFailed");
    json_t *err = json_object_get(json_object_get(json_object_get(failed, "ChainedInvokeFailedDetails"), "Error"),
                                  "Payload");
    cr_assert_str_eq(json_string_value(json_object_get(err, "ErrorType")), "TargetError");
    cr_assert_str_eq(json_string_value(json_object_get(err, "ErrorMessage")), "the target broke");
    json_decref(failed);
    free(caller);
    perdure_store_close(s);
}

/* The caller's first invocation crashes after the invoke's START was
 * checkpointed, and it replays twice more: the target is started once. */
Test(worker, chained_invoke_target_runs_once_across_replays)
{
    perdure_store *s = open_store(true, 0);
    char *caller = start(s, "caller", "caller-r");
    invoker iv = {.function = "target", .payload = "7", .wait_after = true};
    target t = {.answer = "\"once\""};
    perdure_worker_function fns[] = {
        {sizeof fns[0], "caller", NULL, invoker_handler, &iv},
        {sizeof fns[0], "target", NULL, target_handler, &t},
    };
    /* invocation 1 by hand: the handler runs, then the worker "dies" */
    perdure_function_ref ref = {"caller", NULL};
    perdure_lease *l = NULL;
    OK(s, perdure_store_lease(s, &ref, 1, "w", &l));
    cr_assert_not_null(l);
    const unsigned char *input;
    unsigned long long len;
    OK(s, perdure_lease_input(l, &input, &len));
    perdure_vm_options o = {.size = sizeof o};
    perdure_vm_options_init(&o);
    o.wire = PERDURE_WIRE_MSGPACK;
    perdure_buf output = {0};
    OK(s, perdure_invoke_handler(&o, input, len, fake_now, invoker_handler, &iv, perdure_lease_checkpoint, l,
                                 &output));
    perdure_buf_free(&output);
    OK(s, perdure_lease_abandon(l, "worker died"));
    cr_assert_eq(executions_of(s, "target", NULL), 1);
    /* the caller's retry (after 1 s) replays the START; the target ends */
    fake_now += 1000;
    run_all(s, fns, 2);
    cr_assert_eq(t.invocations, 1);
    cr_assert_eq(executions_of(s, "target", NULL), 1);
    cr_assert_str_eq(status_of(s, caller), "RUNNING", "the wait after the invoke");
    fake_now += 5000;
    run_all(s, fns, 2);
    cr_assert_str_eq(status_of(s, caller), "SUCCEEDED");
    cr_assert_eq(t.invocations, 1);
    cr_assert_eq(executions_of(s, "target", NULL), 1);
    cr_assert_eq(iv.invocations, 3);
    cr_assert_eq(iv.answers, 2, "after the target ended, and after the wait");
    cr_assert_str_eq(history_types(s, caller),
                     "ExecutionStarted ChainedInvokeStarted InvocationCompleted ChainedInvokeSucceeded "
                     "WaitStarted InvocationCompleted WaitSucceeded InvocationCompleted ExecutionSucceeded");
    json_t *crash = first_event(s, caller, "InvocationCompleted");
    cr_assert_not_null(json_object_get(json_object_get(crash, "InvocationCompletedDetails"), "Error"),
                       "the first invocation crashed");
    json_decref(crash);
    perdure_buf b = {0};
    OK(s, perdure_store_describe(s, caller, &b));
    json_t *d = as_json(&b);
    cr_assert_str_eq(json_string_value(json_object_get(d, "Result")), "\"once\"");
    json_decref(d);
    free(caller);
    perdure_store_close(s);
}

Test(worker, chained_invoke_by_arn_runs_the_qualified_version)
{
    perdure_store *s = open_store(true, 0);
    char *caller = start(s, "caller", "caller-v");
    invoker iv = {.function = "arn:aws:lambda:us-east-1:000000000000:function:target:2"};
    target latest = {.answer = "\"latest\""}, v2 = {.answer = "\"v2\""};
    perdure_worker_function fns[] = {
        {sizeof fns[0], "caller", NULL, invoker_handler, &iv},
        {sizeof fns[0], "target", NULL, target_handler, &latest},
        {sizeof fns[0], "target", "2", target_handler, &v2},
    };
    cr_assert_eq(run_all(s, fns, 3), 3);
    cr_assert_eq(latest.invocations, 0);
    cr_assert_eq(v2.invocations, 1);
    cr_assert_str_eq(status_of(s, caller), "SUCCEEDED");
    char *target_arn = NULL;
    cr_assert_eq(executions_of(s, "target", &target_arn), 1);
    cr_assert(strstr(target_arn, ":function:target:2/durable-execution/"), "%s", target_arn);
    json_t *started = first_event(s, caller, "ChainedInvokeStarted");
    cr_assert_str_eq(detail_str(started, "ChainedInvokeStartedDetails", "DurableExecutionArn"), target_arn);
    cr_assert_str_eq(detail_str(started, "ChainedInvokeStartedDetails", "ExecutedVersion"), "2");
    json_decref(started);
    perdure_buf b = {0};
    OK(s, perdure_store_describe(s, caller, &b));
    json_t *d = as_json(&b);
    cr_assert_str_eq(json_string_value(json_object_get(d, "Result")), "\"v2\"");
    json_decref(d);
    free(target_arn);
    free(caller);
    perdure_store_close(s);
}

/* Nobody serves the target: the caller waits; stopping the target answers
 * the caller with ChainedInvokeStopped. */
Test(worker, chained_invoke_of_a_stopped_target)
{
    perdure_store *s = open_store(true, 0);
    char *caller = start(s, "caller", "caller-s");
    invoker iv = {.function = "123456789012:function:nobody"};
    perdure_worker_function fns[] = {{sizeof fns[0], "caller", NULL, invoker_handler, &iv}};
    cr_assert_eq(run_all(s, fns, 1), 1);
    char *target_arn = NULL;
    cr_assert_eq(executions_of(s, "nobody", &target_arn), 1);
    fake_now += 60000;
    cr_assert_eq(run_all(s, fns, 1), 0, "the caller waits for the target");
    cr_assert_str_eq(status_of(s, target_arn), "RUNNING");
    OK(s, perdure_store_stop(s, target_arn, NULL));
    cr_assert_str_eq(history_types(s, caller),
                     "ExecutionStarted ChainedInvokeStarted InvocationCompleted ChainedInvokeStopped");
    cr_assert_eq(run_all(s, fns, 1), 1);
    cr_assert_eq(iv.outcome, PERDURE_SDK_ERROR);
    cr_assert_str_eq(status_of(s, caller), "SUCCEEDED");
    free(target_arn);
    free(caller);
    perdure_store_close(s);
}

/* A FunctionName that names no function fails the invoke at once. */
Test(worker, chained_invoke_of_an_invalid_function_name)
{
    perdure_store *s = open_store(true, 0);
    char *caller = start(s, "caller", "caller-bad");
    invoker iv = {.function = "arn:aws:lambda:us-east-1:000000000000:layer:x"};
    perdure_worker_function fns[] = {{sizeof fns[0], "caller", NULL, invoker_handler, &iv}};
    cr_assert_eq(run_all(s, fns, 1), 2);
    cr_assert_eq(iv.outcome, PERDURE_SDK_ERROR);
    cr_assert_str_eq(iv.error_type, "InvalidParameterValueException");
    cr_assert_str_eq(history_types(s, caller), "ExecutionStarted ChainedInvokeStarted InvocationCompleted "
                                               "ChainedInvokeFailed InvocationCompleted ExecutionSucceeded");
    free(caller);
    perdure_store_close(s);
}

/* The target ends while the caller's invocation still runs: the answer is
 * recorded when that invocation has ended, so that its suspension stands. */
Test(worker, chained_invoke_answer_waits_for_the_running_invocation)
{
    perdure_store *s = open_store(true, 0), *other = open_store(true, 0);
    char *caller = start(s, "caller", "caller-d");
    target t = {.answer = "\"fast\""};
    perdure_worker_function target_fn = {sizeof target_fn, "target", NULL, target_handler, &t};
    invoker iv = {.function = "target", .other = other, .other_fns = &target_fn};
    perdure_worker_function fns[] = {{sizeof fns[0], "caller", NULL, invoker_handler, &iv}};
    int ran = 0;
    OK(s, perdure_worker_run_one(s, fns, 1, "w", 0, &ran));
    cr_assert_eq(ran, 1);
    cr_assert_eq(t.invocations, 1, "the target ran during the caller's invocation");
    cr_assert_eq(iv.error_type[0], 0);
    cr_assert_str_eq(history_types(s, caller),
                     "ExecutionStarted ChainedInvokeStarted InvocationCompleted ChainedInvokeSucceeded");
    json_t *ic = first_event(s, caller, "InvocationCompleted");
    cr_assert_null(json_object_get(json_object_get(ic, "InvocationCompletedDetails"), "Error"));
    json_decref(ic);
    iv.other = NULL;
    cr_assert_eq(run_all(s, fns, 1), 1);
    cr_assert_str_eq(status_of(s, caller), "SUCCEEDED");
    cr_assert_str_eq(history_types(s, caller), "ExecutionStarted ChainedInvokeStarted InvocationCompleted "
                                               "ChainedInvokeSucceeded InvocationCompleted ExecutionSucceeded");
    free(caller);
    perdure_store_close(other);
    perdure_store_close(s);
}

Test(worker, context_invoke_misuse)
{
    perdure_sdk_outcome o;
    const unsigned char *r;
    unsigned long long len;
    cr_assert_eq(perdure_context_invoke(NULL, "call", "target", NULL, 0, &o, &r, &len), PERDURE_E_MISUSE);
}

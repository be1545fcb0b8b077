/* The service's execution state machine (core/exec.c). Two kinds of tests:
 * - the protocol's tables one row at a time (§4.1 transitions, §4.2 batch
 *   rules with their exact messages, tokens, timers, callbacks, invokes),
 *   with updates built as pd_update structs;
 * - whole histories (§6.3, §6.4) produced by the REAL replay VM and C SDK:
 *   their checkpoint requests are decoded, applied with pd_exec_checkpoint,
 *   and the responses encoded back, so the two halves must agree. The
 *   histories are matched event by event like the conformance suite does. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "exec.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define T0 1767225600000LL
#define EXEC_ID "exec-1"

/* protocol.md §2 vectors */
#define ID1 "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"
#define ID2 "c5faca15ac2f93578b39ef4b6bbb871bdedce4ddd584fd31f0bb66fade3947e6"
#define ID1_0 "1712f93e2f51df042e2b933907d75accfe34a48fe4a42a24e0b08131bc72d591"
#define ID1_1 "974bfc6321e227b0ff101342eaf19b336f002dc6cc99c18f0941a7755cc20fc4"

/* ---- the fake service around one pd_exec ------------------------------------ */

/* Deterministic "randomness" (an LCG): tests need repeatable tokens. */
static int fake_random(void *user, void *buf, size_t len)
{
    uint64_t *state = user;
    unsigned char *p = buf;
    for (size_t i = 0; i < len; i++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        p[i] = (unsigned char)(*state >> 56);
    }
    return 0;
}

typedef struct svc {
    pd_exec *x;
    uint64_t rnd;
    int64_t now;
    pd_err err;
    char token[80];                 /* the running invocation's newest token */
    unsigned requests;
    pd_checkpoint_response last;    /* the last checkpoint response */
} svc;

static pd_exec_config base_config(svc *s)
{
    return (pd_exec_config){.random = fake_random, .random_user = &s->rnd};
}

static void open_with(svc *s, const pd_exec_config *cfg)
{
    memset(s, 0, sizeof *s);
    s->now = T0;
    s->rnd = 1;
    pd_exec_config c = cfg ? *cfg : base_config(s);
    c.random_user = &s->rnd;
    pd_exec_options o = {.region = "us-east-1", .account = "123456789012", .function_name = "fn",
                         .version = "$LATEST", .name = "name", .id = EXEC_ID, .input = "{}", .input_len = 2,
                         .execution_timeout_s = 300};
    cr_assert_eq(pd_exec_new(&c, &o, s->now, &s->x, &s->err), PERDURE_OK, "%s", s->err.msg);
}

static void open_svc(svc *s) { open_with(s, NULL); }

static void close_svc(svc *s)
{
    pd_exec_free(s->x);
    pd_checkpoint_response_free(&s->last);
}

static void begin(svc *s)
{
    char rid[16];
    pd_invocation inv;
    snprintf(rid, sizeof rid, "req-%u", ++s->requests);
    cr_assert_eq(pd_exec_invocation_begin(s->x, s->now, rid, &inv, &s->err), PERDURE_OK, "%s", s->err.msg);
    snprintf(s->token, sizeof s->token, "%s", inv.token.data);
    pd_invocation_free(&inv);
}

static void end_with(svc *s, perdure_outcome status, const char *result)
{
    pd_output o = {.status = status};
    if (result)
        pd_bytes_set_str(&o.result, result);
    cr_assert_eq(pd_exec_invocation_end(s->x, &o, NULL, s->now, &s->err), PERDURE_OK, "%s", s->err.msg);
    pd_output_free(&o);
}

/* n updates (consumed) as one checkpoint with the current token. */
static perdure_status send(svc *s, size_t n, ...)
{
    pd_update u[8];
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        u[i] = va_arg(ap, pd_update);
    va_end(ap);
    pd_checkpoint_response_free(&s->last);
    perdure_status st = pd_exec_checkpoint(s->x, s->token, u, n, NULL, s->now, &s->last, &s->err);
    if (!st && s->last.token.present)
        snprintf(s->token, sizeof s->token, "%s", s->last.token.data);
    for (size_t i = 0; i < n; i++)
        pd_update_clear(&u[i]);
    return st;
}

#define OK(s, expr) cr_assert_eq((expr), PERDURE_OK, "%s", (s)->err.msg)

static void rejected(svc *s, perdure_status st, const char *message)
{
    cr_assert_eq(st, PERDURE_E_INVALID, "expected a rejection (%s), got %d", message, st);
    cr_assert_str_eq(s->err.msg, message);
}

static pd_error *make_error(const char *type, const char *message)
{
    perdure_error_info info = {.error_type = type, .error_message = message};
    return pd_error_from_info(&info);
}

/* ---- update builders ---- */

static pd_update U(perdure_op_type type, perdure_action action, const char *id)
{
    static const char *const sub_types[] = {"", "Step", "Wait", "Callback", "RunInChildContext", "ChainedInvoke"};
    pd_update u;
    pd_update_init(&u);
    snprintf(u.id, sizeof u.id, "%s", id);
    u.type = type;
    u.action = action;
    if ((unsigned)type < COUNT(sub_types))
        snprintf(u.sub_type, sizeof u.sub_type, "%s", sub_types[type]);
    return u;
}

static pd_update with_payload(pd_update u, const char *p)
{
    cr_assert_eq(pd_bytes_set_str(&u.payload, p), 0);
    return u;
}

static pd_update with_error(pd_update u, const char *type, const char *message)
{
    u.error = make_error(type, message);
    return u;
}

static pd_update with_parent(pd_update u, const char *parent)
{
    snprintf(u.parent_id, sizeof u.parent_id, "%s", parent);
    return u;
}

static pd_update with_name(pd_update u, const char *name)
{
    pd_bytes_set_str(&u.name, name);
    return u;
}

static pd_update with_delay(pd_update u, int64_t seconds)
{
    u.next_attempt_delay_s = seconds;
    return u;
}

static pd_update with_wait(pd_update u, int64_t seconds)
{
    u.wait_seconds = seconds;
    return u;
}

static pd_update with_callback(pd_update u, int64_t timeout_s, int64_t heartbeat_s)
{
    u.has_callback_options = true;
    u.callback_timeout_s = timeout_s;
    u.callback_heartbeat_s = heartbeat_s;
    return u;
}

static pd_update with_target(pd_update u, const char *function_name)
{
    pd_bytes_set_str(&u.function_name, function_name);
    return u;
}

/* An update that is valid apart from the transition itself. */
static pd_update valid(perdure_op_type type, perdure_action action, const char *id)
{
    pd_update u = U(type, action, id);
    switch (action) {
    case PERDURE_ACTION_START:
        if (type == PERDURE_TYPE_WAIT)
            return with_wait(u, 10);
        if (type == PERDURE_TYPE_CALLBACK)
            return with_callback(u, 10, 0);
        if (type == PERDURE_TYPE_CHAINED_INVOKE)
            return with_payload(with_target(u, "target"), "{\"n\":1}");
        return u;
    case PERDURE_ACTION_SUCCEED:
        return with_payload(u, "\"ok\"");
    case PERDURE_ACTION_FAIL:
        return with_error(u, "ValueError", "boom");
    case PERDURE_ACTION_RETRY:
        return with_delay(with_error(u, "ValueError", "boom"), 1);
    case PERDURE_ACTION_CANCEL:
        return u;
    }
    return u;
}

/* ---- reading the exec ---- */

static const pd_operation *op_of(svc *s, const char *id)
{
    const pd_operation *op = pd_exec_find_operation(s->x, id);
    cr_assert_not_null(op, "no operation %s", id);
    return op;
}

static const pd_event *last_event(svc *s)
{
    return pd_exec_event_at(s->x, pd_exec_event_count(s->x) - 1);
}

static const char *last_type(svc *s) { return pd_event_type_name(last_event(s)->type); }

/* The event types in order, joined by spaces: compact sequence checks. */
static char *types_of(svc *s, size_t from)
{
    static char buf[2048];
    buf[0] = 0;
    for (size_t i = from; i < pd_exec_event_count(s->x); i++) {
        strcat(buf, i > from ? " " : "");
        strcat(buf, pd_event_type_name(pd_exec_event_at(s->x, i)->type));
    }
    return buf;
}

static bool in_last_response(svc *s, const char *id)
{
    for (size_t i = 0; i < s->last.ops.len; i++)
        if (strcmp(s->last.ops.items[i].id, id) == 0)
            return true;
    return false;
}

/* ======================================================================
 * creation
 * ====================================================================== */

Test(create, execution_operation_and_started_event)
{
    svc s;
    open_svc(&s);
    pd_exec_info info;
    pd_exec_get_info(s.x, &info);
    cr_assert_str_eq(info.arn, "arn:aws:lambda:us-east-1:123456789012:function:fn:$LATEST/durable-execution/name/exec-1");
    const pd_operation *e = pd_exec_operation_at(s.x, 0);
    cr_assert_str_eq(e->id, EXEC_ID);
    cr_assert_eq(e->type, PERDURE_TYPE_EXECUTION);
    cr_assert_eq(e->status, PERDURE_STATUS_STARTED);
    cr_assert_eq(e->start_ms, T0);
    cr_assert_str_eq(e->input_payload.data, "{}");
    cr_assert_eq(pd_exec_event_count(s.x), 1);
    const pd_event *ev = pd_exec_event_at(s.x, 0);
    cr_assert_eq(ev->type, PD_EV_EXECUTION_STARTED);
    cr_assert_eq(ev->id, 1);
    cr_assert_str_eq(ev->op_id, EXEC_ID);
    cr_assert_eq(ev->seconds, 300);
    cr_assert_str_eq(pd_exec_status_name(pd_exec_status(s.x)), "RUNNING");
    cr_assert(pd_exec_wants_invocation(s.x, s.now), "the first invocation is wanted at once");
    close_svc(&s);
}

Test(create, generated_id_is_random_hex)
{
    svc s;
    memset(&s, 0, sizeof s);
    pd_exec_config c = base_config(&s);
    pd_exec_options o = {.region = "r", .account = "1", .function_name = "fn", .version = "7", .name = "n",
                         .execution_timeout_s = 1};
    cr_assert_eq(pd_exec_new(&c, &o, T0, &s.x, &s.err), PERDURE_OK, "%s", s.err.msg);
    const char *id = pd_exec_operation_at(s.x, 0)->id;
    cr_assert_eq(strlen(id), 32);
    cr_assert_eq(strspn(id, "0123456789abcdef"), 32);
    cr_assert_null(pd_exec_operation_at(s.x, 0)->input_payload.data, "no input: no InputPayload");
    pd_exec_free(s.x);
}

Test(create, invalid_options_are_refused)
{
    svc s;
    memset(&s, 0, sizeof s);
    pd_exec_config c = base_config(&s);
    const pd_exec_options good = {.region = "r", .account = "1", .function_name = "fn", .version = "$LATEST",
                                  .name = "n", .id = "i", .execution_timeout_s = 1};
    pd_exec_options bad[] = {good, good, good, good, good, good};
    bad[0].execution_timeout_s = 0;
    bad[1].execution_timeout_s = 31622401;
    bad[2].name = "has space";
    bad[3].id = "x/y";
    bad[4].input = "\xff";
    bad[4].input_len = 1;
    bad[5].function_name = "";
    for (size_t i = 0; i < COUNT(bad); i++) {
        s.x = (pd_exec *)&s;
        cr_assert_eq(pd_exec_new(&c, &bad[i], T0, &s.x, &s.err), PERDURE_E_INVALID, "case %zu", i);
        cr_assert_null(s.x);
    }
    pd_exec_config none = {0};
    cr_assert_eq(pd_exec_new(&none, &good, T0, &s.x, &s.err), PERDURE_E_MISUSE);
}

/* ======================================================================
 * §4.1: every transition, accepted and refused
 * ====================================================================== */

typedef struct transition {
    perdure_op_type type;
    perdure_op_status from;     /* brought there first (ABSENT: nothing) */
    perdure_action action;
    const char *refusal;        /* NULL: accepted */
    perdure_op_status to;
    const char *event;          /* the event it writes, NULL: none */
} transition;

#define A_START PERDURE_ACTION_START
#define A_SUCCEED PERDURE_ACTION_SUCCEED
#define A_FAIL PERDURE_ACTION_FAIL
#define A_RETRY PERDURE_ACTION_RETRY
#define A_CANCEL PERDURE_ACTION_CANCEL
#define ST(x) PERDURE_STATUS_##x
#define TY(x) PERDURE_TYPE_##x

static const char bad_action[] = "Invalid action for the given operation type.";
static const char step_start[] = "Invalid current STEP state to start.";
static const char step_close[] = "Invalid current STEP state to close.";
static const char step_retry[] = "Invalid current STEP state to re-attempt.";
static const char ctx_exists[] = "Cannot start a CONTEXT that already exist.";
static const char ctx_close[] = "Invalid current CONTEXT state to close.";
static const char wait_exists[] = "Cannot start a WAIT that already exist.";
static const char wait_cancel[] = "Cannot cancel a WAIT that does not exist or has already completed.";
static const char cb_exists[] = "Cannot start a CALLBACK that already exist.";
static const char inv_exists[] = "Cannot start a CHAINED_INVOKE operation that already exists.";
static const char inv_cancel[] = "Cannot cancel a CHAINED_INVOKE operation that does not exist or has already completed.";

static const transition transitions[] = {
    /* STEP */
    {TY(STEP), ST(ABSENT), A_START, NULL, ST(STARTED), "StepStarted"},
    {TY(STEP), ST(ABSENT), A_SUCCEED, NULL, ST(SUCCEEDED), "StepSucceeded"},
    {TY(STEP), ST(ABSENT), A_FAIL, NULL, ST(FAILED), "StepFailed"},
    {TY(STEP), ST(ABSENT), A_RETRY, NULL, ST(PENDING), "StepFailed"},
    {TY(STEP), ST(ABSENT), A_CANCEL, bad_action, 0, NULL},
    {TY(STEP), ST(STARTED), A_START, step_start, 0, NULL},
    {TY(STEP), ST(STARTED), A_SUCCEED, NULL, ST(SUCCEEDED), "StepSucceeded"},
    {TY(STEP), ST(STARTED), A_FAIL, NULL, ST(FAILED), "StepFailed"},
    {TY(STEP), ST(STARTED), A_RETRY, NULL, ST(PENDING), "StepFailed"},
    {TY(STEP), ST(PENDING), A_START, step_start, 0, NULL},
    {TY(STEP), ST(PENDING), A_SUCCEED, step_close, 0, NULL},
    {TY(STEP), ST(PENDING), A_FAIL, step_close, 0, NULL},
    {TY(STEP), ST(PENDING), A_RETRY, step_retry, 0, NULL},
    {TY(STEP), ST(READY), A_START, NULL, ST(STARTED), "StepStarted"},
    {TY(STEP), ST(READY), A_SUCCEED, NULL, ST(SUCCEEDED), "StepSucceeded"},
    {TY(STEP), ST(READY), A_FAIL, NULL, ST(FAILED), "StepFailed"},
    {TY(STEP), ST(READY), A_RETRY, NULL, ST(PENDING), "StepFailed"},
    {TY(STEP), ST(SUCCEEDED), A_START, step_start, 0, NULL},
    {TY(STEP), ST(SUCCEEDED), A_SUCCEED, step_close, 0, NULL},
    {TY(STEP), ST(SUCCEEDED), A_RETRY, step_retry, 0, NULL},
    {TY(STEP), ST(FAILED), A_FAIL, step_close, 0, NULL},
    {TY(STEP), ST(FAILED), A_START, step_start, 0, NULL},
    /* CONTEXT */
    {TY(CONTEXT), ST(ABSENT), A_START, NULL, ST(STARTED), "ContextStarted"},
    {TY(CONTEXT), ST(ABSENT), A_SUCCEED, NULL, ST(SUCCEEDED), "ContextSucceeded"},
    {TY(CONTEXT), ST(ABSENT), A_FAIL, NULL, ST(FAILED), "ContextFailed"},
    {TY(CONTEXT), ST(ABSENT), A_RETRY, bad_action, 0, NULL},
    {TY(CONTEXT), ST(ABSENT), A_CANCEL, bad_action, 0, NULL},
    {TY(CONTEXT), ST(STARTED), A_START, ctx_exists, 0, NULL},
    {TY(CONTEXT), ST(STARTED), A_SUCCEED, NULL, ST(SUCCEEDED), "ContextSucceeded"},
    {TY(CONTEXT), ST(STARTED), A_FAIL, NULL, ST(FAILED), "ContextFailed"},
    {TY(CONTEXT), ST(SUCCEEDED), A_START, ctx_exists, 0, NULL},
    {TY(CONTEXT), ST(SUCCEEDED), A_SUCCEED, ctx_close, 0, NULL},
    {TY(CONTEXT), ST(FAILED), A_FAIL, ctx_close, 0, NULL},
    /* WAIT */
    {TY(WAIT), ST(ABSENT), A_START, NULL, ST(STARTED), "WaitStarted"},
    {TY(WAIT), ST(ABSENT), A_CANCEL, wait_cancel, 0, NULL},
    {TY(WAIT), ST(ABSENT), A_SUCCEED, bad_action, 0, NULL},
    {TY(WAIT), ST(ABSENT), A_FAIL, bad_action, 0, NULL},
    {TY(WAIT), ST(ABSENT), A_RETRY, bad_action, 0, NULL},
    {TY(WAIT), ST(STARTED), A_START, wait_exists, 0, NULL},
    {TY(WAIT), ST(STARTED), A_CANCEL, NULL, ST(CANCELLED), "WaitCancelled"},
    {TY(WAIT), ST(SUCCEEDED), A_CANCEL, wait_cancel, 0, NULL},
    {TY(WAIT), ST(CANCELLED), A_CANCEL, wait_cancel, 0, NULL},
    {TY(WAIT), ST(SUCCEEDED), A_START, wait_exists, 0, NULL},
    /* CALLBACK: only START */
    {TY(CALLBACK), ST(ABSENT), A_START, NULL, ST(STARTED), "CallbackStarted"},
    {TY(CALLBACK), ST(STARTED), A_START, cb_exists, 0, NULL},
    {TY(CALLBACK), ST(SUCCEEDED), A_START, cb_exists, 0, NULL},
    {TY(CALLBACK), ST(TIMED_OUT), A_START, cb_exists, 0, NULL},
    {TY(CALLBACK), ST(STARTED), A_SUCCEED, bad_action, 0, NULL},
    {TY(CALLBACK), ST(STARTED), A_FAIL, bad_action, 0, NULL},
    {TY(CALLBACK), ST(STARTED), A_CANCEL, bad_action, 0, NULL},
    {TY(CALLBACK), ST(ABSENT), A_RETRY, bad_action, 0, NULL},
    /* CHAINED_INVOKE: START and CANCEL */
    {TY(CHAINED_INVOKE), ST(ABSENT), A_START, NULL, ST(STARTED), "ChainedInvokeStarted"},
    {TY(CHAINED_INVOKE), ST(STARTED), A_START, inv_exists, 0, NULL},
    {TY(CHAINED_INVOKE), ST(STARTED), A_CANCEL, NULL, ST(CANCELLED), NULL},
    {TY(CHAINED_INVOKE), ST(ABSENT), A_CANCEL, inv_cancel, 0, NULL},
    {TY(CHAINED_INVOKE), ST(SUCCEEDED), A_CANCEL, inv_cancel, 0, NULL},
    {TY(CHAINED_INVOKE), ST(STARTED), A_SUCCEED, bad_action, 0, NULL},
    {TY(CHAINED_INVOKE), ST(STARTED), A_FAIL, bad_action, 0, NULL},
    /* EXECUTION: SUCCEED and FAIL; the outcome's event waits for InvocationCompleted */
    {TY(EXECUTION), ST(ABSENT), A_SUCCEED, NULL, ST(SUCCEEDED), NULL},
    {TY(EXECUTION), ST(ABSENT), A_FAIL, NULL, ST(FAILED), NULL},
    {TY(EXECUTION), ST(ABSENT), A_START, bad_action, 0, NULL},
    {TY(EXECUTION), ST(ABSENT), A_RETRY, bad_action, 0, NULL},
    {TY(EXECUTION), ST(ABSENT), A_CANCEL, bad_action, 0, NULL},
};

/* Brings operation "op" of this type to status, through the SDK's updates
 * and the service's own completions. */
static void bring_to(svc *s, perdure_op_type type, perdure_op_status status)
{
    if (status == ST(ABSENT))
        return;
    OK(s, send(s, 1, valid(type, A_START, "op")));
    switch (status) {
    case ST(STARTED):
        return;
    case ST(PENDING):
    case ST(READY):
        OK(s, send(s, 1, valid(type, A_RETRY, "op")));
        if (status == ST(READY)) {
            s->now += 1000;
            OK(s, pd_exec_fire_timers(s->x, s->now, &s->err));
        }
        return;
    case ST(SUCCEEDED):
        if (type == TY(STEP) || type == TY(CONTEXT))
            OK(s, send(s, 1, valid(type, A_SUCCEED, "op")));
        else if (type == TY(WAIT))
            OK(s, pd_exec_fire_timers(s->x, s->now += 10000, &s->err));
        else if (type == TY(CALLBACK))
            OK(s, pd_exec_callback_succeed(s->x, op_of(s, "op")->callback_id.data, "1", 1, s->now, &s->err));
        else
            OK(s, pd_exec_invoke_complete(s->x, "op", ST(SUCCEEDED), "1", 1, NULL, s->now, &s->err));
        return;
    case ST(FAILED):
        OK(s, send(s, 1, valid(type, A_FAIL, "op")));
        return;
    case ST(CANCELLED):
        OK(s, send(s, 1, valid(type, A_CANCEL, "op")));
        return;
    case ST(TIMED_OUT):
        OK(s, pd_exec_fire_timers(s->x, s->now += 10000, &s->err));
        return;
    default:
        cr_assert_fail("no recipe for status %d", status);
    }
}

/* One row: the outcome must match, and a refusal leaves no trace. */
static void check_transition(size_t row, const transition *t)
{
    svc s;
    open_svc(&s);
    begin(&s);
    bring_to(&s, t->type, t->from);
    const pd_operation *before = pd_exec_find_operation(s.x, "op");
    perdure_op_status was = before ? before->status : ST(ABSENT);
    cr_assert_eq(was, t->from, "row %zu: setup reached %d", row, was);
    size_t events = pd_exec_event_count(s.x);
    perdure_status st = send(&s, 1, valid(t->type, t->action, "op"));
    if (t->refusal) {
        cr_assert_eq(st, PERDURE_E_INVALID, "row %zu: accepted", row);
        cr_assert_str_eq(s.err.msg, t->refusal, "row %zu", row);
        cr_assert_eq(pd_exec_event_count(s.x), events, "row %zu: a refused batch writes nothing", row);
    } else {
        cr_assert_eq(st, PERDURE_OK, "row %zu: %s", row, s.err.msg);
        perdure_op_status now = t->type == TY(EXECUTION) ? pd_exec_status(s.x) : op_of(&s, "op")->status;
        cr_assert_eq(now, t->to, "row %zu: status %d", row, now);
        cr_assert_eq(pd_exec_event_count(s.x), events + (t->event != NULL), "row %zu: one event or none", row);
        if (t->event)
            cr_assert_str_eq(last_type(&s), t->event, "row %zu", row);
    }
    close_svc(&s);
}

Test(transitions, table)
{
    for (size_t i = 0; i < COUNT(transitions); i++)
        check_transition(i, &transitions[i]);
}

/* The record each accepted action leaves (§4.1 Result column). */
Test(transitions, step_records)
{
    svc s;
    open_svc(&s);
    begin(&s);
    OK(&s, send(&s, 2, U(TY(STEP), A_START, "a"), with_delay(with_error(U(TY(STEP), A_RETRY, "a"), "E", "m"), 3)));
    const pd_operation *a = op_of(&s, "a");
    cr_assert_eq(a->status, ST(PENDING));
    cr_assert_eq(a->attempt, 1);
    cr_assert_eq(a->next_attempt_ms, s.now + 3000);
    cr_assert_str_eq(a->error->type.data, "E");
    cr_assert_eq(a->end_ms, 0, "PENDING is not terminal");
    cr_assert_eq(last_event(&s)->attempt, 1);
    cr_assert_eq(last_event(&s)->retry_delay_s, 3);
    /* The timer: PENDING -> READY, no event, NextAttemptTimestamp cleared (R6). */
    size_t events = pd_exec_event_count(s.x);
    OK(&s, pd_exec_fire_timers(s.x, s.now + 2999, &s.err));
    cr_assert_eq(op_of(&s, "a")->status, ST(PENDING));
    s.now += 3000;
    OK(&s, pd_exec_fire_timers(s.x, s.now, &s.err));
    cr_assert_eq(op_of(&s, "a")->status, ST(READY));
    cr_assert_eq(op_of(&s, "a")->next_attempt_ms, 0);
    cr_assert_eq(pd_exec_event_count(s.x), events);
    OK(&s, send(&s, 2, U(TY(STEP), A_START, "a"), with_payload(U(TY(STEP), A_SUCCEED, "a"), "\"v\"")));
    a = op_of(&s, "a");
    cr_assert_eq(a->status, ST(SUCCEEDED));
    cr_assert_eq(a->attempt, 2);
    cr_assert_str_eq(a->result.data, "\"v\"");
    cr_assert_eq(a->end_ms, s.now);
    cr_assert_eq(last_event(&s)->attempt, 2, "CurrentAttempt is the attempt that just ended");
    cr_assert_eq(last_event(&s)->retry_delay_s, 0, "no NextAttemptDelaySeconds without a next attempt");
    close_svc(&s);
}

Test(transitions, condition_poll_is_a_step_succeeded_with_the_state)
{
    svc s;
    open_svc(&s);
    begin(&s);
    pd_update start = U(TY(STEP), A_START, "c"), retry = with_delay(with_payload(U(TY(STEP), A_RETRY, "c"), "{\"n\":1}"), 5);
    snprintf(start.sub_type, sizeof start.sub_type, "WaitForCondition");
    snprintf(retry.sub_type, sizeof retry.sub_type, "WaitForCondition");
    OK(&s, send(&s, 2, start, retry));
    const pd_event *e = last_event(&s);
    cr_assert_eq(e->type, PD_EV_STEP_SUCCEEDED);
    cr_assert_str_eq(e->payload.data, "{\"n\":1}");
    cr_assert_eq(e->retry_delay_s, 5);
    cr_assert_str_eq(e->sub_type, "WaitForCondition");
    cr_assert_str_eq(op_of(&s, "c")->result.data, "{\"n\":1}", "the state is the Result");
    close_svc(&s);
}

Test(transitions, context_succeed_keeps_replay_children)
{
    svc s;
    open_svc(&s);
    begin(&s);
    pd_update u = with_payload(U(TY(CONTEXT), A_SUCCEED, "c"), "summary");
    u.has_context_options = true;
    u.replay_children = true;
    OK(&s, send(&s, 2, U(TY(CONTEXT), A_START, "c"), u));
    cr_assert(op_of(&s, "c")->replay_children);
    cr_assert_str_eq(types_of(&s, 1), "ContextStarted ContextSucceeded");
    close_svc(&s);
}

Test(transitions, wait_start_arms_the_timer_and_the_timer_succeeds_it)
{
    svc s;
    open_svc(&s);
    begin(&s);
    OK(&s, send(&s, 1, with_wait(U(TY(WAIT), A_START, "w"), 7)));
    const pd_event *e = last_event(&s);
    cr_assert_eq(e->seconds, 7);
    cr_assert_eq(e->scheduled_end_ms, s.now + 7000);
    cr_assert_eq(op_of(&s, "w")->scheduled_end_ms, s.now + 7000);
    OK(&s, pd_exec_fire_timers(s.x, s.now + 7000, &s.err));
    cr_assert_eq(op_of(&s, "w")->status, ST(SUCCEEDED));
    cr_assert_str_eq(last_type(&s), "WaitSucceeded");
    cr_assert_eq(last_event(&s)->seconds, 7, "WaitSucceeded{Duration}");
    close_svc(&s);
}

Test(transitions, options_are_required_and_in_range)
{
    static const struct {
        perdure_op_type type;
        perdure_action action;
        int64_t value;
        const char *message;
    } cases[] = {
        {TY(STEP), A_RETRY, 0, "Invalid StepOptions for the given action."},
        {TY(STEP), A_RETRY, 31622401, "Invalid StepOptions for the given action."},
        {TY(WAIT), A_START, 0, "Invalid WaitOptions for the given action."},
        {TY(WAIT), A_START, 31622401, "Invalid WaitOptions for the given action."},
        {TY(CHAINED_INVOKE), A_START, 0, "Update for CHAINED_INVOKE operation requires ChainedInvokeOptions."},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        svc s;
        open_svc(&s);
        begin(&s);
        pd_update u = U(cases[i].type, cases[i].action, "op");
        u.next_attempt_delay_s = cases[i].type == TY(STEP) ? cases[i].value : 0;
        u.wait_seconds = cases[i].type == TY(WAIT) ? cases[i].value : 0;
        rejected(&s, send(&s, 1, u), cases[i].message);
        close_svc(&s);
    }
}

Test(transitions, payload_and_error_rules)
{
    static const struct {
        perdure_op_type type;
        perdure_action action;
        bool payload, error;
        const char *message;
    } cases[] = {
        {TY(STEP), A_SUCCEED, true, true, "Cannot provide an Error for SUCCEED action."},
        {TY(STEP), A_FAIL, true, true, "Cannot provide a Payload for FAIL action."},
        {TY(CONTEXT), A_SUCCEED, false, true, "Cannot provide an Error for SUCCEED action."},
        {TY(CONTEXT), A_FAIL, true, false, "Cannot provide a Payload for FAIL action."},
        {TY(EXECUTION), A_SUCCEED, false, true, "Cannot provide an Error for SUCCEED action."},
        {TY(EXECUTION), A_FAIL, true, false, "Cannot provide a Payload for FAIL action."},
        {TY(STEP), A_RETRY, true, true, "Cannot provide both error and payload to RETRY a STEP."},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        svc s;
        open_svc(&s);
        begin(&s);
        pd_update u = with_delay(U(cases[i].type, cases[i].action, "op"), 1);
        if (cases[i].payload)
            u = with_payload(u, "1");
        if (cases[i].error)
            u = with_error(u, "E", "m");
        rejected(&s, send(&s, 1, u), cases[i].message);
        close_svc(&s);
    }
}

Test(transitions, step_result_limit_is_configurable)
{
    svc s;
    pd_exec_config c = {.random = fake_random, .max_step_result = 4};
    open_with(&s, &c);
    begin(&s);
    rejected(&s, send(&s, 1, with_payload(U(TY(STEP), A_SUCCEED, "a"), "12345")),
             "STEP output payload size must be less than or equal to 4 bytes");
    OK(&s, send(&s, 1, with_payload(U(TY(STEP), A_SUCCEED, "a"), "1234")));
    close_svc(&s);
}

/* ======================================================================
 * §4.2: batch validation
 * ====================================================================== */

Test(batch, execution_update_at_most_once_and_last)
{
    svc s;
    open_svc(&s);
    begin(&s);
    rejected(&s, send(&s, 2, valid(TY(EXECUTION), A_SUCCEED, "r1"), valid(TY(EXECUTION), A_SUCCEED, "r2")),
             "Cannot checkpoint multiple EXECUTION updates.");
    rejected(&s, send(&s, 2, valid(TY(EXECUTION), A_SUCCEED, "r1"), valid(TY(STEP), A_START, "a")),
             "EXECUTION checkpoint must be the last update.");
    OK(&s, send(&s, 2, valid(TY(STEP), A_START, "a"), valid(TY(EXECUTION), A_SUCCEED, "r1")));
    close_svc(&s);
}

Test(batch, same_id_only_as_start_then_completion)
{
    static const struct {
        perdure_op_type type;
        perdure_action first, second, third;   /* third: A_START means none */
        bool accepted;
    } cases[] = {
        {TY(STEP), A_START, A_SUCCEED, A_START, true},
        {TY(STEP), A_START, A_RETRY, A_START, true},
        {TY(CONTEXT), A_START, A_FAIL, A_START, true},
        {TY(STEP), A_START, A_START, A_START, false},
        {TY(STEP), A_SUCCEED, A_SUCCEED, A_START, false},
        {TY(STEP), A_START, A_SUCCEED, A_FAIL, false},
        {TY(WAIT), A_START, A_CANCEL, A_START, false},
        {TY(CHAINED_INVOKE), A_START, A_CANCEL, A_START, false},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        svc s;
        open_svc(&s);
        begin(&s);
        perdure_status st = cases[i].third == A_START
                                ? send(&s, 2, valid(cases[i].type, cases[i].first, "x"),
                                       valid(cases[i].type, cases[i].second, "x"))
                                : send(&s, 3, valid(cases[i].type, cases[i].first, "x"),
                                       valid(cases[i].type, cases[i].second, "x"), valid(cases[i].type, cases[i].third, "x"));
        if (cases[i].accepted)
            OK(&s, st);
        else
            rejected(&s, st, "Cannot checkpoint multiple operations with the same ID.");
        close_svc(&s);
    }
}

Test(batch, parent_must_be_a_context)
{
    svc s;
    open_svc(&s);
    begin(&s);
    OK(&s, send(&s, 2, valid(TY(CONTEXT), A_START, "ctx"), valid(TY(STEP), A_START, "s")));
    /* started earlier in the same batch */
    OK(&s, send(&s, 2, valid(TY(CONTEXT), A_START, "c2"), with_parent(valid(TY(STEP), A_START, "in-c2"), "c2")));
    /* recorded before */
    OK(&s, send(&s, 1, with_parent(valid(TY(WAIT), A_START, "in-ctx"), "ctx")));
    rejected(&s, send(&s, 1, with_parent(valid(TY(STEP), A_START, "x"), "nowhere")), "Invalid parent operation id.");
    rejected(&s, send(&s, 1, with_parent(valid(TY(STEP), A_START, "x"), "s")), "Invalid parent operation id.");
    rejected(&s, send(&s, 1, with_parent(valid(TY(STEP), A_START, "x"), EXEC_ID)), "Invalid parent operation id.");
    /* a parent's START must come before its children in the batch */
    rejected(&s, send(&s, 2, with_parent(valid(TY(STEP), A_START, "x"), "c3"), valid(TY(CONTEXT), A_START, "c3")),
             "Invalid parent operation id.");
    cr_assert_str_eq(op_of(&s, "in-c2")->parent_id, "c2");
    close_svc(&s);
}

Test(batch, identity_of_a_recorded_operation_cannot_change)
{
    svc s;
    open_svc(&s);
    begin(&s);
    OK(&s, send(&s, 2, valid(TY(CONTEXT), A_START, "ctx"), valid(TY(CONTEXT), A_START, "ctx2")));
    OK(&s, send(&s, 1, with_name(with_parent(valid(TY(STEP), A_START, "a"), "ctx"), "charge")));
    pd_update sub = valid(TY(STEP), A_SUCCEED, "a");
    snprintf(sub.sub_type, sizeof sub.sub_type, "WaitForCondition");
    rejected(&s, send(&s, 1, valid(TY(WAIT), A_CANCEL, "a")), "Inconsistent operation type.");
    rejected(&s, send(&s, 1, sub), "Inconsistent operation subtype.");
    rejected(&s, send(&s, 1, with_name(valid(TY(STEP), A_SUCCEED, "a"), "other")), "Inconsistent operation name.");
    rejected(&s, send(&s, 1, with_parent(valid(TY(STEP), A_SUCCEED, "a"), "ctx2")), "Inconsistent parent operation id.");
    /* absent fields are not compared */
    OK(&s, send(&s, 1, valid(TY(STEP), A_SUCCEED, "a")));
    close_svc(&s);
}

Test(batch, error_object_size_limit)
{
    svc s;
    open_svc(&s);
    begin(&s);
    char *big = malloc(33000);
    memset(big, 'x', 32999);
    big[32999] = 0;
    rejected(&s, send(&s, 1, with_error(U(TY(STEP), A_FAIL, "a"), "E", big)),
             "Error object size must be less than 32768 bytes.");
    big[32700] = 0;
    OK(&s, send(&s, 1, with_error(U(TY(STEP), A_FAIL, "a"), "E", big)));
    free(big);
    close_svc(&s);
}

Test(batch, unknown_type)
{
    svc s;
    open_svc(&s);
    begin(&s);
    rejected(&s, send(&s, 1, U((perdure_op_type)9, A_START, "a")), "Unknown operation type.");
    close_svc(&s);
}

/* Rule 7 and the atomicity: every update is checked against the state
 * before the batch, and one bad update rejects them all. */
Test(batch, checked_against_the_state_before_and_rejected_whole)
{
    svc s;
    open_svc(&s);
    begin(&s);
    size_t events = pd_exec_event_count(s.x);
    char token[80];
    snprintf(token, sizeof token, "%s", s.token);
    rejected(&s, send(&s, 3, valid(TY(STEP), A_START, "a"), valid(TY(WAIT), A_START, "w"),
                      with_error(valid(TY(STEP), A_SUCCEED, "b"), "E", "m")),
             "Cannot provide an Error for SUCCEED action.");
    cr_assert_null(pd_exec_find_operation(s.x, "a"));
    cr_assert_null(pd_exec_find_operation(s.x, "w"));
    cr_assert_eq(pd_exec_event_count(s.x), events);
    cr_assert_str_eq(s.token, token, "a rejected batch does not consume the token");
    /* START then SUCCEED of an absent STEP: SUCCEED is judged against "absent" */
    OK(&s, send(&s, 2, valid(TY(STEP), A_START, "a"), valid(TY(STEP), A_SUCCEED, "a")));
    cr_assert_str_eq(types_of(&s, events), "StepStarted StepSucceeded");
    close_svc(&s);
}

/* ======================================================================
 * §4.3: tokens, deltas, ClientToken
 * ====================================================================== */

Test(tokens, rotate_on_every_checkpoint_and_stale_ones_are_refused)
{
    svc s;
    open_svc(&s);
    rejected(&s, send(&s, 0), "Invalid Checkpoint Token: no invocation is running");
    begin(&s);
    char first[80];
    snprintf(first, sizeof first, "%s", s.token);
    cr_assert_eq(strlen(first), 32);
    cr_assert_eq(strspn(first, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="), 32);
    OK(&s, send(&s, 0));   /* an empty batch is legal and rotates the token */
    cr_assert_str_neq(s.token, first);
    pd_checkpoint_response r;
    perdure_status st = pd_exec_checkpoint(s.x, first, NULL, 0, NULL, s.now, &r, &s.err);
    cr_assert_eq(st, PERDURE_E_INVALID);
    cr_assert(strncmp(s.err.msg, "Invalid Checkpoint Token", 24) == 0, "%s", s.err.msg);
    st = pd_exec_checkpoint(s.x, "bm9wZQ==", NULL, 0, NULL, s.now, &r, &s.err);
    cr_assert(st == PERDURE_E_INVALID && strncmp(s.err.msg, "Invalid Checkpoint Token", 24) == 0);
    end_with(&s, PERDURE_OUTCOME_SUCCEEDED, "1");
    rejected(&s, send(&s, 0), "Invalid Checkpoint Token: no invocation is running");
    close_svc(&s);
}

Test(tokens, client_token_replays_the_cached_response)
{
    svc s;
    open_svc(&s);
    begin(&s);
    char inbound[80];
    snprintf(inbound, sizeof inbound, "%s", s.token);
    pd_update u = valid(TY(STEP), A_SUCCEED, "a");
    pd_checkpoint_response r1, r2, r3;
    OK(&s, pd_exec_checkpoint(s.x, inbound, &u, 1, "ct-1", s.now, &r1, &s.err));
    size_t events = pd_exec_event_count(s.x);
    /* the retry: same ClientToken, same (now consumed) token */
    OK(&s, pd_exec_checkpoint(s.x, inbound, &u, 1, "ct-1", s.now + 1000, &r2, &s.err));
    cr_assert_str_eq(r2.token.data, r1.token.data);
    cr_assert_eq(r2.ops.len, r1.ops.len);
    cr_assert_str_eq(r2.ops.items[0].id, "a");
    cr_assert_eq(pd_exec_event_count(s.x), events, "nothing applied twice");
    /* another ClientToken, or too late, is a stale token */
    cr_assert_eq(pd_exec_checkpoint(s.x, inbound, &u, 1, "ct-2", s.now, &r3, &s.err), PERDURE_E_INVALID);
    cr_assert_eq(pd_exec_checkpoint(s.x, inbound, &u, 1, "ct-1", s.now + 15 * 60 * 1000 + 1, &r3, &s.err),
                 PERDURE_E_INVALID);
    cr_assert(strncmp(s.err.msg, "Invalid Checkpoint Token", 24) == 0);
    rejected(&s, pd_exec_checkpoint(s.x, r1.token.data, NULL, 0, "has space", s.now, &r3, &s.err),
             "ClientToken must be 1 to 64 characters of [\\x21-\\x7E].");
    pd_update_clear(&u);
    pd_checkpoint_response_free(&r1);
    pd_checkpoint_response_free(&r2);
    close_svc(&s);
}

Test(tokens, delta_holds_what_changed_since_last_delivered)
{
    svc s;
    open_svc(&s);
    begin(&s);
    OK(&s, send(&s, 2, valid(TY(STEP), A_SUCCEED, "a"), valid(TY(CALLBACK), A_START, "cb")));
    cr_assert(in_last_response(&s, "a") && in_last_response(&s, "cb"));
    cr_assert_eq(s.last.ops.len, 2);
    cr_assert(s.last.ops.items[1].callback_id.present, "the CallbackId exists only in the response");
    OK(&s, send(&s, 0));
    cr_assert_eq(s.last.ops.len, 0, "nothing changed");
    /* a service-made change between checkpoints reaches the next delta */
    OK(&s, pd_exec_callback_succeed(s.x, op_of(&s, "cb")->callback_id.data, "\"y\"", 3, s.now, &s.err));
    OK(&s, send(&s, 1, valid(TY(STEP), A_SUCCEED, "b")));
    cr_assert_eq(s.last.ops.len, 2);
    cr_assert_str_eq(s.last.ops.items[0].id, "cb", "start order");
    cr_assert_eq(s.last.ops.items[0].status, ST(SUCCEEDED));
    cr_assert_str_eq(s.last.ops.items[1].id, "b");
    close_svc(&s);
}

Test(tokens, due_timers_complete_before_the_delta)
{
    svc s;
    open_svc(&s);
    begin(&s);
    OK(&s, send(&s, 2, with_wait(U(TY(WAIT), A_START, "w"), 1), valid(TY(STEP), A_RETRY, "r")));
    s.now += 1000;
    OK(&s, send(&s, 1, valid(TY(STEP), A_SUCCEED, "a")));
    cr_assert_str_eq(types_of(&s, 1), "WaitStarted StepFailed StepSucceeded WaitSucceeded",
                     "the batch's events, then the completions");
    cr_assert(in_last_response(&s, "w") && in_last_response(&s, "r"));
    cr_assert_eq(op_of(&s, "w")->status, ST(SUCCEEDED));
    cr_assert_eq(op_of(&s, "r")->status, ST(READY));
    close_svc(&s);
}

Test(tokens, invocation_input_has_every_operation_in_start_order)
{
    svc s;
    open_svc(&s);
    begin(&s);
    OK(&s, send(&s, 3, valid(TY(STEP), A_SUCCEED, "z"), valid(TY(STEP), A_SUCCEED, "a"),
                with_wait(U(TY(WAIT), A_START, "m"), 5)));
    end_with(&s, PERDURE_OUTCOME_PENDING, NULL);
    pd_invocation inv;
    OK(&s, pd_exec_invocation_begin(s.x, s.now, "req-2", &inv, &s.err));
    const char *order[] = {EXEC_ID, "z", "a", "m"};
    cr_assert_eq(inv.ops.len, COUNT(order));
    for (size_t i = 0; i < COUNT(order); i++)
        cr_assert_str_eq(inv.ops.items[i].id, order[i]);
    cr_assert_str_eq(inv.arn.data, "arn:aws:lambda:us-east-1:123456789012:function:fn:$LATEST/durable-execution/name/exec-1");
    pd_invocation_free(&inv);
    cr_assert_eq(pd_exec_invocation_begin(s.x, s.now, "req-3", &inv, &s.err), PERDURE_E_MISUSE,
                 "one invocation at a time");
    close_svc(&s);
}

/* ======================================================================
 * invocations: outputs, crashes, re-invocation (§3.2, §4.6, §4.12, §4.13)
 * ====================================================================== */

Test(invocations, crash_records_runtime_exit_error_and_wants_another)
{
    svc s;
    open_svc(&s);
    begin(&s);
    cr_assert_not(pd_exec_wants_invocation(s.x, s.now), "one is running");
    OK(&s, pd_exec_invocation_end(s.x, NULL, "signal: killed", s.now, &s.err));
    const pd_event *ic = last_event(&s);
    cr_assert_eq(ic->type, PD_EV_INVOCATION_COMPLETED);
    cr_assert_str_eq(ic->op_id, "", "InvocationCompleted names no operation");
    cr_assert_str_eq(ic->request_id.data, "req-1");
    cr_assert_str_eq(ic->error->type.data, "Runtime.ExitError");
    cr_assert_str_eq(ic->error->message.data, "signal: killed");
    cr_assert(pd_exec_wants_invocation(s.x, s.now));
    cr_assert_eq(pd_exec_invocation_end(s.x, NULL, NULL, s.now, &s.err), PERDURE_E_MISUSE);
    close_svc(&s);
}

Test(invocations, invalid_outputs_end_the_invocation_as_failed)
{
    static const struct {
        perdure_outcome status;
        bool result, error;
        const char *message;
    } cases[] = {
        {PERDURE_OUTCOME_PENDING, false, false, "Cannot return PENDING status with no pending operations."},
        {PERDURE_OUTCOME_SUCCEEDED, true, true, "Cannot provide an Error for SUCCEEDED status."},
        {PERDURE_OUTCOME_FAILED, true, true, "Cannot provide a Result for FAILED status."},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        svc s;
        open_svc(&s);
        begin(&s);
        pd_output o = {.status = cases[i].status};
        if (cases[i].result)
            pd_bytes_set_str(&o.result, "1");
        if (cases[i].error)
            o.error = make_error("E", "m");
        rejected(&s, pd_exec_invocation_end(s.x, &o, NULL, s.now, &s.err), cases[i].message);
        cr_assert_str_eq(types_of(&s, 1), "InvocationCompleted");
        cr_assert_str_eq(last_event(&s)->error->type.data, "InvalidParameterValueException");
        cr_assert_str_eq(last_event(&s)->error->message.data, cases[i].message);
        cr_assert_not(pd_exec_invocation_running(s.x));
        cr_assert_eq(pd_exec_status(s.x), ST(STARTED));
        cr_assert(pd_exec_wants_invocation(s.x, s.now));
        pd_output_free(&o);
        close_svc(&s);
    }
}

Test(invocations, pending_is_fine_while_something_waits_on_the_service)
{
    static const struct {
        perdure_op_type type;
        perdure_action action;
    } waiting[] = {{TY(STEP), A_RETRY}, {TY(WAIT), A_START}, {TY(CALLBACK), A_START}, {TY(CHAINED_INVOKE), A_START}};
    for (size_t i = 0; i < COUNT(waiting); i++) {
        svc s;
        open_svc(&s);
        begin(&s);
        OK(&s, send(&s, 1, valid(waiting[i].type, waiting[i].action, "op")));
        end_with(&s, PERDURE_OUTCOME_PENDING, NULL);
        cr_assert_not(pd_exec_wants_invocation(s.x, s.now), "nothing has happened yet");
        close_svc(&s);
    }
}

Test(invocations, success_and_failure_outputs_end_the_execution)
{
    svc s;
    open_svc(&s);
    begin(&s);
    end_with(&s, PERDURE_OUTCOME_SUCCEEDED, "\"done\"");
    cr_assert_str_eq(types_of(&s, 1), "InvocationCompleted ExecutionSucceeded");
    cr_assert_null(pd_exec_event_at(s.x, 1)->error, "a clean invocation has no Error");
    const pd_bytes *result;
    const pd_error *error;
    pd_exec_result(s.x, &result, &error);
    cr_assert_str_eq(result->data, "\"done\"");
    cr_assert_null(error);
    cr_assert_str_eq(pd_exec_status_name(pd_exec_status(s.x)), "SUCCEEDED");
    cr_assert_not(pd_exec_wants_invocation(s.x, s.now));
    pd_invocation inv;
    cr_assert_eq(pd_exec_invocation_begin(s.x, s.now, "r", &inv, &s.err), PD_EXEC_E_ENDED);
    close_svc(&s);

    open_svc(&s);
    begin(&s);
    pd_output o = {.status = PERDURE_OUTCOME_FAILED, .error = make_error("ValueError", "no")};
    OK(&s, pd_exec_invocation_end(s.x, &o, NULL, s.now, &s.err));
    pd_output_free(&o);
    cr_assert_str_eq(types_of(&s, 1), "InvocationCompleted ExecutionFailed", "suite 8-19");
    pd_exec_result(s.x, &result, &error);
    cr_assert_null(result);
    cr_assert_str_eq(error->type.data, "ValueError");
    close_svc(&s);
}

/* §4.12: the oversized result is checkpointed, then the output's Result is "". */
Test(invocations, checkpointed_result_is_the_execution_result)
{
    svc s;
    open_svc(&s);
    begin(&s);
    OK(&s, send(&s, 2, valid(TY(STEP), A_SUCCEED, "a"),
                with_payload(U(TY(EXECUTION), A_SUCCEED, "execution-result-1767225600000"), "\"huge\"")));
    cr_assert_not(s.last.token.present, "the execution ended: no token");
    cr_assert_eq(pd_exec_status(s.x), ST(SUCCEEDED));
    cr_assert_str_eq(types_of(&s, 1), "StepSucceeded", "the outcome's event waits for InvocationCompleted");
    rejected(&s, send(&s, 0), "Invalid Checkpoint Token: the token is stale or unknown");
    end_with(&s, PERDURE_OUTCOME_SUCCEEDED, "");
    cr_assert_str_eq(types_of(&s, 1), "StepSucceeded InvocationCompleted ExecutionSucceeded");
    cr_assert_str_eq(last_event(&s)->payload.data, "\"huge\"");
    const pd_bytes *result;
    pd_exec_result(s.x, &result, NULL);
    cr_assert_str_eq(result->data, "\"huge\"");
    close_svc(&s);
}

Test(invocations, failed_invocations_are_retried_after_a_delay_then_fail_the_execution)
{
    svc s;
    pd_exec_config c = {.random = fake_random, .max_failed_invocations = 3, .invocation_retry_delay_ms = 5000};
    open_with(&s, &c);
    for (int i = 0; i < 2; i++) {
        begin(&s);
        OK(&s, pd_exec_invocation_end(s.x, NULL, "boom", s.now, &s.err));
        int64_t due;
        cr_assert_not(pd_exec_wants_invocation(s.x, s.now + 4999));
        cr_assert(pd_exec_next_wakeup(s.x, &due));
        cr_assert_eq(due, s.now + 5000);
        s.now += 5000;
        cr_assert(pd_exec_wants_invocation(s.x, s.now));
    }
    /* a clean invocation resets the count */
    begin(&s);
    OK(&s, send(&s, 1, valid(TY(STEP), A_RETRY, "a")));
    end_with(&s, PERDURE_OUTCOME_PENDING, NULL);
    OK(&s, pd_exec_fire_timers(s.x, s.now += 1000, &s.err));
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(pd_exec_status(s.x), ST(STARTED), "failure %d", i);
        s.now += 5000;
        begin(&s);
        OK(&s, pd_exec_invocation_end(s.x, NULL, "boom", s.now, &s.err));
    }
    cr_assert_str_eq(types_of(&s, pd_exec_event_count(s.x) - 2), "InvocationCompleted ExecutionFailed");
    cr_assert_str_eq(last_event(&s)->error->type.data, "Runtime.ExitError");
    cr_assert_eq(pd_exec_status(s.x), ST(FAILED));
    close_svc(&s);
}

Test(invocations, a_change_the_handler_never_saw_wants_another_invocation)
{
    svc s;
    open_svc(&s);
    begin(&s);
    OK(&s, send(&s, 2, valid(TY(CALLBACK), A_START, "cb"), with_wait(U(TY(WAIT), A_START, "w"), 60)));
    /* delivered in a delta: no extra invocation needed for it */
    OK(&s, pd_exec_callback_succeed(s.x, op_of(&s, "cb")->callback_id.data, "1", 1, s.now, &s.err));
    OK(&s, send(&s, 0));
    end_with(&s, PERDURE_OUTCOME_PENDING, NULL);
    cr_assert_not(pd_exec_wants_invocation(s.x, s.now));
    /* after its last checkpoint: the handler missed it */
    begin(&s);
    OK(&s, send(&s, 1, valid(TY(CALLBACK), A_START, "cb2")));
    OK(&s, pd_exec_callback_succeed(s.x, op_of(&s, "cb2")->callback_id.data, "1", 1, s.now, &s.err));
    end_with(&s, PERDURE_OUTCOME_PENDING, NULL);
    cr_assert(pd_exec_wants_invocation(s.x, s.now));
    close_svc(&s);
}

Test(invocations, pending_on_a_callback_answered_after_the_last_checkpoint_is_accepted)
{
    svc s;
    open_svc(&s);
    begin(&s);
    OK(&s, send(&s, 1, valid(TY(CALLBACK), A_START, "cb")));
    /* answered between the handler's last checkpoint and its PENDING output:
     * nothing is pending any more, but the handler could not know */
    OK(&s, pd_exec_callback_succeed(s.x, op_of(&s, "cb")->callback_id.data, "1", 1, s.now, &s.err));
    end_with(&s, PERDURE_OUTCOME_PENDING, NULL);
    cr_assert_null(last_event(&s)->error, "the invocation did not fail");
    cr_assert(pd_exec_wants_invocation(s.x, s.now), "at once, to see the answer");
    close_svc(&s);
}

/* ======================================================================
 * callbacks (§4.9)
 * ====================================================================== */

static const char *start_callback(svc *s, const char *id, int64_t timeout_s, int64_t heartbeat_s)
{
    OK(s, send(s, 1, with_callback(U(TY(CALLBACK), A_START, id), timeout_s, heartbeat_s)));
    end_with(s, PERDURE_OUTCOME_PENDING, NULL);
    return op_of(s, id)->callback_id.data;
}

Test(callbacks, id_is_opaque_base64_with_192_random_bits)
{
    svc s;
    open_svc(&s);
    begin(&s);
    OK(&s, send(&s, 2, valid(TY(CALLBACK), A_START, "a"), valid(TY(CALLBACK), A_START, "b")));
    const char *a = op_of(&s, "a")->callback_id.data, *b = op_of(&s, "b")->callback_id.data;
    cr_assert_eq(strlen(a), 32);
    cr_assert_eq(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="), 32);
    cr_assert_str_neq(a, b);
    cr_assert_null(strstr(a, EXEC_ID));
    const pd_event *e = last_event(&s);
    cr_assert_str_eq(e->callback_id.data, b);
    cr_assert_eq(e->timeout_s, 10);
    cr_assert_eq(e->heartbeat_s, 0);
    close_svc(&s);
}

Test(callbacks, success_then_the_first_answer_stands)
{
    svc s;
    open_svc(&s);
    begin(&s);
    const char *id = start_callback(&s, "cb", 0, 0);
    s.now += 42000;
    OK(&s, pd_exec_callback_succeed(s.x, id, "{\"approved\": true}", 18, s.now, &s.err));
    const pd_operation *op = op_of(&s, "cb");
    cr_assert_eq(op->status, ST(SUCCEEDED));
    cr_assert_str_eq(op->result.data, "{\"approved\": true}");
    cr_assert_eq(op->end_ms, s.now);
    cr_assert_str_eq(last_type(&s), "CallbackSucceeded");
    cr_assert_str_eq(last_event(&s)->payload.data, "{\"approved\": true}");
    cr_assert(pd_exec_wants_invocation(s.x, s.now));
    size_t events = pd_exec_event_count(s.x);
    cr_assert_eq(pd_exec_callback_succeed(s.x, id, "2", 1, s.now, &s.err), PD_EXEC_E_COMPLETED);
    cr_assert_eq(pd_exec_callback_fail(s.x, id, NULL, s.now, &s.err), PD_EXEC_E_COMPLETED);
    cr_assert_eq(pd_exec_callback_heartbeat(s.x, id, s.now, &s.err), PD_EXEC_E_COMPLETED);
    cr_assert(strstr(s.err.msg, "already completed"), "%s", s.err.msg);
    cr_assert_str_eq(op_of(&s, "cb")->result.data, "{\"approved\": true}");
    cr_assert_eq(pd_exec_event_count(s.x), events);
    close_svc(&s);
}

Test(callbacks, empty_body_and_limits)
{
    svc s;
    open_svc(&s);
    begin(&s);
    OK(&s, send(&s, 2, valid(TY(CALLBACK), A_START, "a"), valid(TY(CALLBACK), A_START, "b")));
    char *big = calloc(262145, 1);
    memset(big, 'x', 262145);
    cr_assert_eq(pd_exec_callback_succeed(s.x, op_of(&s, "a")->callback_id.data, big, 262145, s.now, &s.err),
                 PERDURE_E_TOO_LARGE);
    cr_assert_eq(pd_exec_callback_succeed(s.x, op_of(&s, "a")->callback_id.data, "\xc3", 1, s.now, &s.err),
                 PERDURE_E_INVALID);
    OK(&s, pd_exec_callback_succeed(s.x, op_of(&s, "a")->callback_id.data, big, 262144, s.now, &s.err));
    OK(&s, pd_exec_callback_succeed(s.x, op_of(&s, "b")->callback_id.data, NULL, 0, s.now, &s.err));
    cr_assert(op_of(&s, "b")->result.present && op_of(&s, "b")->result.len == 0, "an empty body is an empty Result");
    free(big);
    close_svc(&s);
}

Test(callbacks, failure_records_the_error_object)
{
    svc s;
    open_svc(&s);
    begin(&s);
    const char *id = start_callback(&s, "cb", 0, 0);
    pd_error *e = make_error("Rejected", "not approved");
    OK(&s, pd_exec_callback_fail(s.x, id, e, s.now, &s.err));
    pd_error_free(e);
    cr_assert_eq(op_of(&s, "cb")->status, ST(FAILED));
    cr_assert_str_eq(op_of(&s, "cb")->error->type.data, "Rejected");
    cr_assert_str_eq(last_type(&s), "CallbackFailed");
    cr_assert_str_eq(last_event(&s)->error->message.data, "not approved");
    close_svc(&s);
}

Test(callbacks, timeout_and_heartbeat_timeout)
{
    static const struct {
        int64_t timeout_s, heartbeat_s, fires_after_s;
        const char *type, *message;
    } cases[] = {
        {10, 0, 10, "Callback.Timeout", "Callback timed out"},
        {0, 5, 5, "Callback.Heartbeat", "Callback timed out on heartbeat"},
        {10, 10, 10, "Callback.Timeout", "Callback timed out"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        svc s;
        open_svc(&s);
        begin(&s);
        int64_t started = s.now;
        const char *id = start_callback(&s, "cb", cases[i].timeout_s, cases[i].heartbeat_s);
        int64_t due;
        cr_assert(pd_exec_next_wakeup(s.x, &due));
        cr_assert_eq(due, started + cases[i].fires_after_s * 1000);
        OK(&s, pd_exec_fire_timers(s.x, due - 1, &s.err));
        cr_assert_eq(op_of(&s, "cb")->status, ST(STARTED));
        OK(&s, pd_exec_fire_timers(s.x, due, &s.err));
        const pd_operation *op = op_of(&s, "cb");
        cr_assert_eq(op->status, ST(TIMED_OUT));
        cr_assert_str_eq(op->error->type.data, cases[i].type);
        cr_assert_str_eq(last_type(&s), "CallbackTimedOut");
        cr_assert_str_eq(last_event(&s)->error->type.data, cases[i].type);
        cr_assert_str_eq(last_event(&s)->error->message.data, cases[i].message);
        cr_assert(pd_exec_wants_invocation(s.x, due));
        cr_assert_eq(pd_exec_callback_succeed(s.x, id, "1", 1, due, &s.err), PD_EXEC_E_TIMED_OUT);
        close_svc(&s);
    }
}

Test(callbacks, heartbeat_restarts_the_heartbeat_timer_and_writes_nothing)
{
    svc s;
    open_svc(&s);
    begin(&s);
    int64_t started = s.now;
    const char *id = start_callback(&s, "cb", 0, 10);
    size_t events = pd_exec_event_count(s.x);
    OK(&s, pd_exec_callback_heartbeat(s.x, id, started + 6000, &s.err));
    cr_assert_eq(pd_exec_event_count(s.x), events);
    cr_assert_not(pd_exec_wants_invocation(s.x, started + 6000), "a heartbeat does not re-invoke");
    OK(&s, pd_exec_fire_timers(s.x, started + 10000, &s.err));
    cr_assert_eq(op_of(&s, "cb")->status, ST(STARTED));
    int64_t due;
    cr_assert(pd_exec_next_wakeup(s.x, &due));
    cr_assert_eq(due, started + 16000);
    /* an answer after the deadline finds it timed out, even before fire_timers */
    cr_assert_eq(pd_exec_callback_succeed(s.x, id, "1", 1, started + 16000, &s.err), PD_EXEC_E_TIMED_OUT);
    cr_assert_str_eq(op_of(&s, "cb")->error->type.data, "Callback.Heartbeat");
    close_svc(&s);
}

Test(callbacks, unknown_id_and_ended_execution)
{
    svc s;
    open_svc(&s);
    begin(&s);
    cr_assert_eq(pd_exec_callback_succeed(s.x, "bm9uZQ==", "1", 1, s.now, &s.err), PD_EXEC_E_NOT_FOUND);
    cr_assert_eq(pd_exec_callback_heartbeat(s.x, "bm9uZQ==", s.now, &s.err), PD_EXEC_E_NOT_FOUND);
    cr_assert(strstr(s.err.msg, "not found"));
    const char *id = start_callback(&s, "cb", 0, 0);
    OK(&s, pd_exec_stop(s.x, NULL, s.now, NULL, &s.err));
    cr_assert_eq(pd_exec_callback_succeed(s.x, id, "1", 1, s.now, &s.err), PD_EXEC_E_ENDED);
    close_svc(&s);
}

/* ======================================================================
 * chained invokes (§4.10)
 * ====================================================================== */

Test(invokes, start_records_and_asks_the_caller_to_launch)
{
    svc s;
    open_svc(&s);
    begin(&s);
    pd_update u = with_payload(with_target(U(TY(CHAINED_INVOKE), A_START, "inv"), "target-fn"), "{\"x\":1}");
    pd_bytes_set_str(&u.tenant_id, "tenant-a");
    OK(&s, send(&s, 1, u));
    const pd_event *e = last_event(&s);
    cr_assert_str_eq(e->function_name.data, "target-fn");
    cr_assert_str_eq(e->tenant_id.data, "tenant-a");
    cr_assert_str_eq(e->payload.data, "{\"x\":1}");
    pd_exec_invoke pending[2];
    cr_assert_eq(pd_exec_pending_invokes(s.x, pending, 2), 1);
    cr_assert_str_eq(pending[0].op_id, "inv");
    cr_assert_str_eq(pending[0].function_name->data, "target-fn");
    cr_assert_str_eq(pending[0].input->data, "{\"x\":1}");
    pd_exec_changes c;
    OK(&s, pd_exec_take_changes(s.x, &c, &s.err));
    pd_exec_changes_free(&c);
    OK(&s, pd_exec_invoke_launched(s.x, "inv", "arn:aws:lambda:us-east-1:123456789012:function:target-fn:$LATEST/"
                                               "durable-execution/child/c1", "$LATEST", &s.err));
    cr_assert_eq(pd_exec_pending_invokes(s.x, NULL, 0), 0);
    cr_assert_eq(pd_exec_invoke_launched(s.x, "inv", NULL, NULL, &s.err), PERDURE_E_MISUSE);
    cr_assert(strstr(last_event(&s)->target_arn.data, "durable-execution/child/c1"));
    cr_assert_str_eq(last_event(&s)->executed_version.data, "$LATEST");
    OK(&s, pd_exec_take_changes(s.x, &c, &s.err));
    cr_assert_eq(c.n_events, 1, "the amended ChainedInvokeStarted is rewritten");
    cr_assert_eq(c.events[0], last_event(&s)->id);
    pd_exec_changes_free(&c);
    close_svc(&s);
}

Test(invokes, completions)
{
    static const struct {
        perdure_op_status status;
        const char *event;
    } cases[] = {
        {ST(SUCCEEDED), "ChainedInvokeSucceeded"},
        {ST(FAILED), "ChainedInvokeFailed"},
        {ST(TIMED_OUT), "ChainedInvokeTimedOut"},
        {ST(STOPPED), "ChainedInvokeStopped"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        svc s;
        open_svc(&s);
        begin(&s);
        OK(&s, send(&s, 1, valid(TY(CHAINED_INVOKE), A_START, "inv")));
        end_with(&s, PERDURE_OUTCOME_PENDING, NULL);
        bool ok = cases[i].status == ST(SUCCEEDED);
        pd_error *e = ok ? NULL : make_error("TargetError", "x");
        OK(&s, pd_exec_invoke_complete(s.x, "inv", cases[i].status, ok ? "{\"r\":2}" : NULL, ok ? 7 : 0, e, s.now,
                                       &s.err));
        pd_error_free(e);
        char sequence[128];
        snprintf(sequence, sizeof sequence, "ChainedInvokeStarted InvocationCompleted %s", cases[i].event);
        cr_assert_str_eq(types_of(&s, 1), sequence, "R13");
        cr_assert_eq(op_of(&s, "inv")->status, cases[i].status);
        if (ok)
            cr_assert_str_eq(last_event(&s)->payload.data, "{\"r\":2}");
        else
            cr_assert_str_eq(last_event(&s)->error->type.data, "TargetError");
        cr_assert(pd_exec_wants_invocation(s.x, s.now));
        cr_assert_eq(pd_exec_pending_invokes(s.x, NULL, 0), 0);
        cr_assert_eq(pd_exec_invoke_complete(s.x, "inv", ST(SUCCEEDED), "1", 1, NULL, s.now, &s.err),
                     PD_EXEC_E_COMPLETED);
        close_svc(&s);
    }
}

Test(invokes, refusals)
{
    svc s;
    open_svc(&s);
    begin(&s);
    OK(&s, send(&s, 2, valid(TY(CHAINED_INVOKE), A_START, "inv"), valid(TY(STEP), A_SUCCEED, "st")));
    cr_assert_eq(pd_exec_invoke_complete(s.x, "nope", ST(SUCCEEDED), "1", 1, NULL, s.now, &s.err), PD_EXEC_E_NOT_FOUND);
    cr_assert_eq(pd_exec_invoke_complete(s.x, "st", ST(SUCCEEDED), "1", 1, NULL, s.now, &s.err), PD_EXEC_E_NOT_FOUND);
    cr_assert_eq(pd_exec_invoke_complete(s.x, "inv", ST(CANCELLED), NULL, 0, NULL, s.now, &s.err), PERDURE_E_INVALID);
    pd_error *e = make_error("E", "m");
    cr_assert_eq(pd_exec_invoke_complete(s.x, "inv", ST(SUCCEEDED), "1", 1, e, s.now, &s.err), PERDURE_E_INVALID);
    pd_error_free(e);
    /* a cancelled invoke is neither launched nor completed */
    OK(&s, send(&s, 1, U(TY(CHAINED_INVOKE), A_CANCEL, "inv")));
    cr_assert_eq(pd_exec_pending_invokes(s.x, NULL, 0), 0);
    cr_assert_eq(pd_exec_invoke_complete(s.x, "inv", ST(FAILED), NULL, 0, NULL, s.now, &s.err), PD_EXEC_E_COMPLETED);
    close_svc(&s);
}

/* ======================================================================
 * stop and execution timeout (§4.14)
 * ====================================================================== */

Test(stop, stops_refuses_checkpoints_and_is_idempotent)
{
    svc s;
    open_svc(&s);
    begin(&s);
    OK(&s, send(&s, 1, valid(TY(STEP), A_START, "a")));
    s.now += 10;
    int64_t stopped;
    OK(&s, pd_exec_stop(s.x, NULL, s.now, &stopped, &s.err));
    cr_assert_eq(stopped, s.now);
    cr_assert_eq(pd_exec_status(s.x), ST(STOPPED));
    cr_assert_str_eq(last_type(&s), "ExecutionStopped");
    cr_assert_str_eq(last_event(&s)->op_id, EXEC_ID);
    cr_assert_str_eq(last_event(&s)->error->message.data, "Execution stopped by user request");
    cr_assert_eq(send(&s, 1, valid(TY(STEP), A_SUCCEED, "a")), PD_EXEC_E_ENDED);
    cr_assert_str_eq(s.err.msg, "Cannot checkpoint: the execution is STOPPED.");
    /* the invocation still ends, after the stop */
    end_with(&s, PERDURE_OUTCOME_SUCCEEDED, "\"ignored\"");
    cr_assert_str_eq(types_of(&s, 1), "StepStarted ExecutionStopped InvocationCompleted");
    cr_assert_eq(pd_exec_status(s.x), ST(STOPPED), "the output is ignored");
    size_t events = pd_exec_event_count(s.x);
    OK(&s, pd_exec_stop(s.x, NULL, s.now + 5000, &stopped, &s.err));
    cr_assert_eq(stopped, s.now);
    cr_assert_eq(pd_exec_event_count(s.x), events);
    cr_assert_not(pd_exec_next_wakeup(s.x, NULL));
    close_svc(&s);
}

Test(stop, with_an_error)
{
    svc s;
    open_svc(&s);
    pd_error *e = make_error("Operator", "maintenance");
    OK(&s, pd_exec_stop(s.x, e, s.now, NULL, &s.err));
    pd_error_free(e);
    const pd_error *error;
    pd_exec_result(s.x, NULL, &error);
    cr_assert_str_eq(error->type.data, "Operator");
    cr_assert_str_eq(pd_exec_status_name(pd_exec_status(s.x)), "STOPPED");
    close_svc(&s);
}

Test(timeout, execution_times_out_at_its_deadline)
{
    svc s;
    open_svc(&s);
    begin(&s);
    start_callback(&s, "cb", 0, 0);
    int64_t due;
    cr_assert(pd_exec_next_wakeup(s.x, &due));
    cr_assert_eq(due, T0 + 300 * 1000);
    OK(&s, pd_exec_fire_timers(s.x, due - 1, &s.err));
    cr_assert_eq(pd_exec_status(s.x), ST(STARTED));
    OK(&s, pd_exec_fire_timers(s.x, due, &s.err));
    cr_assert_eq(pd_exec_status(s.x), ST(TIMED_OUT));
    cr_assert_str_eq(last_type(&s), "ExecutionTimedOut");
    cr_assert_str_eq(last_event(&s)->error->message.data, "Execution timed out after 300 seconds.");
    cr_assert_not(pd_exec_wants_invocation(s.x, due));
    cr_assert_not(pd_exec_next_wakeup(s.x, NULL));
    close_svc(&s);
}

Test(timeout, a_checkpoint_after_the_deadline_is_refused)
{
    svc s;
    open_svc(&s);
    begin(&s);
    OK(&s, send(&s, 1, with_wait(U(TY(WAIT), A_START, "w"), 10)));
    s.now = T0 + 300 * 1000;
    cr_assert_eq(send(&s, 1, valid(TY(STEP), A_SUCCEED, "a")), PD_EXEC_E_ENDED);
    cr_assert_str_eq(types_of(&s, 1), "WaitStarted WaitSucceeded ExecutionTimedOut", "due timers fire in order");
    cr_assert_null(pd_exec_find_operation(s.x, "a"));
    close_svc(&s);
}

Test(timeout, timers_fire_earliest_first)
{
    svc s;
    open_svc(&s);
    begin(&s);
    OK(&s, send(&s, 2, with_wait(U(TY(WAIT), A_START, "w"), 20), with_callback(U(TY(CALLBACK), A_START, "cb"), 5, 0)));
    end_with(&s, PERDURE_OUTCOME_PENDING, NULL);
    OK(&s, pd_exec_fire_timers(s.x, s.now + 60000, &s.err));
    cr_assert_str_eq(types_of(&s, 3), "InvocationCompleted CallbackTimedOut WaitSucceeded", "R5");
    close_svc(&s);
}

Test(timeout, equal_deadlines_fire_in_start_order)
{
    svc s;
    open_svc(&s);
    begin(&s);
    OK(&s, send(&s, 3, with_callback(U(TY(CALLBACK), A_START, "cb"), 5, 0), with_wait(U(TY(WAIT), A_START, "w1"), 5),
                with_wait(U(TY(WAIT), A_START, "w2"), 5)));
    end_with(&s, PERDURE_OUTCOME_PENDING, NULL);
    OK(&s, pd_exec_fire_timers(s.x, s.now + 5000, &s.err));
    cr_assert_str_eq(types_of(&s, 5), "CallbackTimedOut WaitSucceeded WaitSucceeded");
    cr_assert_str_eq(pd_exec_event_at(s.x, pd_exec_event_count(s.x) - 2)->op_id, "w1");
    close_svc(&s);
}

/* ======================================================================
 * whole histories through the real VM and C SDK
 * ====================================================================== */

/* The SDK's transport: decode the request, apply it, encode the response. */
static perdure_status transport(void *user, const unsigned char *request, unsigned long long len, perdure_buf *response)
{
    svc *s = user;
    pd_bytes token, client_token;
    pd_update *updates;
    size_t n;
    pd_checkpoint_response r;
    cr_assert_eq(pd_json_decode_checkpoint_request(request, len, &token, &updates, &n, &client_token, &s->err),
                 PERDURE_OK, "%s", s->err.msg);
    s->now += 1;
    perdure_status st = pd_exec_checkpoint(s->x, token.data, updates, n, client_token.present ? client_token.data : NULL,
                                           s->now, &r, &s->err);
    pd_updates_free(updates, n);
    pd_bytes_clear(&token);
    pd_bytes_clear(&client_token);
    if (st)
        return st;
    pd_buf b;
    pd_buf_init(&b);
    cr_assert_eq(pd_json_encode_checkpoint_response(&r, &b, &s->err), PERDURE_OK, "%s", s->err.msg);
    pd_checkpoint_response_free(&r);
    pd_buf_release(&b, response);
    return PERDURE_OK;
}

static perdure_vm_options vm_options(void)
{
    perdure_vm_options o = {.size = sizeof o};
    cr_assert_eq(perdure_vm_options_init(&o), PERDURE_OK);
    o.wire = PERDURE_WIRE_JSON;
    o.random_seed = 7;
    return o;
}

/* The invocation input of a new invocation, as the Lambda would receive it. */
static void invocation_input(svc *s, pd_buf *input)
{
    char rid[16];
    pd_invocation inv;
    cr_assert(pd_exec_wants_invocation(s->x, s->now), "no invocation is due");
    snprintf(rid, sizeof rid, "req-%u", ++s->requests);
    OK(s, pd_exec_invocation_begin(s->x, s->now, rid, &inv, &s->err));
    pd_buf_init(input);
    OK(s, pd_json_encode_invocation(&inv, input, &s->err));
    pd_invocation_free(&inv);
}

/* One invocation of a C handler, 100 ms long. */
static void invoke(svc *s, perdure_handler_fn handler, void *user)
{
    pd_buf input;
    perdure_buf output = {0};
    s->now += 1;
    invocation_input(s, &input);
    perdure_vm_options o = vm_options();
    perdure_status st = perdure_invoke_handler(&o, input.data, input.len, s->now, handler, user, transport, s, &output);
    pd_buf_free(&input);
    s->now += 100;
    if (st) {
        OK(s, pd_exec_invocation_end(s->x, NULL, perdure_status_name(st), s->now, &s->err));
        return;
    }
    pd_output out;
    OK(s, pd_json_decode_output(output.data, output.len, &out, &s->err));
    perdure_buf_free(&output);
    OK(s, pd_exec_invocation_end(s->x, &out, NULL, s->now, &s->err));
    pd_output_free(&out);
}

static void set_result(perdure_buf *result, const char *text)
{
    result->len = strlen(text);
    result->data = malloc(result->len);
    memcpy(result->data, text, result->len);
}

/* ---- the matcher: like the suite's, every listed key must match, "*" matches
 * anything present, and no unlisted key may appear (EventTimestamp aside). ---- */

static bool match(const json_t *want, const json_t *got, char *why, size_t why_len)
{
    if (json_is_string(want) && strcmp(json_string_value(want), "*") == 0) {
        if (!got)
            snprintf(why, why_len, "missing");
        return got != NULL;
    }
    if (json_is_object(want) && json_is_object(got)) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)want, key, v) {
            if (!match(v, json_object_get(got, key), why, why_len)) {
                char inner[512];
                snprintf(inner, sizeof inner, "%s", why);
                snprintf(why, why_len, "%s: %s", key, inner);
                return false;
            }
        }
        json_object_foreach((json_t *)got, key, v) {
            if (!json_object_get(want, key) && strcmp(key, "EventTimestamp") != 0) {
                snprintf(why, why_len, "unexpected key %s", key);
                return false;
            }
        }
        return true;
    }
    if (json_equal((json_t *)want, (json_t *)got))
        return true;
    char *w = json_dumps(want, JSON_ENCODE_ANY), *g = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;
    snprintf(why, why_len, "want %s, got %s", w, g ? g : "nothing");
    free(w);
    free(g);
    return false;
}

/* Matches the history event by event against expected (a JSON array text
 * where ' stands for "), and checks it has exactly as many events. */
static void expect_history(svc *s, const char *expected)
{
    char *text = strdup(expected);
    for (char *p = text; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t je;
    json_t *want = json_loads(text, 0, &je);
    cr_assert_not_null(want, "expected history: %s at %d", je.text, je.column);
    free(text);
    pd_buf buf;
    pd_buf_init(&buf);
    OK(s, pd_exec_history_json(s->x, true, &buf, &s->err));
    json_t *root = json_loadb((const char *)buf.data, buf.len, 0, &je);
    cr_assert_not_null(root, "history is not JSON: %s", je.text);
    json_t *got = json_object_get(root, "Events");
    for (size_t i = 0; i < json_array_size(want); i++) {
        char why[1024] = "";
        cr_assert(i < json_array_size(got), "event %zu missing; history %.*s", i + 1, (int)buf.len, buf.data);
        cr_assert(match(json_array_get(want, i), json_array_get(got, i), why, sizeof why), "event %zu: %s\n%.*s", i + 1,
                  why, (int)buf.len, buf.data);
    }
    cr_assert_eq(json_array_size(got), json_array_size(want), "%.*s", (int)buf.len, buf.data);
    json_decref(want);
    json_decref(root);
    pd_buf_free(&buf);
}

#define IC_DETAILS "'InvocationCompletedDetails':{'StartTimestamp':'*','EndTimestamp':'*','RequestId':'*'}"
#define EXEC_STARTED                                                                                                 \
    "{'EventType':'ExecutionStarted','EventId':1,'Id':'exec-1','ExecutionStartedDetails':{'Input':{'Payload':'{}'}," \
    "'ExecutionTimeout':300}}"

/* ---- (A) a step that fails once, then succeeds ---- */

static int charge(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)user;
    if (attempt == 1) {
        error->error_type = "ValueError";
        error->error_message = "boom";
        return 1;
    }
    set_result(result, "\"ok\"");
    return 0;
}

static int handler_a(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                     perdure_buf *result, perdure_error_info *error)
{
    (void)user, (void)input, (void)input_len, (void)error;
    perdure_retry_config retry = {.size = sizeof retry};
    perdure_retry_config_preset(&retry, PERDURE_RETRY_CONFIG_DEFAULTS);
    retry.max_attempts = 3;
    retry.initial_delay_seconds = 2;
    retry.jitter = PERDURE_JITTER_NONE;
    perdure_step_config cfg = {.size = sizeof cfg, .retry = &retry};
    perdure_sdk_outcome outcome;
    const unsigned char *r;
    unsigned long long len;
    perdure_context_step(ctx, "charge", &cfg, charge, NULL, &outcome, &r, &len);
    if (outcome == PERDURE_SDK_OK)
        set_result(result, "\"ok\"");
    return 0;
}

Test(history, example_a_step_fails_once_then_succeeds)
{
    svc s;
    open_svc(&s);
    invoke(&s, handler_a, NULL);
    cr_assert_not(pd_exec_wants_invocation(s.x, s.now), "the retry is not due yet");
    int64_t due;
    cr_assert(pd_exec_next_wakeup(s.x, &due));
    s.now = due;
    OK(&s, pd_exec_fire_timers(s.x, s.now, &s.err));
    invoke(&s, handler_a, NULL);
    expect_history(&s, "[" EXEC_STARTED ","
                       "{'EventType':'StepStarted','SubType':'Step','EventId':2,'Id':'" ID1 "','Name':'charge',"
                       "'StepStartedDetails':{}},"
                       "{'EventType':'StepFailed','SubType':'Step','EventId':3,'Id':'" ID1 "','Name':'charge',"
                       "'StepFailedDetails':{'Error':{'Payload':{'ErrorType':'ValueError','ErrorMessage':'boom'}},"
                       "'RetryDetails':{'CurrentAttempt':1,'NextAttemptDelaySeconds':2}}},"
                       "{'EventType':'InvocationCompleted','EventId':4," IC_DETAILS "},"
                       "{'EventType':'StepStarted','SubType':'Step','EventId':5,'Id':'" ID1 "','Name':'charge',"
                       "'StepStartedDetails':{}},"
                       "{'EventType':'StepSucceeded','SubType':'Step','EventId':6,'Id':'" ID1 "','Name':'charge',"
                       "'StepSucceededDetails':{'Result':{'Payload':'\\'ok\\''},'RetryDetails':{'CurrentAttempt':2}}},"
                       "{'EventType':'InvocationCompleted','EventId':7," IC_DETAILS "},"
                       "{'EventType':'ExecutionSucceeded','EventId':8,'Id':'exec-1',"
                       "'ExecutionSucceededDetails':{'Result':{'Payload':'\\'ok\\''}}}]");
    /* the retry waited its 2 seconds: StepStarted #5 is at least 2 s after StepFailed #3 */
    cr_assert_geq(pd_exec_event_at(s.x, 4)->ts_ms - pd_exec_event_at(s.x, 2)->ts_ms, 2000);
    close_svc(&s);
}

/* ---- (B) a callback with a step between create and await ---- */

static int notify(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)user, (void)attempt, (void)error;
    set_result(result, "\"sent\"");
    return 0;
}

static int handler_b(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                     perdure_buf *result, perdure_error_info *error)
{
    (void)user, (void)input, (void)input_len, (void)error;
    perdure_callback_config cfg = {.size = sizeof cfg, .timeout_seconds = 300};
    perdure_op cb;
    const char *callback_id;
    perdure_sdk_outcome outcome;
    const unsigned char *r;
    unsigned long long len;
    perdure_context_create_callback(ctx, "approval", &cfg, &cb, &callback_id);
    perdure_context_step(ctx, "notify", NULL, notify, NULL, &outcome, &r, &len);
    perdure_context_callback_result(ctx, cb, &outcome, &r, &len);
    if (outcome == PERDURE_SDK_OK) {
        /* The py default: the raw callback string, JSON-encoded once more. */
        json_t *text = json_stringn((const char *)r, len);
        char *dumped = json_dumps(text, JSON_ENCODE_ANY);
        set_result(result, dumped);
        free(dumped);
        json_decref(text);
    }
    return 0;
}

#define HISTORY_B                                                                                                    \
    "[" EXEC_STARTED ","                                                                                             \
    "{'EventType':'CallbackStarted','SubType':'Callback','EventId':2,'Id':'" ID1 "','Name':'approval',"             \
    "'CallbackStartedDetails':{'CallbackId':'*','Timeout':300}},"                                                    \
    "{'EventType':'StepStarted','SubType':'Step','EventId':3,'Id':'" ID2 "','Name':'notify','StepStartedDetails':{}}," \
    "{'EventType':'StepSucceeded','SubType':'Step','EventId':4,'Id':'" ID2 "','Name':'notify',"                     \
    "'StepSucceededDetails':{'Result':{'Payload':'\\'sent\\''},'RetryDetails':{'CurrentAttempt':1}}},"              \
    "{'EventType':'InvocationCompleted','EventId':5," IC_DETAILS "},"                                                \
    "{'EventType':'CallbackSucceeded','SubType':'Callback','EventId':6,'Id':'" ID1 "','Name':'approval',"           \
    "'CallbackSucceededDetails':{'Result':{'Payload':'{\\'approved\\': true}'}}},"                                   \
    "{'EventType':'InvocationCompleted','EventId':7," IC_DETAILS "},"                                                \
    "{'EventType':'ExecutionSucceeded','EventId':8,'Id':'exec-1',"                                                   \
    "'ExecutionSucceededDetails':{'Result':{'Payload':'\\'{\\\\\\'approved\\\\\\': true}\\''}}}]"

static void answer_approval(svc *s)
{
    const pd_operation *cb = op_of(s, ID1);
    cr_assert_eq(cb->status, ST(STARTED));
    s->now += 42000;
    OK(s, pd_exec_callback_succeed(s->x, cb->callback_id.data, "{\"approved\": true}", 18, s->now, &s->err));
}

Test(history, example_b_callback_with_a_step_between)
{
    svc s;
    open_svc(&s);
    invoke(&s, handler_b, NULL);
    cr_assert_not(pd_exec_wants_invocation(s.x, s.now));
    answer_approval(&s);
    invoke(&s, handler_b, NULL);
    expect_history(&s, HISTORY_B);
    cr_assert_str_eq(pd_exec_event_at(s.x, 1)->callback_id.data, op_of(&s, ID1)->callback_id.data);
    close_svc(&s);
}

/* ---- (C) a map of 2 items with one failure tolerated ---- */

static int map_item(perdure_context *ctx, void *user, unsigned index, perdure_buf *result, perdure_error_info *error)
{
    (void)ctx, (void)user;
    if (index == 1) {
        error->error_type = "ValueError";
        error->error_message = "bad item";
        return 1;
    }
    set_result(result, "\"ok\"");
    return 0;
}

static int handler_c(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                     perdure_buf *result, perdure_error_info *error)
{
    (void)user, (void)input, (void)input_len, (void)error;
    perdure_completion_config completion = {.size = sizeof completion};
    perdure_completion_config_init(&completion);
    completion.tolerated_failure_count = 1;
    perdure_batch_config cfg = {.size = sizeof cfg, .max_concurrency = 1, .completion = &completion};
    perdure_sdk_outcome outcome;
    perdure_op batch;
    perdure_context_map(ctx, "batch", 2, &cfg, map_item, NULL, &outcome, &batch);
    if (outcome == PERDURE_SDK_OK)
        set_result(result, "{\"successCount\": 1, \"failureCount\": 1}");
    return 0;
}

Test(history, example_c_map_with_one_failure_tolerated)
{
    svc s;
    open_svc(&s);
    invoke(&s, handler_c, NULL);
    /* The map's Result is the SDK's BatchResult serialization: the C SDK's
     * differs from py's, so only its presence is matched. */
    expect_history(&s, "[" EXEC_STARTED ","
                       "{'EventType':'ContextStarted','SubType':'Map','EventId':2,'Id':'" ID1 "','Name':'batch',"
                       "'ContextStartedDetails':{}},"
                       "{'EventType':'ContextStarted','SubType':'MapIteration','EventId':3,'Id':'" ID1_0 "',"
                       "'Name':'map-item-0','ParentId':'" ID1 "','ContextStartedDetails':{}},"
                       "{'EventType':'ContextSucceeded','SubType':'MapIteration','EventId':4,'Id':'" ID1_0 "',"
                       "'Name':'map-item-0','ParentId':'" ID1 "','ContextSucceededDetails':{'Result':{'Payload':'\\'ok\\''}}},"
                       "{'EventType':'ContextStarted','SubType':'MapIteration','EventId':5,'Id':'" ID1_1 "',"
                       "'Name':'map-item-1','ParentId':'" ID1 "','ContextStartedDetails':{}},"
                       "{'EventType':'ContextFailed','SubType':'MapIteration','EventId':6,'Id':'" ID1_1 "',"
                       "'Name':'map-item-1','ParentId':'" ID1 "','ContextFailedDetails':{'Error':{'Payload':"
                       "{'ErrorType':'ValueError','ErrorMessage':'bad item'}}}},"
                       "{'EventType':'ContextSucceeded','SubType':'Map','EventId':7,'Id':'" ID1 "','Name':'batch',"
                       "'ContextSucceededDetails':{'Result':{'Payload':'*'}}},"
                       "{'EventType':'InvocationCompleted','EventId':8," IC_DETAILS "},"
                       "{'EventType':'ExecutionSucceeded','EventId':9,'Id':'exec-1','ExecutionSucceededDetails':"
                       "{'Result':{'Payload':'{\\'successCount\\': 1, \\'failureCount\\': 1}'}}}]");
    close_svc(&s);
}

/* ---- suite 3-12: a crash inside an at-least-once step ---- */

static int work(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)user, (void)attempt, (void)error;
    set_result(result, "\"worked\"");
    return 0;
}

static int child_3_12(perdure_context *ctx, void *user, perdure_buf *result, perdure_error_info *error)
{
    (void)user, (void)error;
    perdure_sdk_outcome outcome;
    const unsigned char *r;
    unsigned long long len;
    perdure_context_step(ctx, "work", NULL, work, NULL, &outcome, &r, &len);
    if (outcome == PERDURE_SDK_OK)
        set_result(result, "\"child\"");
    return 0;
}

static int handler_3_12(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                        perdure_buf *result, perdure_error_info *error)
{
    (void)user, (void)input, (void)input_len, (void)error;
    perdure_sdk_outcome outcome;
    const unsigned char *r;
    unsigned long long len;
    perdure_context_run_child(ctx, "parent", child_3_12, NULL, &outcome, &r, &len);
    if (outcome == PERDURE_SDK_OK)
        set_result(result, "\"done\"");
    return 0;
}

/* The first invocation, driven through the VM by hand: the child context and
 * the step start (both async), the background flush sends them, and the
 * process dies inside the step's body. */
static void crash_inside_the_step(svc *s)
{
    pd_buf input;
    perdure_vm *vm;
    perdure_op child, step;
    perdure_next next;
    perdure_buf request = {0}, response = {0};
    s->now += 1;
    invocation_input(s, &input);
    perdure_vm_options o = vm_options();
    cr_assert_eq(perdure_vm_new(&o, &vm), PERDURE_OK);
    cr_assert_eq(perdure_vm_start(vm, input.data, input.len, s->now), PERDURE_OK, "%s", perdure_vm_errmsg(vm));
    cr_assert_eq(perdure_vm_child(vm, PERDURE_ROOT, "parent", NULL, 0, &child), PERDURE_OK);
    cr_assert_eq(perdure_vm_op_next(vm, child, &next), PERDURE_OK);
    cr_assert_eq(next, PERDURE_NEXT_EXECUTE);
    cr_assert_eq(perdure_vm_step(vm, child, "work", NULL, &step), PERDURE_OK);
    cr_assert_eq(perdure_vm_op_next(vm, step, &next), PERDURE_OK);
    cr_assert_eq(next, PERDURE_NEXT_EXECUTE);
    cr_assert_eq(perdure_vm_take_batch(vm, &request), PERDURE_OK);
    cr_assert_eq(transport(s, request.data, request.len, &response), PERDURE_OK, "%s", s->err.msg);
    cr_assert_eq(perdure_vm_apply_response(vm, response.data, response.len), PERDURE_OK, "%s", perdure_vm_errmsg(vm));
    perdure_buf_free(&request);
    perdure_buf_free(&response);
    perdure_vm_free(vm);
    pd_buf_free(&input);
    s->now += 100;
    OK(s, pd_exec_invocation_end(s->x, NULL, "exit status 1", s->now, &s->err));
}

Test(history, suite_3_12_crash_in_an_at_least_once_step)
{
    svc s;
    open_svc(&s);
    crash_inside_the_step(&s);
    cr_assert(pd_exec_wants_invocation(s.x, s.now), "a crash is retried");
    invoke(&s, handler_3_12, NULL);
    expect_history(&s, "[" EXEC_STARTED ","
                       "{'EventType':'ContextStarted','SubType':'RunInChildContext','EventId':2,'Id':'" ID1 "',"
                       "'Name':'parent','ContextStartedDetails':{}},"
                       "{'EventType':'StepStarted','SubType':'Step','EventId':3,'Id':'*','Name':'work',"
                       "'ParentId':'" ID1 "','StepStartedDetails':{}},"
                       "{'EventType':'InvocationCompleted','EventId':4,'InvocationCompletedDetails':{"
                       "'StartTimestamp':'*','EndTimestamp':'*','RequestId':'req-1',"
                       "'Error':{'Payload':{'ErrorType':'Runtime.ExitError','ErrorMessage':'exit status 1'}}}},"
                       "{'EventType':'StepSucceeded','SubType':'Step','EventId':5,'Id':'*','Name':'work',"
                       "'ParentId':'" ID1 "','StepSucceededDetails':{'Result':{'Payload':'\\'worked\\''},"
                       "'RetryDetails':{'CurrentAttempt':1}}},"
                       "{'EventType':'ContextSucceeded','SubType':'RunInChildContext','EventId':6,'Id':'" ID1 "',"
                       "'Name':'parent','ContextSucceededDetails':{'Result':{'Payload':'\\'child\\''}}},"
                       "{'EventType':'InvocationCompleted','EventId':7,'InvocationCompletedDetails':{"
                       "'StartTimestamp':'*','EndTimestamp':'*','RequestId':'req-2'}},"
                       "{'EventType':'ExecutionSucceeded','EventId':8,'Id':'exec-1',"
                       "'ExecutionSucceededDetails':{'Result':{'Payload':'\\'done\\''}}}]");
    cr_assert_str_eq(pd_exec_event_at(s.x, 2)->op_id, pd_exec_event_at(s.x, 4)->op_id, "the same step");
    close_svc(&s);
}

/* ---- suite 4-9: a callback answered during a pending wait ---- */

static int handler_4_9(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                       perdure_buf *result, perdure_error_info *error)
{
    (void)user, (void)input, (void)input_len, (void)error;
    perdure_op cb;
    const char *callback_id;
    perdure_sdk_outcome outcome;
    const unsigned char *r;
    unsigned long long len;
    perdure_context_create_callback(ctx, "cb", NULL, &cb, &callback_id);
    perdure_context_wait(ctx, "pause", 10, &outcome);
    if (outcome != PERDURE_SDK_OK)
        return 0;
    perdure_context_callback_result(ctx, cb, &outcome, &r, &len);
    if (outcome == PERDURE_SDK_OK)
        set_result(result, "\"both\"");
    return 0;
}

Test(history, suite_4_9_callback_during_a_pending_wait_costs_an_invocation)
{
    svc s;
    open_svc(&s);
    invoke(&s, handler_4_9, NULL);
    s.now += 1000;
    OK(&s, pd_exec_callback_succeed(s.x, op_of(&s, ID1)->callback_id.data, "\"y\"", 3, s.now, &s.err));
    invoke(&s, handler_4_9, NULL);   /* suspends again at once on the wait */
    cr_assert_not(pd_exec_wants_invocation(s.x, s.now));
    int64_t due;
    cr_assert(pd_exec_next_wakeup(s.x, &due));
    s.now = due;
    OK(&s, pd_exec_fire_timers(s.x, s.now, &s.err));
    invoke(&s, handler_4_9, NULL);
    cr_assert_str_eq(types_of(&s, 1),
                     "CallbackStarted WaitStarted InvocationCompleted CallbackSucceeded InvocationCompleted "
                     "WaitSucceeded InvocationCompleted ExecutionSucceeded");
    close_svc(&s);
}

/* ======================================================================
 * history JSON and persistence
 * ====================================================================== */

Test(json, history_shape_and_include_data)
{
    svc s;
    open_svc(&s);
    begin(&s);
    s.now += 205;
    OK(&s, send(&s, 1, with_name(with_error(U(TY(STEP), A_FAIL, "a"), "E", "m"), "n")));
    pd_buf b;
    pd_buf_init(&b);
    OK(&s, pd_exec_history_json(s.x, true, &b, &s.err));
    pd_buf_append(&b, "", 1);
    cr_assert(strstr((char *)b.data, "\"EventTimestamp\":1767225600.205"), "%s", b.data);
    cr_assert(strstr((char *)b.data, "\"StepFailedDetails\":{\"Error\":{\"Payload\":{\"ErrorType\":\"E\","
                                     "\"ErrorMessage\":\"m\"}},\"RetryDetails\":{\"CurrentAttempt\":1}}"),
              "%s", b.data);
    pd_buf_free(&b);
    pd_buf_init(&b);
    OK(&s, pd_exec_history_json(s.x, false, &b, &s.err));
    pd_buf_append(&b, "", 1);
    cr_assert_null(strstr((char *)b.data, "Payload"), "%s", b.data);
    cr_assert(strstr((char *)b.data, "\"ExecutionStartedDetails\":{\"Input\":{},\"ExecutionTimeout\":300}"), "%s",
              b.data);
    pd_buf_free(&b);
    close_svc(&s);
}

Test(json, every_event_type_round_trips)
{
    for (int t = 0; t < PD_EV_COUNT; t++) {
        pd_event e = {.id = 7, .type = (pd_event_type)t, .ts_ms = T0 + 205, .attempt = 2, .retry_delay_s = 3,
                      .seconds = 9, .scheduled_end_ms = T0 + 9205, .timeout_s = 4, .heartbeat_s = 5,
                      .start_ms = T0 + 1, .end_ms = T0 + 2};
        snprintf(e.op_id, sizeof e.op_id, "op");
        snprintf(e.parent_id, sizeof e.parent_id, "par");
        snprintf(e.sub_type, sizeof e.sub_type, "Step");
        pd_bytes *texts[] = {&e.name, &e.payload, &e.callback_id, &e.function_name, &e.tenant_id,
                             &e.executed_version, &e.target_arn, &e.request_id};
        for (size_t i = 0; i < COUNT(texts); i++)
            pd_bytes_set_str(texts[i], "t\xc3\xa9xt");
        e.error = make_error("E", "m");
        pd_buf a, b;
        pd_buf_init(&a);
        pd_buf_init(&b);
        pd_event d;
        pd_err err;
        cr_assert_eq(pd_event_encode_json(&e, true, &a, &err), PERDURE_OK);
        cr_assert_eq(pd_event_decode_json(a.data, a.len, &d, &err), PERDURE_OK, "%s", err.msg);
        cr_assert_eq(pd_event_encode_json(&d, true, &b, &err), PERDURE_OK);
        cr_assert_eq(a.len, b.len, "%s: %.*s vs %.*s", pd_event_type_name(e.type), (int)a.len, a.data, (int)b.len,
                     b.data);
        cr_assert_eq(memcmp(a.data, b.data, a.len), 0);
        cr_assert_eq(d.ts_ms, e.ts_ms);
        pd_event_clear(&d);
        pd_event_clear(&e);
        pd_buf_free(&a);
        pd_buf_free(&b);
    }
    static const char *const bad[] = {
        "[]",
        "{\"EventType\":\"Nope\",\"EventId\":1,\"EventTimestamp\":1}",
        "{\"EventType\":\"StepStarted\",\"EventId\":1,\"EventTimestamp\":1}",   /* no Details */
        "{\"EventType\":\"StepStarted\",\"EventId\":0,\"EventTimestamp\":1,\"StepStartedDetails\":{}}",
        "{\"EventType\":\"StepStarted\",\"EventId\":1,\"EventTimestamp\":\"x\",\"StepStartedDetails\":{}}",
    };
    for (size_t i = 0; i < COUNT(bad); i++) {
        pd_event d;
        pd_err err;
        cr_assert_eq(pd_event_decode_json(bad[i], strlen(bad[i]), &d, &err), PERDURE_E_DECODE, "%s", bad[i]);
    }
}

/* A store's view: every take_changes persisted, then a load from it. */
typedef struct store {
    pd_op_list ops;
    pd_buf *events;        /* JSON texts by EventId - 1 */
    size_t n_events;
    pd_buf state;
} store;

static void persist(svc *s, store *st)
{
    pd_exec_changes c;
    OK(s, pd_exec_take_changes(s->x, &c, &s->err));
    for (size_t i = 0; i < c.n_ops; i++) {
        while (st->ops.len <= c.ops[i])
            pd_op_list_push(&st->ops);
        pd_operation_clear(&st->ops.items[c.ops[i]]);
        cr_assert_eq(pd_operation_copy(&st->ops.items[c.ops[i]], pd_exec_operation_at(s->x, c.ops[i])), 0);
    }
    for (size_t i = 0; i < c.n_events; i++) {
        size_t at = c.events[i] - 1;
        if (at >= st->n_events) {
            st->events = realloc(st->events, (at + 1) * sizeof *st->events);
            for (size_t k = st->n_events; k <= at; k++)
                pd_buf_init(&st->events[k]);
            st->n_events = at + 1;
        }
        pd_buf_free(&st->events[at]);
        OK(s, pd_event_encode_json(pd_exec_event_at(s->x, at), true, &st->events[at], &s->err));
    }
    if (c.state) {
        pd_buf_free(&st->state);
        OK(s, pd_exec_state_json(s->x, &st->state, &s->err));
    }
    pd_exec_changes_free(&c);
}

/* Replaces s->x by an execution loaded from the store. */
static void reload(svc *s, store *st)
{
    pd_event *events = calloc(st->n_events, sizeof *events);
    for (size_t i = 0; i < st->n_events; i++)
        OK(s, pd_event_decode_json(st->events[i].data, st->events[i].len, &events[i], &s->err));
    pd_exec_free(s->x);
    pd_exec_config c = base_config(s);
    OK(s, pd_exec_load(&c, st->ops.items, st->ops.len, events, st->n_events, st->state.data, st->state.len, &s->x,
                       &s->err));
    for (size_t i = 0; i < st->n_events; i++)
        pd_event_clear(&events[i]);
    free(events);
}

static void store_free(store *st)
{
    pd_op_list_free(&st->ops);
    for (size_t i = 0; i < st->n_events; i++)
        pd_buf_free(&st->events[i]);
    free(st->events);
    pd_buf_free(&st->state);
}

static char *history_text(svc *s)
{
    pd_buf b;
    pd_buf_init(&b);
    OK(s, pd_exec_history_json(s->x, true, &b, &s->err));
    pd_buf_append(&b, "", 1);
    return (char *)b.data;
}

Test(persistence, changes_are_reported_once)
{
    svc s;
    open_svc(&s);
    pd_exec_changes c;
    OK(&s, pd_exec_take_changes(s.x, &c, &s.err));
    cr_assert_eq(c.n_ops, 1);
    cr_assert_eq(c.ops[0], 0);
    cr_assert_eq(c.n_events, 1);
    cr_assert_eq(c.events[0], 1);
    cr_assert(c.state);
    pd_exec_changes_free(&c);
    OK(&s, pd_exec_take_changes(s.x, &c, &s.err));
    cr_assert(c.n_ops == 0 && c.n_events == 0 && !c.state);
    pd_exec_changes_free(&c);
    begin(&s);
    OK(&s, send(&s, 2, valid(TY(STEP), A_SUCCEED, "a"), valid(TY(CALLBACK), A_START, "cb")));
    OK(&s, pd_exec_take_changes(s.x, &c, &s.err));
    cr_assert_eq(c.n_ops, 2);
    cr_assert(c.ops[0] == 1 && c.ops[1] == 2);
    cr_assert(c.n_events == 2 && c.events[0] == 2 && c.events[1] == 3);
    pd_exec_changes_free(&c);
    /* a heartbeat changes only the state */
    OK(&s, pd_exec_callback_heartbeat(s.x, op_of(&s, "cb")->callback_id.data, s.now + 1, &s.err));
    OK(&s, pd_exec_take_changes(s.x, &c, &s.err));
    cr_assert(c.n_ops == 0 && c.n_events == 0 && c.state);
    pd_exec_changes_free(&c);
    close_svc(&s);
}

/* Example B with the service restarted (and reloaded from its store) after
 * every step: the history is the same as without restarts. */
Test(persistence, reloaded_execution_continues_identically)
{
    svc s;
    store st = {0};
    open_svc(&s);
    persist(&s, &st);
    reload(&s, &st);
    invoke(&s, handler_b, NULL);
    persist(&s, &st);
    reload(&s, &st);
    cr_assert_not(pd_exec_wants_invocation(s.x, s.now));
    answer_approval(&s);
    persist(&s, &st);
    reload(&s, &st);
    cr_assert(pd_exec_wants_invocation(s.x, s.now));
    invoke(&s, handler_b, NULL);
    persist(&s, &st);
    expect_history(&s, HISTORY_B);
    char *before = history_text(&s);
    reload(&s, &st);
    char *after = history_text(&s);
    cr_assert_str_eq(after, before);
    free(before);
    free(after);
    store_free(&st);
    close_svc(&s);
}

/* Reloaded in the middle of an invocation: its token, its unseen changes,
 * the heartbeat and the unlaunched invoke survive. */
Test(persistence, reloaded_mid_invocation)
{
    svc s;
    store st = {0};
    open_svc(&s);
    begin(&s);
    OK(&s, send(&s, 2, with_callback(U(TY(CALLBACK), A_START, "cb"), 0, 10), valid(TY(CHAINED_INVOKE), A_START, "inv")));
    OK(&s, pd_exec_callback_heartbeat(s.x, op_of(&s, "cb")->callback_id.data, s.now + 5000, &s.err));
    OK(&s, send(&s, 1, valid(TY(STEP), A_SUCCEED, "a")));
    OK(&s, pd_exec_invoke_complete(s.x, "inv", ST(SUCCEEDED), "1", 1, NULL, s.now, &s.err));
    OK(&s, send(&s, 0));
    OK(&s, send(&s, 1, valid(TY(CHAINED_INVOKE), A_START, "inv2")));
    OK(&s, pd_exec_callback_succeed(s.x, op_of(&s, "cb")->callback_id.data, "1", 1, s.now, &s.err));
    persist(&s, &st);
    reload(&s, &st);
    cr_assert(pd_exec_invocation_running(s.x));
    cr_assert_eq(pd_exec_pending_invokes(s.x, NULL, 0), 1, "inv2 still to launch");
    OK(&s, send(&s, 0));   /* the old token still works */
    cr_assert_eq(s.last.ops.len, 1, "only the unseen change");
    cr_assert_str_eq(s.last.ops.items[0].id, "cb");
    close_svc(&s);
    store_free(&st);

    /* the heartbeat time survives a reload */
    store st2 = {0};
    open_svc(&s);
    begin(&s);
    int64_t started = s.now;
    start_callback(&s, "cb", 0, 10);
    OK(&s, pd_exec_callback_heartbeat(s.x, op_of(&s, "cb")->callback_id.data, started + 6000, &s.err));
    persist(&s, &st2);
    reload(&s, &st2);
    int64_t due;
    cr_assert(pd_exec_next_wakeup(s.x, &due));
    cr_assert_eq(due, started + 16000);
    close_svc(&s);
    store_free(&st2);
}

Test(persistence, load_refuses_inconsistent_input)
{
    svc s;
    store st = {0};
    open_svc(&s);
    persist(&s, &st);
    pd_event *events = calloc(1, sizeof *events);
    OK(&s, pd_event_decode_json(st.events[0].data, st.events[0].len, &events[0], &s.err));
    pd_exec_config c = base_config(&s);
    pd_exec *x;
    cr_assert_eq(pd_exec_load(&c, st.ops.items, st.ops.len, events, 1, "{", 1, &x, &s.err), PERDURE_E_DECODE);
    cr_assert_eq(pd_exec_load(&c, st.ops.items, st.ops.len, events, 1, "{}", 2, &x, &s.err), PERDURE_E_DECODE);
    cr_assert_eq(pd_exec_load(&c, st.ops.items, 0, events, 1, st.state.data, st.state.len, &x, &s.err),
                 PERDURE_E_DECODE);
    events[0].id = 2;
    cr_assert_eq(pd_exec_load(&c, st.ops.items, st.ops.len, events, 1, st.state.data, st.state.len, &x, &s.err),
                 PERDURE_E_DECODE);
    cr_assert_null(x);
    pd_event_clear(&events[0]);
    free(events);
    store_free(&st);
    close_svc(&s);
}

/* ======================================================================
 * the sorted position sets behind the checkpoint paths (core/util.c)
 * ====================================================================== */

Test(posset, stays_sorted_and_unique)
{
    static const size_t adds[] = {5, 1, 9, 5, 0, 7, 9, 3};
    pd_posset s = {0};
    cr_assert_eq(pd_posset_reserve(&s, 10), 0);
    for (size_t i = 0; i < COUNT(adds); i++)
        pd_posset_add(&s, adds[i]);
    static const size_t want[] = {0, 1, 3, 5, 7, 9};
    cr_assert_eq(s.len, COUNT(want));
    for (size_t i = 0; i < COUNT(want); i++)
        cr_assert_eq(s.at[i], want[i]);
    cr_assert(pd_posset_has(&s, 7) && !pd_posset_has(&s, 8) && !pd_posset_has(&s, 10));
    pd_posset_del(&s, 0);
    pd_posset_del(&s, 8);   /* absent: no-op */
    pd_posset_set(&s, 9, false);
    pd_posset_set(&s, 4, true);
    static const size_t after[] = {1, 3, 4, 5, 7};
    cr_assert_eq(s.len, COUNT(after));
    for (size_t i = 0; i < COUNT(after); i++)
        cr_assert_eq(s.at[i], after[i]);
    pd_posset_free(&s);
    cr_assert(s.at == NULL && s.len == 0 && s.cap == 0);
}

Test(posset, reserve_keeps_the_members)
{
    pd_posset s = {0};
    cr_assert_eq(pd_posset_reserve(&s, 2), 0);
    pd_posset_add(&s, 1);
    pd_posset_add(&s, 0);
    cr_assert_eq(pd_posset_reserve(&s, 1), 0, "never shrinks");
    cr_assert_eq(s.cap, 2);
    cr_assert_eq(pd_posset_reserve(&s, 1000), 0);
    for (size_t i = 999; i >= 2; i--)   /* descending: every add inserts at the front */
        pd_posset_add(&s, i);
    cr_assert_eq(s.len, 1000);
    for (size_t i = 0; i < 1000; i++)
        cr_assert_eq(s.at[i], i);
    pd_posset_free(&s);
}

/* The service side of one durable execution (exec.h): checkpoint validation
 * and application, tokens and deltas, timers, callbacks, chained invokes, and
 * the history (protocol.md §4, §6; schema/history.md). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "exec.h"

#define BIT(status) (1u << (status))
#define NO_EVENT SIZE_MAX

#define TOKEN_BYTES 24                           /* 192 random bits: 32 base64 characters */
#define CLIENT_TOKEN_WINDOW_MS (15LL * 60 * 1000) /* §4.3, model */
#define MAX_CALLBACK_RESULT 262144               /* §5: SendDurableExecutionCallbackSuccess body */
#define STATE_SCHEMA 1

/* One operation and what the service keeps about it besides the record. */
typedef struct xop {
    pd_operation op;
    uint64_t seq;        /* exec->seq at its last change: deltas carry seq > seen */
    size_t started;      /* callbacks, invokes: the position of their *Started event */
    int64_t beat_ms;     /* callbacks: START or the last heartbeat */
} xop;

/* The last accepted checkpoint, for a retry with the same ClientToken (§4.3). */
typedef struct cached {
    pd_bytes client_token, token;
    pd_checkpoint_response response;
    int64_t at_ms;
} cached;

struct pd_exec {
    pd_exec_config cfg;
    char *region, *account, *function_name, *version, *name, *arn;
    int64_t timeout_s;
    xop *ops;                /* start order; ops[0] is the EXECUTION */
    size_t n_ops, cap_ops;
    pd_id_index index;       /* Id -> position in ops */
    pd_event *events;
    size_t n_events, cap_events;
    /* Positions in ops (events for changed_events) that checkpoints visit
     * instead of scanning every operation, which made long executions
     * quadratic. Each has room for the whole array. */
    pd_posset changed;        /* ops changed since pd_exec_take_changes */
    pd_posset changed_events;
    pd_posset unseen;         /* ops with seq > seen (kept while an invocation runs) */
    pd_posset armed;          /* waits STARTED, steps PENDING, callbacks STARTED: next_timer's candidates */
    pd_posset launching;      /* chained invokes whose target the caller has not launched yet */
    uint64_t seq;
    /* the running invocation */
    bool running;
    pd_bytes token, request_id;   /* token absent once a checkpoint ended the execution */
    int64_t invocation_start_ms;
    uint64_t seen;           /* the newest seq delivered to it */
    bool has_cache;
    cached cache;
    /* what comes next */
    bool outcome_pending;    /* an EXECUTION checkpoint ended it: its event follows InvocationCompleted (R4) */
    bool reinvoke;           /* something happened the handler has not seen (§4.6) */
    unsigned failed;         /* consecutive failed invocations */
    int64_t retry_at_ms;     /* no invocation before this after a failed one */
    bool state_dirty, poisoned;
};

/* ======================================================================
 * small helpers
 * ====================================================================== */

static bool terminal(perdure_op_status s) { return s >= PERDURE_STATUS_SUCCEEDED; }
static bool ended(const pd_exec *x) { return x->ops[0].op.status != PERDURE_STATUS_STARTED; }

static perdure_status nomem(pd_exec *x, pd_err *err)
{
    x->poisoned = true;
    return pd_fail(err, PERDURE_E_NOMEM, "out of memory: free the execution and load it again");
}

static perdure_status usable(const pd_exec *x, pd_err *err)
{
    if (!x)
        return pd_fail(err, PERDURE_E_MISUSE, "NULL execution");
    if (x->poisoned)
        return pd_fail(err, PERDURE_E_NOMEM, "the execution is poisoned by an earlier allocation failure");
    return PERDURE_OK;
}

static int bytes_copy(pd_bytes *dst, const pd_bytes *src)
{
    pd_bytes_clear(dst);
    return src && src->present ? pd_bytes_set(dst, src->data, src->len) : 0;
}

static int error_copy(pd_error **dst, const pd_error *src)
{
    pd_error_free(*dst);
    *dst = NULL;
    return src && !(*dst = pd_error_clone(src)) ? -1 : 0;
}

/* An ErrorObject with a type and message (either may be NULL). */
static pd_error *error_make(const char *type, const char *message)
{
    perdure_error_info info = {.error_type = type, .error_message = message};
    return pd_error_from_info(&info);
}

/* Everything we keep goes out as JSON, which must be UTF-8. */
static bool utf8_text(const void *data, size_t len) { return data ? pd_utf8_valid(data, len) : len == 0; }

/* Checks an ErrorObject that comes from a caller, and measures its JSON. */
static perdure_status error_json_size(const pd_error *e, size_t *size, pd_err *err)
{
    pd_buf b;
    pd_buf_init(&b);
    perdure_status st = pd_json_encode_error(e, &b, err);
    *size = b.len;
    pd_buf_free(&b);
    return st;
}

/* 1..max characters, each alphanumeric or in extra. */
static bool name_ok(const char *s, size_t max, const char *extra)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && !strchr(extra, c))
            return false;
    }
    return true;
}

static perdure_status random_bytes(pd_exec *x, void *buf, size_t len, pd_err *err)
{
    if (x->cfg.random(x->cfg.random_user, buf, len))
        return pd_fail(err, PERDURE_E_INTERNAL, "the random source failed");
    return PERDURE_OK;
}

/* TOKEN_BYTES random bytes in base64: opaque, unguessable, and revealing
 * nothing (checkpoint tokens, CallbackIds). */
static perdure_status random_token(pd_exec *x, pd_bytes *out, pd_err *err)
{
    unsigned char raw[TOKEN_BYTES];
    char text[TOKEN_BYTES / 3 * 4 + 1];
    TRY(random_bytes(x, raw, sizeof raw, err));
    EVP_EncodeBlock((unsigned char *)text, raw, sizeof raw);
    return pd_bytes_set_str(out, text) ? nomem(x, err) : PERDURE_OK;
}

/* ======================================================================
 * operations
 * ====================================================================== */

static pd_id_array ops_array(const pd_exec *x)
{
    return (pd_id_array){x->ops, sizeof(xop), offsetof(xop, op.id)};
}

static xop *find(const pd_exec *x, const char *id)
{
    size_t pos = pd_id_index_find(&x->index, ops_array(x), id);
    return pos == SIZE_MAX ? NULL : &x->ops[pos];
}

/* Appends an empty operation with this Id (unique) and indexes it. */
static xop *op_add(pd_exec *x, const char *id)
{
    if (x->n_ops == x->cap_ops) {
        size_t cap = x->cap_ops ? x->cap_ops * 2 : 16;
        xop *ops = realloc(x->ops, cap * sizeof *ops);
        if (!ops)
            return NULL;
        x->ops = ops;
        pd_posset *sets[] = {&x->changed, &x->unseen, &x->armed, &x->launching};
        for (size_t i = 0; i < COUNT(sets); i++)
            if (pd_posset_reserve(sets[i], cap))
                return NULL;
        x->cap_ops = cap;
    }
    xop *o = &x->ops[x->n_ops];
    memset(o, 0, sizeof *o);
    o->started = NO_EVENT;
    snprintf(o->op.id, sizeof o->op.id, "%s", id);
    if (pd_id_index_add(&x->index, ops_array(x), x->n_ops + 1, x->n_ops))
        return NULL;
    x->n_ops++;
    return o;
}

static size_t pos_of(const pd_exec *x, const xop *o) { return (size_t)(o - x->ops); }

/* Whether o may arm a timer (next_timer reads the details). */
static bool may_arm(const xop *o)
{
    const pd_operation *op = &o->op;
    return (op->type == PERDURE_TYPE_WAIT && op->status == PERDURE_STATUS_STARTED) ||
           (op->type == PERDURE_TYPE_STEP && op->status == PERDURE_STATUS_PENDING) ||
           (op->type == PERDURE_TYPE_CALLBACK && op->status == PERDURE_STATUS_STARTED);
}

/* Every change to an operation goes through here, after it: deltas, the
 * store and the timers see it. */
static void touch(pd_exec *x, xop *o)
{
    size_t pos = pos_of(x, o);
    o->seq = ++x->seq;
    pd_posset_add(&x->changed, pos);
    pd_posset_add(&x->unseen, pos);
    if (pos)
        pd_posset_set(&x->armed, pos, may_arm(o));
    x->state_dirty = true;
}

static bool launching(const pd_exec *x, const xop *o) { return pd_posset_has(&x->launching, pos_of(x, o)); }

static void set_launching(pd_exec *x, xop *o, bool on) { pd_posset_set(&x->launching, pos_of(x, o), on); }

/* The invocation has seen every change so far. */
static void all_seen(pd_exec *x)
{
    x->seen = x->seq;
    x->unseen.len = 0;
}

/* Something the handler has not seen happened: it wants an invocation (§4.6). */
static void wake(pd_exec *x)
{
    x->reinvoke = true;
    x->state_dirty = true;
}

/* ======================================================================
 * events
 * ====================================================================== */

/* The Details members, in the order they are written (the protocol's). */
enum {
    M_FUNCTION = 1 << 0,
    M_TENANT = 1 << 1,
    M_CALLBACK_ID = 1 << 2,
    M_START = 1 << 3,
    M_END = 1 << 4,
    M_REQUEST = 1 << 5,
    M_INPUT = 1 << 6,
    M_RESULT = 1 << 7,
    M_ERROR = 1 << 8,
    M_EXEC_TIMEOUT = 1 << 9,
    M_DURATION = 1 << 10,
    M_SCHEDULED_END = 1 << 11,
    M_HEARTBEAT = 1 << 12,
    M_TIMEOUT = 1 << 13,
    M_VERSION = 1 << 14,
    M_TARGET_ARN = 1 << 15,
    M_RETRY = 1 << 16,
};

static const struct {
    const char *name;
    unsigned members;
} event_types[PD_EV_COUNT] = {
    [PD_EV_EXECUTION_STARTED] = {"ExecutionStarted", M_INPUT | M_EXEC_TIMEOUT},
    [PD_EV_EXECUTION_SUCCEEDED] = {"ExecutionSucceeded", M_RESULT},
    [PD_EV_EXECUTION_FAILED] = {"ExecutionFailed", M_ERROR},
    [PD_EV_EXECUTION_TIMED_OUT] = {"ExecutionTimedOut", M_ERROR},
    [PD_EV_EXECUTION_STOPPED] = {"ExecutionStopped", M_ERROR},
    [PD_EV_CONTEXT_STARTED] = {"ContextStarted", 0},
    [PD_EV_CONTEXT_SUCCEEDED] = {"ContextSucceeded", M_RESULT},
    [PD_EV_CONTEXT_FAILED] = {"ContextFailed", M_ERROR},
    [PD_EV_WAIT_STARTED] = {"WaitStarted", M_DURATION | M_SCHEDULED_END},
    [PD_EV_WAIT_SUCCEEDED] = {"WaitSucceeded", M_DURATION},
    [PD_EV_WAIT_CANCELLED] = {"WaitCancelled", M_ERROR},
    [PD_EV_STEP_STARTED] = {"StepStarted", 0},
    [PD_EV_STEP_SUCCEEDED] = {"StepSucceeded", M_RESULT | M_RETRY},
    [PD_EV_STEP_FAILED] = {"StepFailed", M_ERROR | M_RETRY},
    [PD_EV_CHAINED_INVOKE_STARTED] = {"ChainedInvokeStarted", M_FUNCTION | M_TENANT | M_INPUT | M_VERSION | M_TARGET_ARN},
    [PD_EV_CHAINED_INVOKE_SUCCEEDED] = {"ChainedInvokeSucceeded", M_RESULT},
    [PD_EV_CHAINED_INVOKE_FAILED] = {"ChainedInvokeFailed", M_ERROR},
    [PD_EV_CHAINED_INVOKE_TIMED_OUT] = {"ChainedInvokeTimedOut", M_ERROR},
    [PD_EV_CHAINED_INVOKE_STOPPED] = {"ChainedInvokeStopped", M_ERROR},
    [PD_EV_CALLBACK_STARTED] = {"CallbackStarted", M_CALLBACK_ID | M_HEARTBEAT | M_TIMEOUT},
    [PD_EV_CALLBACK_SUCCEEDED] = {"CallbackSucceeded", M_RESULT},
    [PD_EV_CALLBACK_FAILED] = {"CallbackFailed", M_ERROR},
    [PD_EV_CALLBACK_TIMED_OUT] = {"CallbackTimedOut", M_ERROR},
    [PD_EV_INVOCATION_COMPLETED] = {"InvocationCompleted", M_START | M_END | M_REQUEST | M_ERROR},
};

/* How a member is written. Texts and times are left out when absent / zero,
 * and so are durations, which are positive whenever the protocol requires
 * them. Payload wrappers (Input, Result) are always written; Error only
 * when there is one. */
typedef enum mkind { MK_TEXT, MK_TIME, MK_SECONDS, MK_PAYLOAD, MK_ERROR, MK_RETRY } mkind;

static const struct member {
    unsigned bit;
    const char *key;
    mkind kind;
    size_t offset;
} members[] = {
    {M_FUNCTION, "FunctionName", MK_TEXT, offsetof(pd_event, function_name)},
    {M_TENANT, "TenantId", MK_TEXT, offsetof(pd_event, tenant_id)},
    {M_CALLBACK_ID, "CallbackId", MK_TEXT, offsetof(pd_event, callback_id)},
    {M_START, "StartTimestamp", MK_TIME, offsetof(pd_event, start_ms)},
    {M_END, "EndTimestamp", MK_TIME, offsetof(pd_event, end_ms)},
    {M_REQUEST, "RequestId", MK_TEXT, offsetof(pd_event, request_id)},
    {M_INPUT, "Input", MK_PAYLOAD, offsetof(pd_event, payload)},
    {M_RESULT, "Result", MK_PAYLOAD, offsetof(pd_event, payload)},
    {M_ERROR, "Error", MK_ERROR, offsetof(pd_event, error)},
    {M_EXEC_TIMEOUT, "ExecutionTimeout", MK_SECONDS, offsetof(pd_event, seconds)},
    {M_DURATION, "Duration", MK_SECONDS, offsetof(pd_event, seconds)},
    {M_SCHEDULED_END, "ScheduledEndTimestamp", MK_TIME, offsetof(pd_event, scheduled_end_ms)},
    {M_HEARTBEAT, "HeartbeatTimeout", MK_SECONDS, offsetof(pd_event, heartbeat_s)},
    {M_TIMEOUT, "Timeout", MK_SECONDS, offsetof(pd_event, timeout_s)},
    {M_VERSION, "ExecutedVersion", MK_TEXT, offsetof(pd_event, executed_version)},
    {M_TARGET_ARN, "DurableExecutionArn", MK_TEXT, offsetof(pd_event, target_arn)},
    {M_RETRY, "RetryDetails", MK_RETRY, 0},
};

#define MEMBER(e, m, type) ((type *)((char *)(e) + (m)->offset))

const char *pd_event_type_name(pd_event_type t) { return (unsigned)t < PD_EV_COUNT ? event_types[t].name : NULL; }

void pd_event_clear(pd_event *e)
{
    pd_bytes *texts[] = {&e->name,        &e->payload,   &e->callback_id,      &e->function_name,
                         &e->tenant_id,   &e->executed_version, &e->target_arn, &e->request_id};
    for (size_t i = 0; i < COUNT(texts); i++)
        pd_bytes_clear(texts[i]);
    pd_error_free(e->error);
    memset(e, 0, sizeof *e);
}

static int event_copy(pd_event *dst, const pd_event *src)
{
    *dst = *src;
    pd_bytes *texts[] = {&dst->name,      &dst->payload,   &dst->callback_id,      &dst->function_name,
                         &dst->tenant_id, &dst->executed_version, &dst->target_arn, &dst->request_id};
    const pd_bytes *from[] = {&src->name,      &src->payload,   &src->callback_id,      &src->function_name,
                              &src->tenant_id, &src->executed_version, &src->target_arn, &src->request_id};
    for (size_t i = 0; i < COUNT(texts); i++)
        *texts[i] = (pd_bytes){0};
    dst->error = NULL;
    for (size_t i = 0; i < COUNT(texts); i++)
        if (bytes_copy(texts[i], from[i]))
            goto fail;
    if (error_copy(&dst->error, src->error))
        goto fail;
    return 0;
fail:
    pd_event_clear(dst);
    return -1;
}

static int events_reserve(pd_exec *x)
{
    if (x->n_events < x->cap_events)
        return 0;
    size_t cap = x->cap_events ? x->cap_events * 2 : 32;
    pd_event *events = realloc(x->events, cap * sizeof *events);
    if (!events || (x->events = events, pd_posset_reserve(&x->changed_events, cap)))
        return -1;
    x->cap_events = cap;
    return 0;
}

/* Appends an event of op (NULL: InvocationCompleted, which names none). */
static pd_event *event_add(pd_exec *x, pd_event_type type, const pd_operation *op, int64_t now)
{
    if (events_reserve(x))
        return NULL;
    pd_event *e = &x->events[x->n_events];
    memset(e, 0, sizeof *e);
    e->id = x->n_events + 1;
    e->type = type;
    e->ts_ms = now;
    if (op) {
        memcpy(e->op_id, op->id, sizeof e->op_id);
        memcpy(e->parent_id, op->parent_id, sizeof e->parent_id);
        memcpy(e->sub_type, op->sub_type, sizeof e->sub_type);
        if (bytes_copy(&e->name, &op->name))
            return NULL;
    }
    pd_posset_add(&x->changed_events, x->n_events);
    x->n_events++;
    x->state_dirty = true;
    return e;
}

/* ---- event JSON ---- */

static void put_seconds(pd_jw *w, const char *key, int64_t ms)
{
    pd_jw_key(w, key);
    pd_jw_real(w, (double)ms / 1000.0);
}

static int64_t ms_of(const json_t *v)
{
    double ms = json_number_value(v) * 1000.0;
    return (int64_t)(ms < 0 ? ms - 0.5 : ms + 0.5);   /* 1767225600.205 is 1767225600.20499.. as a double */
}

static void put_int(pd_jw *w, const char *key, int64_t v)
{
    pd_jw_key(w, key);
    pd_jw_int(w, v);
}

static void put_text(pd_jw *w, const char *key, const pd_bytes *b)
{
    if (b->present) {
        pd_jw_key(w, key);
        pd_jw_string(w, b->data, b->len);
    }
}

static void put_fixed(pd_jw *w, const char *key, const char *s)
{
    if (*s) {
        pd_jw_key(w, key);
        pd_jw_string(w, s, strlen(s));
    }
}

static void put_error(pd_jw *w, const char *key, const pd_error *e)
{
    pd_buf text;
    pd_buf_init(&text);
    pd_jw_key(w, key);
    if (pd_json_encode_error(e, &text, NULL) == PERDURE_OK)
        pd_jw_raw(w, text.data, text.len);
    else
        w->bad_text = true;
    pd_buf_free(&text);
}

static void put_details(pd_jw *w, const pd_event *e, bool include_data)
{
    unsigned mask = event_types[e->type].members;
    for (size_t i = 0; i < COUNT(members); i++) {
        const struct member *m = &members[i];
        if (!(mask & m->bit))
            continue;
        switch (m->kind) {
        case MK_TEXT:
            put_text(w, m->key, MEMBER(e, m, pd_bytes));
            break;
        case MK_TIME:
        case MK_SECONDS: {
            int64_t v = *MEMBER(e, m, int64_t);
            if (v && m->kind == MK_TIME)
                put_seconds(w, m->key, v);
            else if (v)
                put_int(w, m->key, v);
            break;
        }
        case MK_PAYLOAD:
            pd_jw_key(w, m->key);
            pd_jw_object(w);
            if (include_data)
                put_text(w, "Payload", &e->payload);
            pd_jw_end_object(w);
            break;
        case MK_ERROR:
            if (!e->error)
                break;
            pd_jw_key(w, m->key);
            pd_jw_object(w);
            if (include_data)
                put_error(w, "Payload", e->error);
            pd_jw_end_object(w);
            break;
        case MK_RETRY:
            pd_jw_key(w, m->key);
            pd_jw_object(w);
            put_int(w, "CurrentAttempt", e->attempt);
            if (e->retry_delay_s)
                put_int(w, "NextAttemptDelaySeconds", e->retry_delay_s);
            pd_jw_end_object(w);
            break;
        }
    }
}

static void put_event(pd_jw *w, const pd_event *e, bool include_data)
{
    char key[64];
    snprintf(key, sizeof key, "%sDetails", event_types[e->type].name);
    pd_jw_object(w);
    pd_jw_key(w, "EventType");
    pd_jw_string(w, event_types[e->type].name, strlen(event_types[e->type].name));
    put_fixed(w, "SubType", e->sub_type);
    put_int(w, "EventId", (int64_t)e->id);
    put_fixed(w, "Id", e->op_id);
    put_text(w, "Name", &e->name);
    put_fixed(w, "ParentId", e->parent_id);
    put_seconds(w, "EventTimestamp", e->ts_ms);
    pd_jw_key(w, key);
    pd_jw_object(w);
    put_details(w, e, include_data);
    pd_jw_end_object(w);
    pd_jw_end_object(w);
}

perdure_status pd_event_encode_json(const pd_event *e, bool include_data, pd_buf *out, pd_err *err)
{
    if (!e || !out || (unsigned)e->type >= PD_EV_COUNT)
        return pd_fail(err, PERDURE_E_MISUSE, "pd_event_encode_json: NULL or unknown event");
    pd_jw w;
    pd_jw_init(&w, out);
    put_event(&w, e, include_data);
    return pd_jw_finish(&w, "history event", err);
}

/* ---- decoding (a store reading back what pd_event_encode_json wrote) ---- */

typedef struct jread {
    json_t *obj;
    pd_err *err;
} jread;

/* obj[key] of the given jansson type (JSON_REAL: any number), or NULL when
 * absent; a wrong type fails. */
static perdure_status jmember(jread *r, const char *key, json_type type, json_t **out)
{
    json_t *v = json_object_get(r->obj, key);
    *out = NULL;
    if (!v)
        return PERDURE_OK;
    bool ok = type == JSON_REAL ? json_is_number(v) : json_typeof(v) == type;
    if (!ok)
        return pd_fail(r->err, PERDURE_E_DECODE, "event: %s has the wrong type", key);
    *out = v;
    return PERDURE_OK;
}

static perdure_status jtext(jread *r, const char *key, pd_bytes *dst)
{
    json_t *v;
    TRY(jmember(r, key, JSON_STRING, &v));
    if (v && pd_bytes_set(dst, json_string_value(v), json_string_length(v)))
        return pd_fail(r->err, PERDURE_E_NOMEM, "out of memory");
    return PERDURE_OK;
}

static perdure_status jfixed(jread *r, const char *key, char *dst, size_t max)
{
    json_t *v;
    TRY(jmember(r, key, JSON_STRING, &v));
    if (!v)
        return PERDURE_OK;
    if (json_string_length(v) == 0 || json_string_length(v) > max || memchr(json_string_value(v), 0, json_string_length(v)))
        return pd_fail(r->err, PERDURE_E_DECODE, "event: %s must be 1 to %zu characters", key, max);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return PERDURE_OK;
}

static perdure_status jint(jread *r, const char *key, bool time, int64_t *dst)
{
    json_t *v;
    TRY(jmember(r, key, time ? JSON_REAL : JSON_INTEGER, &v));
    if (v)
        *dst = time ? ms_of(v) : json_integer_value(v);
    return PERDURE_OK;
}

/* Error{Payload: ErrorObject}; without the Payload (IncludeExecutionData
 * false) an empty ErrorObject, so that the member stays. */
static perdure_status jerror(jread *r, pd_event *e)
{
    json_t *payload = json_object_get(r->obj, "Payload");
    if (!payload) {
        e->error = pd_error_new();
        return e->error ? PERDURE_OK : pd_fail(r->err, PERDURE_E_NOMEM, "out of memory");
    }
    char *text = json_dumps(payload, JSON_COMPACT);
    if (!text)
        return pd_fail(r->err, PERDURE_E_NOMEM, "out of memory");
    perdure_status st = pd_json_decode_error(text, strlen(text), &e->error, r->err);
    free(text);
    return st;
}

static perdure_status jdetails(jread *r, pd_event *e)
{
    unsigned mask = event_types[e->type].members;
    for (size_t i = 0; i < COUNT(members); i++) {
        const struct member *m = &members[i];
        json_t *sub;
        if (!(mask & m->bit))
            continue;
        switch (m->kind) {
        case MK_TEXT:
            TRY(jtext(r, m->key, MEMBER(e, m, pd_bytes)));
            break;
        case MK_TIME:
        case MK_SECONDS:
            TRY(jint(r, m->key, m->kind == MK_TIME, MEMBER(e, m, int64_t)));
            break;
        case MK_PAYLOAD:
        case MK_ERROR:
        case MK_RETRY:
            TRY(jmember(r, m->key, JSON_OBJECT, &sub));
            if (!sub)
                break;
            jread s = {sub, r->err};
            if (m->kind == MK_PAYLOAD) {
                TRY(jtext(&s, "Payload", &e->payload));
            } else if (m->kind == MK_ERROR) {
                TRY(jerror(&s, e));
            } else {
                int64_t attempt = 0;
                TRY(jint(&s, "CurrentAttempt", false, &attempt));
                TRY(jint(&s, "NextAttemptDelaySeconds", false, &e->retry_delay_s));
                e->attempt = (uint32_t)attempt;
            }
            break;
        }
    }
    return PERDURE_OK;
}

static perdure_status jevent(jread *r, pd_event *e)
{
    json_t *type, *id, *ts, *details;
    TRY(jmember(r, "EventType", JSON_STRING, &type));
    TRY(jmember(r, "EventId", JSON_INTEGER, &id));
    TRY(jmember(r, "EventTimestamp", JSON_REAL, &ts));
    if (!type || !id || !ts || json_integer_value(id) < 1)
        return pd_fail(r->err, PERDURE_E_DECODE, "event: EventType, EventId and EventTimestamp are required");
    size_t t = 0;
    while (t < PD_EV_COUNT && strcmp(event_types[t].name, json_string_value(type)) != 0)
        t++;
    if (t == PD_EV_COUNT)
        return pd_fail(r->err, PERDURE_E_DECODE, "event: unknown EventType \"%.40s\"", json_string_value(type));
    e->type = (pd_event_type)t;
    e->id = (uint64_t)json_integer_value(id);
    e->ts_ms = ms_of(ts);
    TRY(jfixed(r, "Id", e->op_id, PD_MAX_ID));
    TRY(jfixed(r, "ParentId", e->parent_id, PD_MAX_ID));
    TRY(jfixed(r, "SubType", e->sub_type, PD_MAX_SUBTYPE));
    TRY(jtext(r, "Name", &e->name));
    char key[64];
    snprintf(key, sizeof key, "%sDetails", event_types[t].name);
    TRY(jmember(r, key, JSON_OBJECT, &details));
    if (!details)
        return pd_fail(r->err, PERDURE_E_DECODE, "event: %s is required", key);
    jread d = {details, r->err};
    return jdetails(&d, e);
}

perdure_status pd_event_decode_json(const void *data, size_t len, pd_event *out, pd_err *err)
{
    if (!out)
        return pd_fail(err, PERDURE_E_MISUSE, "pd_event_decode_json: NULL out");
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *root = json_loadb(data ? data : "", data ? len : 0, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(root)) {
        json_decref(root);
        return pd_fail(err, PERDURE_E_DECODE, "event: not a JSON object (%s)", root ? "wrong type" : je.text);
    }
    jread r = {root, err};
    perdure_status st = jevent(&r, out);
    json_decref(root);
    if (st)
        pd_event_clear(out);
    return st;
}

/* ======================================================================
 * creating
 * ====================================================================== */

static void cache_clear(pd_exec *x)
{
    if (!x->has_cache)
        return;
    pd_bytes_clear(&x->cache.client_token);
    pd_bytes_clear(&x->cache.token);
    pd_checkpoint_response_free(&x->cache.response);
    x->has_cache = false;
}

void pd_exec_free(pd_exec *x)
{
    if (!x)
        return;
    cache_clear(x);
    char *texts[] = {x->region, x->account, x->function_name, x->version, x->name, x->arn};
    for (size_t i = 0; i < COUNT(texts); i++)
        free(texts[i]);
    for (size_t i = 0; i < x->n_ops; i++)
        pd_operation_clear(&x->ops[i].op);
    for (size_t i = 0; i < x->n_events; i++)
        pd_event_clear(&x->events[i]);
    pd_posset *sets[] = {&x->changed, &x->changed_events, &x->unseen, &x->armed, &x->launching};
    for (size_t i = 0; i < COUNT(sets); i++)
        pd_posset_free(sets[i]);
    free(x->ops);
    pd_id_index_free(&x->index);
    free(x->events);
    pd_bytes_clear(&x->token);
    pd_bytes_clear(&x->request_id);
    free(x);
}

/* Copies the identity and builds the ARN (§1). */
static perdure_status set_identity(pd_exec *x, const char *region, const char *account, const char *function_name,
                                   const char *version, const char *name, const char *id, pd_err *err)
{
    static const char ids[] = "-_";
    if (!name_ok(region, 64, ids) || !name_ok(account, 64, ids) || !name_ok(function_name, 64, ids) ||
        !name_ok(version, 128, "-_$") || !name_ok(name, 64, ids) || !name_ok(id, PD_MAX_ID, ids))
        return pd_fail(err, PERDURE_E_INVALID,
                       "execution identity: region, account, function name, version, name and id must be "
                       "1 to 64 characters of [a-zA-Z0-9-_] (the version 1 to 128, and it may hold $)");
    char **dst[] = {&x->region, &x->account, &x->function_name, &x->version, &x->name};
    const char *src[] = {region, account, function_name, version, name};
    for (size_t i = 0; i < COUNT(dst); i++)
        if (!(*dst[i] = strdup(src[i])))
            return nomem(x, err);
#define ARN_FORMAT "arn:aws:lambda:%s:%s:function:%s:%s/durable-execution/%s/%s"
    size_t n = (size_t)snprintf(NULL, 0, ARN_FORMAT, region, account, function_name, version, name, id);
    if (!(x->arn = malloc(n + 1)))
        return nomem(x, err);
    snprintf(x->arn, n + 1, ARN_FORMAT, region, account, function_name, version, name, id);
    return PERDURE_OK;
}

static perdure_status exec_alloc(const pd_exec_config *cfg, pd_exec **out, pd_err *err)
{
    *out = NULL;
    if (!cfg || !cfg->random)
        return pd_fail(err, PERDURE_E_MISUSE, "pd_exec: a config with a random function is required");
    pd_exec *x = calloc(1, sizeof *x);
    if (!x)
        return pd_fail(err, PERDURE_E_NOMEM, "out of memory");
    x->cfg = *cfg;
    *out = x;
    return PERDURE_OK;
}

static perdure_status exec_create(pd_exec *x, const pd_exec_options *o, int64_t now, pd_err *err)
{
    char generated[33];
    const char *id = o->id;
    if (o->execution_timeout_s < 1 || o->execution_timeout_s > PD_MAX_DURATION)
        return pd_fail(err, PERDURE_E_INVALID, "ExecutionTimeout must be 1 to %lld seconds", PD_MAX_DURATION);
    if (o->input && (o->input_len > PD_MAX_PAYLOAD || !utf8_text(o->input, o->input_len)))
        return pd_fail(err, PERDURE_E_INVALID, "the input must be UTF-8 text of at most %llu bytes", PD_MAX_PAYLOAD);
    if (!id) {
        unsigned char raw[16];
        TRY(random_bytes(x, raw, sizeof raw, err));
        for (size_t i = 0; i < sizeof raw; i++)
            snprintf(generated + 2 * i, 3, "%02x", raw[i]);
        id = generated;
    }
    TRY(set_identity(x, o->region, o->account, o->function_name, o->version, o->name, id, err));
    x->timeout_s = o->execution_timeout_s;
    xop *e = op_add(x, id);
    if (!e || (o->input && pd_bytes_set(&e->op.input_payload, o->input, o->input_len)))
        return nomem(x, err);
    e->op.type = PERDURE_TYPE_EXECUTION;
    e->op.status = PERDURE_STATUS_STARTED;
    e->op.start_ms = now;
    touch(x, e);
    pd_event *ev = event_add(x, PD_EV_EXECUTION_STARTED, &e->op, now);
    if (!ev || bytes_copy(&ev->payload, &e->op.input_payload))
        return nomem(x, err);
    ev->seconds = x->timeout_s;
    wake(x);
    return PERDURE_OK;
}

perdure_status pd_exec_new(const pd_exec_config *cfg, const pd_exec_options *opts, int64_t now_ms, pd_exec **out,
                           pd_err *err)
{
    if (!out || !opts)
        return pd_fail(err, PERDURE_E_MISUSE, "pd_exec_new: NULL options or out");
    *out = NULL;
    pd_exec *x;
    TRY(exec_alloc(cfg, &x, err));
    perdure_status st = exec_create(x, opts, now_ms, err);
    if (st) {
        pd_exec_free(x);
        return st;
    }
    *out = x;
    return PERDURE_OK;
}

/* ======================================================================
 * the outcome of the execution
 * ====================================================================== */

static const pd_event_type outcome_events[] = {
    [PERDURE_STATUS_SUCCEEDED] = PD_EV_EXECUTION_SUCCEEDED,
    [PERDURE_STATUS_FAILED] = PD_EV_EXECUTION_FAILED,
    [PERDURE_STATUS_TIMED_OUT] = PD_EV_EXECUTION_TIMED_OUT,
    [PERDURE_STATUS_STOPPED] = PD_EV_EXECUTION_STOPPED,
};

/* Ends the execution: SUCCEEDED with result, anything else with error. */
static perdure_status set_outcome(pd_exec *x, perdure_op_status status, const pd_bytes *result, const pd_error *error,
                                  int64_t now, pd_err *err)
{
    xop *e = &x->ops[0];
    e->op.status = status;
    e->op.end_ms = now;
    if (bytes_copy(&e->op.result, result) || error_copy(&e->op.error, error))
        return nomem(x, err);
    if (status != PERDURE_STATUS_SUCCEEDED && !e->op.error && !(e->op.error = pd_error_new()))
        return nomem(x, err);
    touch(x, e);
    return PERDURE_OK;
}

/* ExecutionSucceeded / Failed / TimedOut / Stopped from the EXECUTION record. */
static perdure_status outcome_event(pd_exec *x, int64_t now, pd_err *err)
{
    const pd_operation *op = &x->ops[0].op;
    pd_event *ev = event_add(x, outcome_events[op->status], op, now);
    if (!ev || bytes_copy(&ev->payload, &op->result) || error_copy(&ev->error, op->error))
        return nomem(x, err);
    return PERDURE_OK;
}

static perdure_status end_execution(pd_exec *x, perdure_op_status status, const pd_bytes *result,
                                    const pd_error *error, int64_t now, pd_err *err)
{
    TRY(set_outcome(x, status, result, error, now, err));
    return outcome_event(x, now, err);
}

/* ======================================================================
 * timers
 * ====================================================================== */

typedef enum timer_kind { T_NONE, T_EXECUTION, T_WAIT, T_RETRY, T_CALLBACK, T_HEARTBEAT } timer_kind;

typedef struct timer {
    timer_kind kind;
    size_t op;
    int64_t due;
} timer;

/* Ties go to the earlier operation (the execution is 0), then to the kind
 * considered first. */
static void consider(timer *best, timer_kind kind, size_t op, int64_t due)
{
    if (best->kind == T_NONE || due < best->due || (due == best->due && op < best->op))
        *best = (timer){kind, op, due};
}

/* The CallbackStarted (timeouts) or ChainedInvokeStarted (what to launch) of o. */
static const pd_event *started_event(const pd_exec *x, const xop *o)
{
    return o->started == NO_EVENT ? NULL : &x->events[o->started];
}

static int64_t deadline(const pd_exec *x) { return x->ops[0].op.start_ms + x->timeout_s * 1000; }

/* The earliest armed timer; ties go to the execution, then to start order. */
static timer next_timer(const pd_exec *x)
{
    timer best = {T_NONE, 0, 0};
    if (ended(x))
        return best;
    consider(&best, T_EXECUTION, 0, deadline(x));
    for (size_t k = 0; k < x->armed.len; k++) {
        size_t i = x->armed.at[k];
        const pd_operation *op = &x->ops[i].op;
        const pd_event *cb;
        if (op->type == PERDURE_TYPE_WAIT && op->status == PERDURE_STATUS_STARTED)
            consider(&best, T_WAIT, i, op->scheduled_end_ms);
        else if (op->type == PERDURE_TYPE_STEP && op->status == PERDURE_STATUS_PENDING)
            consider(&best, T_RETRY, i, op->next_attempt_ms);
        else if (op->type == PERDURE_TYPE_CALLBACK && op->status == PERDURE_STATUS_STARTED &&
                 (cb = started_event(x, &x->ops[i]))) {
            if (cb->timeout_s)
                consider(&best, T_CALLBACK, i, op->start_ms + cb->timeout_s * 1000);
            if (cb->heartbeat_s)
                consider(&best, T_HEARTBEAT, i, x->ops[i].beat_ms + cb->heartbeat_s * 1000);
        }
    }
    return best;
}

/* A service-side completion of a CALLBACK or CHAINED_INVOKE (result or error). */
static perdure_status complete_op(pd_exec *x, xop *o, perdure_op_status status, pd_event_type type,
                                  const pd_bytes *result, pd_error *error /* moved */, int64_t now, pd_err *err)
{
    o->op.status = status;
    o->op.end_ms = now;
    set_launching(x, o, false);
    pd_error_free(o->op.error);
    o->op.error = error;
    if (bytes_copy(&o->op.result, result))
        return nomem(x, err);
    touch(x, o);
    wake(x);
    pd_event *ev = event_add(x, type, &o->op, now);
    if (!ev || bytes_copy(&ev->payload, result) || error_copy(&ev->error, error))
        return nomem(x, err);
    return PERDURE_OK;
}

static perdure_status fire(pd_exec *x, timer t, int64_t now, pd_err *err)
{
    static const struct {
        const char *type, *message;
    } timeouts[] = {
        [T_CALLBACK] = {"Callback.Timeout", "Callback timed out"},
        [T_HEARTBEAT] = {"Callback.Heartbeat", "Callback timed out on heartbeat"},
    };
    xop *o = &x->ops[t.op];
    switch (t.kind) {
    case T_EXECUTION: {
        char message[96];
        snprintf(message, sizeof message, "Execution timed out after %lld seconds.", (long long)x->timeout_s);
        pd_error *e = error_make(NULL, message);
        perdure_status st = e ? end_execution(x, PERDURE_STATUS_TIMED_OUT, NULL, e, now, err) : nomem(x, err);
        pd_error_free(e);
        return st;
    }
    case T_WAIT: {
        o->op.status = PERDURE_STATUS_SUCCEEDED;
        o->op.end_ms = now;
        touch(x, o);
        wake(x);
        pd_event *ev = event_add(x, PD_EV_WAIT_SUCCEEDED, &o->op, now);
        if (!ev)
            return nomem(x, err);
        ev->seconds = (o->op.scheduled_end_ms - o->op.start_ms) / 1000;
        return PERDURE_OK;
    }
    case T_RETRY:   /* R6: no event */
        o->op.status = PERDURE_STATUS_READY;
        o->op.next_attempt_ms = 0;
        touch(x, o);
        wake(x);
        return PERDURE_OK;
    case T_CALLBACK:
    case T_HEARTBEAT: {
        pd_error *e = error_make(timeouts[t.kind].type, timeouts[t.kind].message);
        if (!e)
            return nomem(x, err);
        return complete_op(x, o, PERDURE_STATUS_TIMED_OUT, PD_EV_CALLBACK_TIMED_OUT, NULL, e, now, err);
    }
    case T_NONE:
        break;
    }
    return PERDURE_OK;
}

static perdure_status fire_due(pd_exec *x, int64_t now, pd_err *err)
{
    for (timer t = next_timer(x); t.kind != T_NONE && t.due <= now; t = next_timer(x))
        TRY(fire(x, t, now, err));
    return PERDURE_OK;
}

perdure_status pd_exec_fire_timers(pd_exec *x, int64_t now_ms, pd_err *err)
{
    TRY(usable(x, err));
    return fire_due(x, now_ms, err);
}

bool pd_exec_next_wakeup(const pd_exec *x, int64_t *due_ms)
{
    if (!x || x->poisoned || ended(x))
        return false;
    timer t = next_timer(x);
    bool armed = t.kind != T_NONE;
    int64_t due = t.due;
    /* An invocation is owed: at once, or when a failed one may be retried. */
    if (!x->running && x->reinvoke && (!armed || x->retry_at_ms < due)) {
        armed = true;
        due = x->retry_at_ms;
    }
    if (armed && due_ms)
        *due_ms = due;
    return armed;
}

bool pd_exec_wants_invocation(const pd_exec *x, int64_t now_ms)
{
    return x && !x->poisoned && !ended(x) && !x->running && x->reinvoke && now_ms >= x->retry_at_ms;
}

/* ======================================================================
 * checkpoint validation (§4.2)
 * ====================================================================== */

#define ANY_STATUS 0u
#define S_ABSENT BIT(PERDURE_STATUS_ABSENT)
#define S_STARTED BIT(PERDURE_STATUS_STARTED)
#define S_READY BIT(PERDURE_STATUS_READY)

/* Extra checks of one (type, action), in the emulator's order. */
enum { C_NO_ERROR = 1, C_NO_PAYLOAD = 2, C_STEP_OPTIONS = 4, C_NOT_BOTH = 8, C_WAIT_OPTIONS = 16, C_INVOKE_OPTIONS = 32 };

static const struct {
    unsigned check;
    const char *message;
} checks[] = {
    {C_NO_ERROR, "Cannot provide an Error for SUCCEED action."},
    {C_NO_PAYLOAD, "Cannot provide a Payload for FAIL action."},
    {C_STEP_OPTIONS, "Invalid StepOptions for the given action."},
    {C_NOT_BOTH, "Cannot provide both error and payload to RETRY a STEP."},
    {C_WAIT_OPTIONS, "Invalid WaitOptions for the given action."},
    {C_INVOKE_OPTIONS, "Update for CHAINED_INVOKE operation requires ChainedInvokeOptions."},
};

#define NO_EV PD_EV_COUNT   /* the update writes no event of its own */

/* §4.1: every (type, action) pair accepted, from which statuses, and its
 * event. A STEP RETRY writes StepSucceeded instead when it has no Error. */
static const struct rule {
    perdure_op_type type;
    perdure_action action;
    unsigned from;
    const char *bad_state;
    unsigned checks;
    pd_event_type event;
} rules[] = {
    {PERDURE_TYPE_STEP, PERDURE_ACTION_START, S_ABSENT | S_READY, "Invalid current STEP state to start.", 0,
     PD_EV_STEP_STARTED},
    {PERDURE_TYPE_STEP, PERDURE_ACTION_SUCCEED, S_ABSENT | S_STARTED | S_READY, "Invalid current STEP state to close.",
     C_NO_ERROR, PD_EV_STEP_SUCCEEDED},
    {PERDURE_TYPE_STEP, PERDURE_ACTION_FAIL, S_ABSENT | S_STARTED | S_READY, "Invalid current STEP state to close.",
     C_NO_PAYLOAD, PD_EV_STEP_FAILED},
    {PERDURE_TYPE_STEP, PERDURE_ACTION_RETRY, S_ABSENT | S_STARTED | S_READY,
     "Invalid current STEP state to re-attempt.", C_STEP_OPTIONS | C_NOT_BOTH, PD_EV_STEP_FAILED},
    {PERDURE_TYPE_CONTEXT, PERDURE_ACTION_START, S_ABSENT, "Cannot start a CONTEXT that already exist.", 0,
     PD_EV_CONTEXT_STARTED},
    {PERDURE_TYPE_CONTEXT, PERDURE_ACTION_SUCCEED, S_ABSENT | S_STARTED, "Invalid current CONTEXT state to close.",
     C_NO_ERROR, PD_EV_CONTEXT_SUCCEEDED},
    {PERDURE_TYPE_CONTEXT, PERDURE_ACTION_FAIL, S_ABSENT | S_STARTED, "Invalid current CONTEXT state to close.",
     C_NO_PAYLOAD, PD_EV_CONTEXT_FAILED},
    {PERDURE_TYPE_WAIT, PERDURE_ACTION_START, S_ABSENT, "Cannot start a WAIT that already exist.", C_WAIT_OPTIONS,
     PD_EV_WAIT_STARTED},
    {PERDURE_TYPE_WAIT, PERDURE_ACTION_CANCEL, S_STARTED,
     "Cannot cancel a WAIT that does not exist or has already completed.", 0, PD_EV_WAIT_CANCELLED},
    {PERDURE_TYPE_CALLBACK, PERDURE_ACTION_START, S_ABSENT, "Cannot start a CALLBACK that already exist.", 0,
     PD_EV_CALLBACK_STARTED},
    {PERDURE_TYPE_CHAINED_INVOKE, PERDURE_ACTION_START, S_ABSENT,
     "Cannot start a CHAINED_INVOKE operation that already exists.", C_INVOKE_OPTIONS, PD_EV_CHAINED_INVOKE_STARTED},
    /* No emulator implements it and no event type exists for it (§4.1 "—"). */
    {PERDURE_TYPE_CHAINED_INVOKE, PERDURE_ACTION_CANCEL, S_STARTED,
     "Cannot cancel a CHAINED_INVOKE operation that does not exist or has already completed.", 0, NO_EV},
    /* The outcome's event follows the invocation's InvocationCompleted (R4). */
    {PERDURE_TYPE_EXECUTION, PERDURE_ACTION_SUCCEED, ANY_STATUS, NULL, C_NO_ERROR, NO_EV},
    {PERDURE_TYPE_EXECUTION, PERDURE_ACTION_FAIL, ANY_STATUS, NULL, C_NO_PAYLOAD, NO_EV},
};

static const struct rule *rule_for(perdure_op_type type, perdure_action action)
{
    for (size_t i = 0; i < COUNT(rules); i++)
        if (rules[i].type == type && rules[i].action == action)
            return &rules[i];
    return NULL;
}

static perdure_status reject(pd_err *err, const char *message)
{
    return pd_fail(err, PERDURE_E_INVALID, "%s", message);
}

static bool fails_check(unsigned check, const pd_update *u)
{
    switch (check) {
    case C_NO_ERROR:
        return u->error != NULL;
    case C_NO_PAYLOAD:
        return u->payload.present;
    case C_STEP_OPTIONS:
        return u->next_attempt_delay_s < 1 || u->next_attempt_delay_s > PD_MAX_DURATION;
    case C_NOT_BOTH:
        return u->error && u->payload.present;
    case C_WAIT_OPTIONS:
        return u->wait_seconds < 1 || u->wait_seconds > PD_MAX_DURATION;
    case C_INVOKE_OPTIONS:
        return !u->function_name.present || u->function_name.len == 0;
    }
    return false;
}

/* Rule 4: an existing operation's identity cannot change. */
static perdure_status check_consistent(const xop *o, const pd_update *u, pd_err *err)
{
    const pd_operation *op = &o->op;
    if (u->type != op->type)
        return reject(err, "Inconsistent operation type.");
    if (u->sub_type[0] && strcmp(u->sub_type, op->sub_type) != 0)
        return reject(err, "Inconsistent operation subtype.");
    if (u->name.present &&
        (!op->name.present || u->name.len != op->name.len || memcmp(u->name.data, op->name.data, u->name.len) != 0))
        return reject(err, "Inconsistent operation name.");
    if (u->parent_id[0] && strcmp(u->parent_id, op->parent_id) != 0)
        return reject(err, "Inconsistent parent operation id.");
    return PERDURE_OK;
}

/* Rules 4 to 7 for one update, against the state before the batch. */
static perdure_status check_update(const pd_exec *x, const pd_update *u, pd_err *err)
{
    const xop *o = find(x, u->id);
    if (o)
        TRY(check_consistent(o, u, err));
    if (u->error) {
        size_t size;
        TRY(error_json_size(u->error, &size, err));
        if (size > PD_MAX_ERROR_JSON)
            return reject(err, "Error object size must be less than 32768 bytes.");
    }
    if ((unsigned)u->type > PERDURE_TYPE_CHAINED_INVOKE)
        return reject(err, "Unknown operation type.");
    const struct rule *r = rule_for(u->type, u->action);
    if (!r)
        return reject(err, "Invalid action for the given operation type.");
    perdure_op_status status = o ? o->op.status : PERDURE_STATUS_ABSENT;
    if (r->from != ANY_STATUS && !(r->from & BIT(status)))
        return reject(err, r->bad_state);
    for (size_t i = 0; i < COUNT(checks); i++)
        if ((r->checks & checks[i].check) && fails_check(checks[i].check, u))
            return reject(err, checks[i].message);
    if (x->cfg.max_step_result && u->type == PERDURE_TYPE_STEP && u->payload.len > x->cfg.max_step_result)
        return pd_fail(err, PERDURE_E_INVALID, "STEP output payload size must be less than or equal to %zu bytes",
                       x->cfg.max_step_result);
    return PERDURE_OK;
}

/* Rules 2 and 3 for update i: duplicates and parents. */
static perdure_status check_batch_position(const pd_exec *x, const pd_update *u, size_t i, pd_err *err)
{
    const pd_update *last = NULL, *parent_start = NULL;
    for (size_t j = 0; j < i; j++) {
        if (strcmp(u[j].id, u[i].id) == 0)
            last = &u[j];
        if (u[i].parent_id[0] && u[j].action == PERDURE_ACTION_START && strcmp(u[j].id, u[i].parent_id) == 0)
            parent_start = &u[j];
    }
    /* Only a STEP or CONTEXT START may be followed by its completion. */
    if (last && !((last->type == PERDURE_TYPE_STEP || last->type == PERDURE_TYPE_CONTEXT) &&
                  last->action == PERDURE_ACTION_START && u[i].action != PERDURE_ACTION_START))
        return reject(err, "Cannot checkpoint multiple operations with the same ID.");
    if (u[i].parent_id[0]) {
        /* Started earlier in the batch, else recorded; an unknown parent counts as no CONTEXT. */
        const xop *p = find(x, u[i].parent_id);
        perdure_op_type type = parent_start ? parent_start->type : p ? p->op.type : PERDURE_TYPE_EXECUTION;
        if (type != PERDURE_TYPE_CONTEXT)
            return reject(err, "Invalid parent operation id.");
    }
    return PERDURE_OK;
}

static perdure_status validate_batch(const pd_exec *x, const pd_update *u, size_t n, pd_err *err)
{
    size_t executions = 0;
    for (size_t i = 0; i < n; i++)
        executions += u[i].type == PERDURE_TYPE_EXECUTION;
    if (executions > 1)
        return reject(err, "Cannot checkpoint multiple EXECUTION updates.");
    if (executions && u[n - 1].type != PERDURE_TYPE_EXECUTION)
        return reject(err, "EXECUTION checkpoint must be the last update.");
    for (size_t i = 0; i < n; i++)
        TRY(check_batch_position(x, u, i, err));
    for (size_t i = 0; i < n; i++)
        TRY(check_update(x, &u[i], err));
    return PERDURE_OK;
}

/* ======================================================================
 * applying an update (§4.1)
 * ====================================================================== */

static xop *op_from_update(pd_exec *x, const pd_update *u, int64_t now)
{
    xop *o = op_add(x, u->id);
    if (!o)
        return NULL;
    pd_operation *op = &o->op;
    memcpy(op->parent_id, u->parent_id, sizeof op->parent_id);
    memcpy(op->sub_type, u->sub_type, sizeof op->sub_type);
    op->type = u->type;
    op->start_ms = now;
    return bytes_copy(&op->name, &u->name) ? NULL : o;
}

/* What START does beyond STARTED: arm the wait, mint the CallbackId, mark
 * the invoke for launching. */
static perdure_status start_op(pd_exec *x, xop *o, const pd_update *u, int64_t now, pd_err *err)
{
    pd_operation *op = &o->op;
    op->status = PERDURE_STATUS_STARTED;
    switch (op->type) {
    case PERDURE_TYPE_WAIT:
        op->scheduled_end_ms = now + u->wait_seconds * 1000;
        break;
    case PERDURE_TYPE_CALLBACK:
        o->beat_ms = now;
        return random_token(x, &op->callback_id, err);
    case PERDURE_TYPE_CHAINED_INVOKE:
        set_launching(x, o, true);
        break;
    default:
        break;
    }
    return PERDURE_OK;
}

/* SUCCEED, FAIL, RETRY and CANCEL: the record takes the update's outcome. */
static perdure_status close_op(pd_exec *x, xop *o, const pd_update *u, int64_t now, pd_err *err)
{
    static const perdure_op_status status_of[] = {
        [PERDURE_ACTION_SUCCEED] = PERDURE_STATUS_SUCCEEDED,
        [PERDURE_ACTION_FAIL] = PERDURE_STATUS_FAILED,
        [PERDURE_ACTION_RETRY] = PERDURE_STATUS_PENDING,
        [PERDURE_ACTION_CANCEL] = PERDURE_STATUS_CANCELLED,
    };
    pd_operation *op = &o->op;
    op->status = status_of[u->action];
    if (bytes_copy(&op->result, &u->payload) || error_copy(&op->error, u->error))
        return nomem(x, err);
    if (op->type == PERDURE_TYPE_STEP)
        op->attempt++;   /* Attempt counts RETRY / SUCCEED / FAIL applied */
    if (op->type == PERDURE_TYPE_CONTEXT)
        op->replay_children = u->has_context_options && u->replay_children;
    if (u->action == PERDURE_ACTION_RETRY)
        op->next_attempt_ms = now + u->next_attempt_delay_s * 1000;
    else
        op->end_ms = now;
    set_launching(x, o, false);
    return PERDURE_OK;
}

/* The event's details beyond Result/Error, which come from the update. */
static void event_details(pd_event *ev, const xop *o, const pd_update *u)
{
    const pd_operation *op = &o->op;
    switch (ev->type) {
    case PD_EV_STEP_SUCCEEDED:
    case PD_EV_STEP_FAILED:
        ev->attempt = op->attempt;
        if (u->action == PERDURE_ACTION_RETRY)
            ev->retry_delay_s = u->next_attempt_delay_s;
        break;
    case PD_EV_WAIT_STARTED:
        ev->seconds = u->wait_seconds;
        ev->scheduled_end_ms = op->scheduled_end_ms;
        break;
    case PD_EV_CALLBACK_STARTED:
        ev->timeout_s = u->callback_timeout_s;
        ev->heartbeat_s = u->callback_heartbeat_s;
        break;
    default:
        break;
    }
}

static perdure_status apply_update(pd_exec *x, const pd_update *u, int64_t now, pd_err *err)
{
    const struct rule *r = rule_for(u->type, u->action);
    if (u->type == PERDURE_TYPE_EXECUTION) {
        perdure_op_status s = u->action == PERDURE_ACTION_SUCCEED ? PERDURE_STATUS_SUCCEEDED : PERDURE_STATUS_FAILED;
        x->outcome_pending = true;
        return set_outcome(x, s, &u->payload, u->error, now, err);
    }
    xop *o = find(x, u->id);
    if (!o && !(o = op_from_update(x, u, now)))
        return nomem(x, err);
    TRY(u->action == PERDURE_ACTION_START ? start_op(x, o, u, now, err) : close_op(x, o, u, now, err));
    touch(x, o);
    pd_event_type type = r->event;
    if (u->action == PERDURE_ACTION_RETRY && !u->error)
        type = PD_EV_STEP_SUCCEEDED;   /* a wait_for_condition poll: the state is the Result */
    if (type == NO_EV)
        return PERDURE_OK;
    pd_event *ev = event_add(x, type, &o->op, now);
    unsigned m = event_types[type].members;
    if (!ev || ((m & (M_INPUT | M_RESULT)) && bytes_copy(&ev->payload, &u->payload)) ||
        ((m & M_ERROR) && error_copy(&ev->error, u->error)) ||
        ((m & M_CALLBACK_ID) && bytes_copy(&ev->callback_id, &o->op.callback_id)) ||
        ((m & M_FUNCTION) && (bytes_copy(&ev->function_name, &u->function_name) ||
                              bytes_copy(&ev->tenant_id, &u->tenant_id))))
        return nomem(x, err);
    event_details(ev, o, u);
    if (type == PD_EV_CALLBACK_STARTED || type == PD_EV_CHAINED_INVOKE_STARTED)
        o->started = x->n_events - 1;
    return PERDURE_OK;
}

/* ======================================================================
 * checkpoints (§4.3)
 * ====================================================================== */

static int op_copy_into(pd_op_list *dst, const xop *o)
{
    pd_operation *op = pd_op_list_push(dst);
    return !op || pd_operation_copy(op, &o->op) ? -1 : 0;
}

static int response_copy(pd_checkpoint_response *dst, const pd_checkpoint_response *src)
{
    memset(dst, 0, sizeof *dst);
    if (bytes_copy(&dst->token, &src->token))
        return -1;
    for (size_t i = 0; i < src->ops.len; i++) {
        pd_operation *op = pd_op_list_push(&dst->ops);
        if (!op || pd_operation_copy(op, &src->ops.items[i]))
            return -1;
    }
    return 0;
}

static bool bytes_eq(const pd_bytes *b, const char *s) { return b->present && strcmp(b->data, s) == 0; }

static bool cache_hit(const pd_exec *x, const char *client_token, const char *token, int64_t now)
{
    return client_token && x->has_cache && bytes_eq(&x->cache.client_token, client_token) &&
           bytes_eq(&x->cache.token, token) && now - x->cache.at_ms <= CLIENT_TOKEN_WINDOW_MS;
}

static perdure_status cache_store(pd_exec *x, const char *client_token, const char *token,
                                  const pd_checkpoint_response *r, int64_t now, pd_err *err)
{
    cache_clear(x);
    if (!client_token)
        return PERDURE_OK;
    x->has_cache = true;
    x->cache.at_ms = now;
    if (pd_bytes_set_str(&x->cache.client_token, client_token) || pd_bytes_set_str(&x->cache.token, token) ||
        response_copy(&x->cache.response, r))
        return nomem(x, err);
    return PERDURE_OK;
}

/* ClientToken: 1..64 characters of [\x21-\x7E] (model). */
static bool client_token_ok(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7E)
            return false;
    return n >= 1 && n <= 64;
}

static perdure_status checkpoint(pd_exec *x, const char *token, const pd_update *u, size_t n,
                                 const char *client_token, int64_t now, pd_checkpoint_response *out, pd_err *err)
{
    if (!x->running)
        return reject(err, "Invalid Checkpoint Token: no invocation is running");
    if (client_token && !client_token_ok(client_token))
        return reject(err, "ClientToken must be 1 to 64 characters of [\\x21-\\x7E].");
    if (cache_hit(x, client_token, token, now))
        return response_copy(out, &x->cache.response) ? nomem(x, err) : PERDURE_OK;
    if (!bytes_eq(&x->token, token))
        return reject(err, "Invalid Checkpoint Token: the token is stale or unknown");
    /* A batch that arrives after the execution's deadline is too late. */
    if (!ended(x) && deadline(x) <= now)
        TRY(fire_due(x, now, err));
    if (ended(x))
        return pd_fail(err, PD_EXEC_E_ENDED, "Cannot checkpoint: the execution is %s.",
                       pd_exec_status_name(x->ops[0].op.status));
    TRY(validate_batch(x, u, n, err));
    for (size_t i = 0; i < n; i++)
        TRY(apply_update(x, &u[i], now, err));
    TRY(fire_due(x, now, err));   /* the delta carries what is already due (as the emulator does) */
    pd_bytes_clear(&x->token);
    if (!ended(x))
        TRY(random_token(x, &x->token, err));
    if (bytes_copy(&out->token, &x->token))
        return nomem(x, err);
    for (size_t k = 0; k < x->unseen.len; k++)   /* the delta: what changed since the last response */
        if (op_copy_into(&out->ops, &x->ops[x->unseen.at[k]]))
            return nomem(x, err);
    all_seen(x);
    x->state_dirty = true;
    return cache_store(x, client_token, token, out, now, err);
}

perdure_status pd_exec_checkpoint(pd_exec *x, const char *token, const pd_update *updates, size_t n,
                                  const char *client_token, int64_t now_ms, pd_checkpoint_response *out, pd_err *err)
{
    if (!out)
        return pd_fail(err, PERDURE_E_MISUSE, "pd_exec_checkpoint: NULL out");
    memset(out, 0, sizeof *out);
    TRY(usable(x, err));
    if (!token || (n && !updates))
        return pd_fail(err, PERDURE_E_MISUSE, "pd_exec_checkpoint: NULL token or updates");
    perdure_status st = checkpoint(x, token, updates, n, client_token, now_ms, out, err);
    if (st)
        pd_checkpoint_response_free(out);
    return st;
}

/* ======================================================================
 * invocations
 * ====================================================================== */

perdure_status pd_exec_invocation_begin(pd_exec *x, int64_t now_ms, const char *request_id, pd_invocation *out,
                                        pd_err *err)
{
    if (!out)
        return pd_fail(err, PERDURE_E_MISUSE, "pd_exec_invocation_begin: NULL out");
    memset(out, 0, sizeof *out);
    TRY(usable(x, err));
    if (!request_id)
        return pd_fail(err, PERDURE_E_MISUSE, "pd_exec_invocation_begin: NULL request id");
    TRY(fire_due(x, now_ms, err));
    if (ended(x))
        return pd_fail(err, PD_EXEC_E_ENDED, "the execution is %s", pd_exec_status_name(x->ops[0].op.status));
    if (x->running)
        return pd_fail(err, PERDURE_E_MISUSE, "an invocation is already running");
    TRY(random_token(x, &x->token, err));
    bool copied = !pd_bytes_set_str(&x->request_id, request_id) && !pd_bytes_set_str(&out->arn, x->arn) &&
                  !bytes_copy(&out->token, &x->token);
    for (size_t i = 0; copied && i < x->n_ops; i++)
        copied = !op_copy_into(&out->ops, &x->ops[i]);
    if (!copied) {
        pd_invocation_free(out);
        return nomem(x, err);
    }
    x->running = true;
    x->invocation_start_ms = now_ms;
    all_seen(x);
    x->reinvoke = false;
    x->state_dirty = true;
    cache_clear(x);
    return PERDURE_OK;
}

/* What suspends an invocation legitimately (§3.2; a READY step also waits
 * for the service: it wants the next invocation). */
static bool something_pending(const pd_exec *x)
{
    for (size_t i = 1; i < x->n_ops; i++) {
        const pd_operation *op = &x->ops[i].op;
        bool retrying = op->status == PERDURE_STATUS_PENDING || op->status == PERDURE_STATUS_READY;
        bool waiting = op->type != PERDURE_TYPE_CONTEXT && op->status == PERDURE_STATUS_STARTED;
        if (op->type == PERDURE_TYPE_STEP ? retrying : waiting)
            return true;
    }
    return false;
}

/* A change after the last checkpoint response: the handler could not see it. */
static bool missed_a_change(const pd_exec *x)
{
    return x->unseen.len > (x->unseen.len && x->unseen.at[0] == 0);   /* any but the EXECUTION */
}

/* Whether the handler must run again after this invocation suspended: it
 * missed a change, or a retry is already READY. */
static bool needs_another(const pd_exec *x)
{
    if (missed_a_change(x))
        return true;
    for (size_t i = 1; i < x->n_ops; i++)
        if (x->ops[i].op.type == PERDURE_TYPE_STEP && x->ops[i].op.status == PERDURE_STATUS_READY)
            return true;
    return false;
}

/* Why an output is refused (emu), or NULL. */
static const char *output_problem(const pd_exec *x, const pd_output *o)
{
    switch (o->status) {
    case PERDURE_OUTCOME_SUCCEEDED:
        return o->error ? "Cannot provide an Error for SUCCEEDED status." : NULL;
    case PERDURE_OUTCOME_FAILED:
        return o->result.present ? "Cannot provide a Result for FAILED status." : NULL;
    case PERDURE_OUTCOME_PENDING:
        /* A callback answered (or an invoke ended) after the last checkpoint
         * response leaves nothing pending, but the handler suspended on it in
         * good faith: the next invocation sees it. */
        return something_pending(x) || missed_a_change(x) ? NULL
                                                          : "Cannot return PENDING status with no pending operations.";
    }
    return "Unexpected invocation status.";
}

/* The output decides the execution, or the failed invocation is counted. */
static perdure_status settle(pd_exec *x, const pd_output *o, const pd_error *failure, int64_t now, pd_err *err)
{
    if (failure) {
        x->failed++;
        if (x->cfg.max_failed_invocations && x->failed >= x->cfg.max_failed_invocations)
            return end_execution(x, PERDURE_STATUS_FAILED, NULL, failure, now, err);
        x->retry_at_ms = now + x->cfg.invocation_retry_delay_ms;
        x->reinvoke = true;
        return PERDURE_OK;
    }
    x->failed = 0;
    x->retry_at_ms = 0;
    if (o->status == PERDURE_OUTCOME_SUCCEEDED)
        return end_execution(x, PERDURE_STATUS_SUCCEEDED, &o->result, NULL, now, err);
    if (o->status == PERDURE_OUTCOME_FAILED)
        return end_execution(x, PERDURE_STATUS_FAILED, NULL, o->error, now, err);
    x->reinvoke = needs_another(x);
    return PERDURE_OK;
}

static perdure_status invocation_end(pd_exec *x, const pd_output *o, const char *crash_message, int64_t now,
                                     const char **problem, pd_err *err)
{
    pd_error *failure = NULL;
    bool decided = ended(x);   /* by its EXECUTION checkpoint, a stop or a timeout */
    *problem = o && !decided ? output_problem(x, o) : NULL;
    if (!o)
        failure = error_make("Runtime.ExitError", crash_message ? crash_message : "Runtime exited without providing a reason");
    else if (*problem)
        failure = error_make("InvalidParameterValueException", *problem);
    if ((!o || *problem) && !failure)
        return nomem(x, err);
    pd_event *ic = event_add(x, PD_EV_INVOCATION_COMPLETED, NULL, now);
    if (!ic || bytes_copy(&ic->request_id, &x->request_id)) {
        pd_error_free(failure);
        return nomem(x, err);
    }
    ic->start_ms = x->invocation_start_ms;
    ic->end_ms = now;
    ic->error = failure;   /* the event owns it; settle only reads it */
    x->running = false;
    pd_bytes_clear(&x->token);
    pd_bytes_clear(&x->request_id);
    cache_clear(x);
    x->state_dirty = true;
    if (x->outcome_pending) {
        x->outcome_pending = false;
        return outcome_event(x, now, err);
    }
    return decided ? PERDURE_OK : settle(x, o, failure, now, err);
}

perdure_status pd_exec_invocation_end(pd_exec *x, const pd_output *output, const char *crash_message,
                                      int64_t now_ms, pd_err *err)
{
    TRY(usable(x, err));
    if (!x->running)
        return pd_fail(err, PERDURE_E_MISUSE, "no invocation is running");
    const char *problem;
    TRY(invocation_end(x, output, crash_message, now_ms, &problem, err));
    return problem ? reject(err, problem) : PERDURE_OK;
}

/* ======================================================================
 * callbacks, chained invokes, stop
 * ====================================================================== */

/* The operation an external answer is about, if it may still be answered. */
static perdure_status answerable(const pd_exec *x, xop *o, const char *what, const char *id, pd_err *err)
{
    if (!o)
        return pd_fail(err, PD_EXEC_E_NOT_FOUND, "%s %.64s not found", what, id);
    if (o->op.status == PERDURE_STATUS_TIMED_OUT && o->op.type == PERDURE_TYPE_CALLBACK)
        return pd_fail(err, PD_EXEC_E_TIMED_OUT, "%s %.64s has timed out", what, id);
    if (terminal(o->op.status))
        return pd_fail(err, PD_EXEC_E_COMPLETED, "%s %.64s has already completed (%s)", what, id,
                       pd_status_name(o->op.status));
    if (ended(x))
        return pd_fail(err, PD_EXEC_E_ENDED, "the execution is %s", pd_exec_status_name(x->ops[0].op.status));
    return PERDURE_OK;
}

static perdure_status find_callback(pd_exec *x, const char *callback_id, int64_t now, xop **out, pd_err *err)
{
    *out = NULL;
    TRY(usable(x, err));
    if (!callback_id)
        return pd_fail(err, PERDURE_E_MISUSE, "NULL callback id");
    TRY(fire_due(x, now, err));   /* a deadline that has passed is the first answer */
    for (size_t i = 1; i < x->n_ops && !*out; i++)
        if (x->ops[i].op.type == PERDURE_TYPE_CALLBACK && bytes_eq(&x->ops[i].op.callback_id, callback_id))
            *out = &x->ops[i];
    return answerable(x, *out, "callback", callback_id, err);
}

perdure_status pd_exec_callback_succeed(pd_exec *x, const char *callback_id, const void *result, size_t len,
                                        int64_t now_ms, pd_err *err)
{
    xop *o;
    TRY(find_callback(x, callback_id, now_ms, &o, err));
    if (len > MAX_CALLBACK_RESULT)
        return pd_fail(err, PERDURE_E_TOO_LARGE, "the callback result is %zu bytes, more than %d", len,
                       MAX_CALLBACK_RESULT);
    if (!utf8_text(result, len))
        return pd_fail(err, PERDURE_E_INVALID, "the callback result is not UTF-8 text");
    pd_bytes r = {0};
    if (pd_bytes_set(&r, result ? result : "", len))
        return nomem(x, err);
    perdure_status st = complete_op(x, o, PERDURE_STATUS_SUCCEEDED, PD_EV_CALLBACK_SUCCEEDED, &r, NULL, now_ms, err);
    pd_bytes_clear(&r);
    return st;
}

/* A caller's error (NULL: an empty ErrorObject), checked and copied. */
static perdure_status caller_error(pd_exec *x, const pd_error *error, pd_error **out, pd_err *err)
{
    size_t size;
    *out = NULL;
    if (error)
        TRY(error_json_size(error, &size, err));
    *out = error ? pd_error_clone(error) : pd_error_new();
    return *out ? PERDURE_OK : nomem(x, err);
}

perdure_status pd_exec_callback_fail(pd_exec *x, const char *callback_id, const pd_error *error, int64_t now_ms,
                                     pd_err *err)
{
    xop *o;
    pd_error *e;
    TRY(find_callback(x, callback_id, now_ms, &o, err));
    TRY(caller_error(x, error, &e, err));
    return complete_op(x, o, PERDURE_STATUS_FAILED, PD_EV_CALLBACK_FAILED, NULL, e, now_ms, err);
}

perdure_status pd_exec_callback_heartbeat(pd_exec *x, const char *callback_id, int64_t now_ms, pd_err *err)
{
    xop *o;
    TRY(find_callback(x, callback_id, now_ms, &o, err));
    o->beat_ms = now_ms;
    x->state_dirty = true;
    return PERDURE_OK;
}

static xop *find_invoke(const pd_exec *x, const char *op_id)
{
    xop *o = find(x, op_id);
    return o && o->op.type == PERDURE_TYPE_CHAINED_INVOKE ? o : NULL;
}

size_t pd_exec_pending_invokes(const pd_exec *x, pd_exec_invoke *out, size_t max)
{
    size_t n = 0;
    if (!x || x->poisoned || ended(x))
        return 0;
    for (size_t k = 0; k < x->launching.len; k++) {
        const xop *o = &x->ops[x->launching.at[k]];
        const pd_event *ev = started_event(x, o);
        if (out && n < max)
            out[n] = (pd_exec_invoke){o->op.id, &ev->function_name, &ev->tenant_id, &ev->payload};
        n++;
    }
    return n;
}

perdure_status pd_exec_invoke_launched(pd_exec *x, const char *op_id, const char *target_arn,
                                       const char *executed_version, pd_err *err)
{
    TRY(usable(x, err));
    xop *o = find_invoke(x, op_id);
    TRY(answerable(x, o, "chained invoke", op_id ? op_id : "(null)", err));
    if (!launching(x, o))
        return pd_fail(err, PERDURE_E_MISUSE, "chained invoke %s was already launched", op_id);
    pd_event *ev = &x->events[o->started];
    if (pd_bytes_set_str(&ev->target_arn, target_arn) || pd_bytes_set_str(&ev->executed_version, executed_version))
        return nomem(x, err);
    pd_posset_add(&x->changed_events, o->started);
    set_launching(x, o, false);
    x->state_dirty = true;
    return PERDURE_OK;
}

perdure_status pd_exec_invoke_complete(pd_exec *x, const char *op_id, perdure_op_status status, const void *result,
                                       size_t len, const pd_error *error, int64_t now_ms, pd_err *err)
{
    static const pd_event_type events[] = {
        [PERDURE_STATUS_SUCCEEDED] = PD_EV_CHAINED_INVOKE_SUCCEEDED,
        [PERDURE_STATUS_FAILED] = PD_EV_CHAINED_INVOKE_FAILED,
        [PERDURE_STATUS_TIMED_OUT] = PD_EV_CHAINED_INVOKE_TIMED_OUT,
        [PERDURE_STATUS_STOPPED] = PD_EV_CHAINED_INVOKE_STOPPED,
    };
    TRY(usable(x, err));
    if (status < PERDURE_STATUS_SUCCEEDED || status > PERDURE_STATUS_STOPPED || status == PERDURE_STATUS_CANCELLED)
        return pd_fail(err, PERDURE_E_INVALID, "a chained invoke ends SUCCEEDED, FAILED, TIMED_OUT or STOPPED");
    if (status == PERDURE_STATUS_SUCCEEDED ? error != NULL : result != NULL)
        return pd_fail(err, PERDURE_E_INVALID, "a SUCCEEDED invoke has a result and no error; the others an error");
    TRY(fire_due(x, now_ms, err));
    xop *o = find_invoke(x, op_id);
    TRY(answerable(x, o, "chained invoke", op_id ? op_id : "(null)", err));
    if (status != PERDURE_STATUS_SUCCEEDED) {
        pd_error *e;
        TRY(caller_error(x, error, &e, err));
        return complete_op(x, o, status, events[status], NULL, e, now_ms, err);
    }
    if (len > PD_MAX_PAYLOAD || !utf8_text(result, len))
        return pd_fail(err, PERDURE_E_INVALID, "the invoke result must be UTF-8 text of at most %llu bytes",
                       PD_MAX_PAYLOAD);
    pd_bytes r = {0};
    if (pd_bytes_set(&r, result ? result : "", len))
        return nomem(x, err);
    perdure_status st = complete_op(x, o, status, events[status], &r, NULL, now_ms, err);
    pd_bytes_clear(&r);
    return st;
}

perdure_status pd_exec_stop(pd_exec *x, const pd_error *error, int64_t now_ms, int64_t *stop_ms, pd_err *err)
{
    TRY(usable(x, err));
    TRY(fire_due(x, now_ms, err));
    if (!ended(x)) {
        pd_error *e = NULL;
        if (error)
            TRY(caller_error(x, error, &e, err));
        else if (!(e = error_make(NULL, "Execution stopped by user request")))
            return nomem(x, err);
        perdure_status st = end_execution(x, PERDURE_STATUS_STOPPED, NULL, e, now_ms, err);
        pd_error_free(e);
        TRY(st);
    }
    if (stop_ms)
        *stop_ms = x->ops[0].op.end_ms;
    return PERDURE_OK;
}

/* ======================================================================
 * reading
 * ====================================================================== */

perdure_op_status pd_exec_status(const pd_exec *x) { return x ? x->ops[0].op.status : PERDURE_STATUS_ABSENT; }

const char *pd_exec_status_name(perdure_op_status status)
{
    return status == PERDURE_STATUS_STARTED ? "RUNNING" : pd_status_name(status);
}

void pd_exec_result(const pd_exec *x, const pd_bytes **result, const pd_error **error)
{
    const pd_operation *op = &x->ops[0].op;
    if (result)
        *result = op->status == PERDURE_STATUS_SUCCEEDED && op->result.present ? &op->result : NULL;
    if (error)
        *error = op->error;
}

bool pd_exec_invocation_running(const pd_exec *x) { return x && x->running; }

void pd_exec_get_info(const pd_exec *x, pd_exec_info *out)
{
    *out = (pd_exec_info){x->arn, x->name, x->ops[0].op.id, x->function_name, x->version, x->region, x->account};
}

size_t pd_exec_operation_count(const pd_exec *x) { return x ? x->n_ops : 0; }

const pd_operation *pd_exec_operation_at(const pd_exec *x, size_t position)
{
    return x && position < x->n_ops ? &x->ops[position].op : NULL;
}

const pd_operation *pd_exec_find_operation(const pd_exec *x, const char *id)
{
    const xop *o = x ? find(x, id) : NULL;
    return o ? &o->op : NULL;
}

size_t pd_exec_event_count(const pd_exec *x) { return x ? x->n_events : 0; }

const pd_event *pd_exec_event_at(const pd_exec *x, size_t position)
{
    return x && position < x->n_events ? &x->events[position] : NULL;
}

perdure_status pd_exec_history_json(const pd_exec *x, bool include_data, pd_buf *out, pd_err *err)
{
    TRY(usable(x, err));
    pd_jw w;
    pd_jw_init(&w, out);
    pd_jw_object(&w);
    pd_jw_key(&w, "Events");
    pd_jw_array(&w);
    for (size_t i = 0; i < x->n_events; i++)
        put_event(&w, &x->events[i], include_data);
    pd_jw_end_array(&w);
    pd_jw_end_object(&w);
    return pd_jw_finish(&w, "history", err);
}

/* ======================================================================
 * persistence
 * ====================================================================== */

perdure_status pd_exec_take_changes(pd_exec *x, pd_exec_changes *out, pd_err *err)
{
    memset(out, 0, sizeof *out);
    TRY(usable(x, err));
    size_t n_ops = x->changed.len, n_events = x->changed_events.len;
    if ((n_ops && !(out->ops = malloc(n_ops * sizeof *out->ops))) ||
        (n_events && !(out->events = malloc(n_events * sizeof *out->events)))) {
        pd_exec_changes_free(out);
        return pd_fail(err, PERDURE_E_NOMEM, "out of memory");
    }
    for (size_t k = 0; k < n_ops; k++)
        out->ops[k] = x->changed.at[k];
    for (size_t k = 0; k < n_events; k++)
        out->events[k] = x->events[x->changed_events.at[k]].id;
    out->n_ops = n_ops;
    out->n_events = n_events;
    x->changed.len = x->changed_events.len = 0;
    out->state = x->state_dirty;
    x->state_dirty = false;
    return PERDURE_OK;
}

void pd_exec_changes_free(pd_exec_changes *c)
{
    if (!c)
        return;
    free(c->ops);
    free(c->events);
    memset(c, 0, sizeof *c);
}

/* ---- the state object (schema/history.md, "Stored state") ---- */

static void put_id_list(pd_jw *w, const char *key, const pd_exec *x, const pd_posset *set)
{
    pd_jw_key(w, key);
    pd_jw_array(w);
    for (size_t k = 0; k < set->len; k++) {
        const char *id = x->ops[set->at[k]].op.id;
        pd_jw_string(w, id, strlen(id));
    }
    pd_jw_end_array(w);
}

static void put_str(pd_jw *w, const char *key, const char *s)
{
    pd_jw_key(w, key);
    if (s)
        pd_jw_string(w, s, strlen(s));
    else
        w->bad_text = true;   /* jansson's json_pack refused it too */
}

perdure_status pd_exec_state_json(const pd_exec *x, pd_buf *out, pd_err *err)
{
    TRY(usable(x, err));
    pd_jw w;
    pd_jw_init(&w, out);
    pd_jw_object(&w);
    put_int(&w, "Schema", STATE_SCHEMA);
    put_str(&w, "Region", x->region);
    put_str(&w, "Account", x->account);
    put_str(&w, "FunctionName", x->function_name);
    put_str(&w, "FunctionVersion", x->version);
    put_str(&w, "Name", x->name);
    pd_jw_key(&w, "Reinvoke");
    pd_jw_bool(&w, x->reinvoke);
    put_int(&w, "FailedInvocations", x->failed);
    put_int(&w, "RetryAt", x->retry_at_ms);
    pd_jw_key(&w, "Heartbeats");
    pd_jw_object(&w);
    for (size_t k = 0; k < x->armed.len; k++) {   /* STARTED callbacks are armed */
        const xop *o = &x->ops[x->armed.at[k]];
        if (o->op.type == PERDURE_TYPE_CALLBACK && o->beat_ms != o->op.start_ms)
            put_int(&w, o->op.id, o->beat_ms);
    }
    pd_jw_end_object(&w);
    put_id_list(&w, "Launch", x, &x->launching);
    if (x->running) {
        pd_jw_key(&w, "Invocation");
        pd_jw_object(&w);
        put_str(&w, "RequestId", x->request_id.data);
        put_int(&w, "Start", x->invocation_start_ms);
        put_id_list(&w, "Unseen", x, &x->unseen);
        if (x->token.present)
            put_str(&w, "Token", x->token.data);
        pd_jw_end_object(&w);
    }
    pd_jw_end_object(&w);
    return pd_jw_finish(&w, "execution state", err);
}

/* ---- loading ---- */

static perdure_status load_fail(pd_err *err, const char *what)
{
    return pd_fail(err, PERDURE_E_DECODE, "pd_exec_load: %s", what);
}

/* Operations, their index and the bookkeeping the events imply. */
static perdure_status load_records(pd_exec *x, const pd_operation *ops, size_t n_ops, const pd_event *events,
                                   size_t n_events, pd_err *err)
{
    if (!n_ops || ops[0].type != PERDURE_TYPE_EXECUTION || !n_events || events[0].type != PD_EV_EXECUTION_STARTED)
        return load_fail(err, "the EXECUTION operation and ExecutionStarted come first");
    bool has_outcome = false;
    for (size_t i = 0; i < n_ops; i++) {
        if (find(x, ops[i].id))
            return load_fail(err, "an operation Id appears twice");
        xop *o = op_add(x, ops[i].id);
        if (!o || pd_operation_copy(&o->op, &ops[i]))
            return nomem(x, err);
        o->beat_ms = o->op.start_ms;
        o->seq = 1;   /* delivered (or deliverable) state; pd_exec_invocation_begin sends seq > 0 */
        if (i && may_arm(o))
            pd_posset_add(&x->armed, i);
    }
    x->seq = 1;
    for (size_t i = 0; i < n_events; i++) {
        if (events[i].id != i + 1 || (unsigned)events[i].type >= PD_EV_COUNT)
            return load_fail(err, "EventIds must be 1, 2, 3... and types known");
        if (events_reserve(x) || event_copy(&x->events[i], &events[i]))
            return nomem(x, err);
        x->n_events++;
        xop *o = find(x, events[i].op_id);
        if (o && (events[i].type == PD_EV_CALLBACK_STARTED || events[i].type == PD_EV_CHAINED_INVOKE_STARTED))
            o->started = i;
        has_outcome = has_outcome || (events[i].type >= PD_EV_EXECUTION_SUCCEEDED &&
                                      events[i].type <= PD_EV_EXECUTION_STOPPED);
    }
    x->outcome_pending = ended(x) && !has_outcome;
    x->timeout_s = events[0].seconds;
    return PERDURE_OK;
}

static perdure_status load_state(pd_exec *x, json_t *s, pd_err *err)
{
    const char *region, *account, *fn, *version, *name;
    json_int_t schema, failed, retry_at;
    int reinvoke;
    json_t *beats, *launch, *inv = NULL;
    json_error_t je;
    if (json_unpack_ex(s, &je, 0, "{s:I, s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:o, s:o, s?o}", "Schema", &schema,
                       "Region", &region, "Account", &account, "FunctionName", &fn, "FunctionVersion", &version,
                       "Name", &name, "Reinvoke", &reinvoke, "FailedInvocations", &failed, "RetryAt", &retry_at,
                       "Heartbeats", &beats, "Launch", &launch, "Invocation", &inv))
        return pd_fail(err, PERDURE_E_DECODE, "pd_exec_load: state: %s", je.text);
    if (schema != STATE_SCHEMA || !json_is_object(beats) || !json_is_array(launch))
        return load_fail(err, "state: unknown schema or malformed");
    TRY(set_identity(x, region, account, fn, version, name, x->ops[0].op.id, err));
    x->reinvoke = reinvoke;
    x->failed = (unsigned)failed;
    x->retry_at_ms = retry_at;
    const char *key;
    json_t *v;
    size_t i;
    json_object_foreach(beats, key, v) {
        xop *o = find(x, key);
        if (!o || o->op.type != PERDURE_TYPE_CALLBACK || !json_is_integer(v))
            return load_fail(err, "state: Heartbeats names an unknown callback");
        o->beat_ms = json_integer_value(v);
    }
    json_array_foreach(launch, i, v) {
        xop *o = find_invoke(x, json_string_value(v));
        if (!o || o->started == NO_EVENT)
            return load_fail(err, "state: Launch names an unknown chained invoke");
        set_launching(x, o, true);
    }
    if (!inv)
        return PERDURE_OK;
    const char *request_id, *token = NULL;
    json_int_t start;
    json_t *unseen;
    if (json_unpack_ex(inv, &je, 0, "{s:s, s:I, s:o, s?s}", "RequestId", &request_id, "Start", &start, "Unseen",
                       &unseen, "Token", &token) ||
        !json_is_array(unseen))
        return load_fail(err, "state: malformed Invocation");
    /* Only the operations it has not seen need a newer seq than seen. */
    x->running = true;
    x->invocation_start_ms = start;
    x->seen = 1;
    json_array_foreach(unseen, i, v) {
        xop *o = find(x, json_string_value(v));
        if (!o)
            return load_fail(err, "state: Unseen names an unknown operation");
        o->seq = 2;
        pd_posset_add(&x->unseen, pos_of(x, o));
        x->seq = 2;
    }
    if (pd_bytes_set_str(&x->request_id, request_id) || pd_bytes_set_str(&x->token, token))
        return nomem(x, err);
    return PERDURE_OK;
}

perdure_status pd_exec_load(const pd_exec_config *cfg, const pd_operation *ops, size_t n_ops,
                            const pd_event *events, size_t n_events, const void *state, size_t state_len,
                            pd_exec **out, pd_err *err)
{
    if (!out || (n_ops && !ops) || (n_events && !events))
        return pd_fail(err, PERDURE_E_MISUSE, "pd_exec_load: NULL arguments");
    pd_exec *x;
    TRY(exec_alloc(cfg, &x, err));
    json_error_t je;
    json_t *s = json_loadb(state ? state : "", state ? state_len : 0, JSON_REJECT_DUPLICATES, &je);
    perdure_status st = s ? load_records(x, ops, n_ops, events, n_events, err)
                          : pd_fail(err, PERDURE_E_DECODE, "pd_exec_load: state: %s", je.text);
    if (!st)
        st = load_state(x, s, err);
    json_decref(s);
    if (st) {
        pd_exec_free(x);
        *out = NULL;
        return st;
    }
    *out = x;
    return PERDURE_OK;
}

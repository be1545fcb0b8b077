/* The Lambda durable execution API's JSON shapes (protocol.md §3, §5), with
 * jansson. Decoding reads into the model field by field and names the field in
 * every error; encoding builds a tree in protocol key order and dumps it
 * compact. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* 15 significant digits print every epoch-seconds value with milliseconds up
 * to the year 33658 exactly (DBL_DIG), where 17 would show binary noise such
 * as 1767225600.2049999. Timestamps are the only reals we write. */
#define PD_JSON_DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

typedef struct jctx {
    pd_err *err;
    pd_path path;
    bool seconds;   /* REST bodies: epoch seconds with a fraction; the invocation event: epoch ms */
} jctx;

static perdure_status jfail(jctx *c, const char *key, perdure_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Fails at the current path, extended by key when not NULL. */
static perdure_status jfail(jctx *c, const char *key, perdure_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    perdure_status st = pd_path_vfail(c->err, &c->path, key, code, fmt, ap);
    va_end(ap);
    return st;
}

static perdure_status jnomem(jctx *c) { return pd_fail(c->err, PERDURE_E_NOMEM, "out of memory"); }

/* ======================================================================
 * decoding
 * ====================================================================== */

typedef enum jkind { JK_STRING, JK_INTEGER, JK_NUMBER, JK_BOOL, JK_OBJECT, JK_ARRAY } jkind;

static const char *const jkind_names[] = {"a string", "an integer", "a number", "a boolean", "an object", "an array"};

static bool jkind_is(jkind k, const json_t *v)
{
    switch (k) {
    case JK_STRING:
        return json_is_string(v);
    case JK_INTEGER:
        return json_is_integer(v);
    case JK_NUMBER:
        return json_is_number(v);
    case JK_BOOL:
        return json_is_boolean(v);
    case JK_OBJECT:
        return json_is_object(v);
    case JK_ARRAY:
        return json_is_array(v);
    }
    return false;
}

static const char *json_kind_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "an unknown value";
}

/* The member key of obj when it has the expected kind; *out NULL when absent.
 * null counts as absent: serializers that write None/undefined members mean that. */
static perdure_status jget(jctx *c, json_t *obj, const char *key, jkind kind, bool required, json_t **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return required ? jfail(c, key, PERDURE_E_DECODE, "missing") : PERDURE_OK;
    if (!jkind_is(kind, v))
        return jfail(c, key, PERDURE_E_DECODE, "expected %s, got %s", jkind_names[kind], json_kind_of(v));
    *out = v;
    return PERDURE_OK;
}

static perdure_status jcheck_length(jctx *c, const char *key, size_t len)
{
    if (len <= PD_MAX_PAYLOAD)
        return PERDURE_OK;
    return jfail(c, key, PERDURE_E_TOO_LARGE, "%zu bytes exceeds the limit of %llu", len, PD_MAX_PAYLOAD);
}

static perdure_status jbytes(jctx *c, json_t *obj, const char *key, bool required, pd_bytes *dst)
{
    json_t *v;
    TRY(jget(c, obj, key, JK_STRING, required, &v));
    if (!v)
        return PERDURE_OK;
    TRY(jcheck_length(c, key, json_string_length(v)));
    return pd_bytes_set(dst, json_string_value(v), json_string_length(v)) ? jnomem(c) : PERDURE_OK;
}

static perdure_status jfixed(jctx *c, json_t *obj, const char *key, bool required, char *dst, size_t max)
{
    json_t *v;
    TRY(jget(c, obj, key, JK_STRING, required, &v));
    if (!v)
        return PERDURE_OK;
    size_t mark = pd_path_key(&c->path, key);
    perdure_status st = pd_codec_fixed(dst, max, json_string_value(v), json_string_length(v), &c->path, c->err);
    pd_path_pop(&c->path, mark);
    return st;
}

static perdure_status jbool(jctx *c, json_t *obj, const char *key, bool *dst)
{
    json_t *v;
    TRY(jget(c, obj, key, JK_BOOL, false, &v));
    if (v)
        *dst = json_is_true(v);
    return PERDURE_OK;
}

/* Counts and durations: non-negative integers up to max. */
static perdure_status jcount(jctx *c, json_t *obj, const char *key, int64_t max, int64_t *dst)
{
    json_t *v;
    TRY(jget(c, obj, key, JK_INTEGER, false, &v));
    if (!v)
        return PERDURE_OK;
    json_int_t x = json_integer_value(v);
    if (x < 0 || x > max)
        return jfail(c, key, PERDURE_E_DECODE, "%lld is out of range 0..%lld", (long long)x, (long long)max);
    *dst = x;
    return PERDURE_OK;
}

/* Rounds to the nearest integer without libm; |x| is already bounded. */
static int64_t round_half_away(double x) { return (int64_t)(x < 0 ? x - 0.5 : x + 0.5); }

/* A timestamp into epoch ms. Seconds with a fraction are scaled and rounded to
 * the nearest ms: the double nearest 1767225600.205 is 1767225600.2049999..,
 * and rounding (not truncating) recovers 1767225600205. */
static perdure_status jtime(jctx *c, json_t *obj, const char *key, int64_t *dst)
{
    /* Beyond +-9e15 ms a double no longer holds every millisecond. */
    const double limit = 9e15;
    json_t *v;
    TRY(jget(c, obj, key, JK_NUMBER, false, &v));
    if (!v)
        return PERDURE_OK;
    double ms;
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        ms = c->seconds ? (double)x * 1000.0 : (double)x;
        if (!c->seconds || (ms >= -limit && ms <= limit)) {
            *dst = c->seconds ? x * 1000 : x;
            return PERDURE_OK;
        }
    } else {
        ms = json_real_value(v) * (c->seconds ? 1000.0 : 1.0);
        if (ms >= -limit && ms <= limit) {
            int64_t r = round_half_away(ms);
            if (c->seconds || (double)r == ms) {
                *dst = r;
                return PERDURE_OK;
            }
            return jfail(c, key, PERDURE_E_DECODE, "expected whole epoch milliseconds");
        }
    }
    return jfail(c, key, PERDURE_E_DECODE, "timestamp out of range");
}

static perdure_status jenum(jctx *c, json_t *obj, const char *key, pd_enum_kind kind, int *dst)
{
    json_t *v;
    TRY(jget(c, obj, key, JK_STRING, true, &v));
    size_t len = json_string_length(v);
    if (pd_enum_parse(kind, json_string_value(v), len, dst) == 0)
        return PERDURE_OK;
    return jfail(c, key, PERDURE_E_DECODE, "unknown %s \"%.*s\"", pd_enum_noun(kind), len > 40 ? 40 : (int)len,
                 json_string_value(v));
}

typedef perdure_status (*jfill_fn)(jctx *c, json_t *obj, void *target);

/* Decodes the object member key, when present, with fill. */
static perdure_status jsub(jctx *c, json_t *obj, const char *key, jfill_fn fill, void *target, bool *present)
{
    json_t *v;
    TRY(jget(c, obj, key, JK_OBJECT, false, &v));
    if (present)
        *present = v != NULL;
    if (!v)
        return PERDURE_OK;
    size_t mark = pd_path_key(&c->path, key);
    perdure_status st = fill(c, v, target);
    pd_path_pop(&c->path, mark);
    return st;
}

typedef perdure_status (*jitem_fn)(jctx *c, json_t *item, size_t index, void *target);

/* Runs item over every element of the array arr (member key), which must all be of one kind. */
static perdure_status jeach(jctx *c, const char *key, json_t *arr, jkind kind, jitem_fn item, void *target)
{
    perdure_status st = PERDURE_OK;
    size_t mark = pd_path_key(&c->path, key);
    for (size_t i = 0; i < json_array_size(arr) && !st; i++) {
        json_t *v = json_array_get(arr, i);
        size_t imark = pd_path_index(&c->path, i);
        if (!jkind_is(kind, v))
            st = jfail(c, NULL, PERDURE_E_DECODE, "expected %s, got %s", jkind_names[kind], json_kind_of(v));
        else
            st = item(c, v, i, target);
        pd_path_pop(&c->path, imark);
    }
    pd_path_pop(&c->path, mark);
    return st;
}

static perdure_status jstack_line(jctx *c, json_t *v, size_t i, void *target)
{
    pd_error *e = target;
    size_t len = json_string_length(v);
    if (memchr(json_string_value(v), 0, len))
        return jfail(c, NULL, PERDURE_E_DECODE, "contains a NUL byte");
    TRY(jcheck_length(c, NULL, len));
    if (!(e->stack[i] = strndup(json_string_value(v), len)))
        return jnomem(c);
    e->stack_len = i + 1;
    return PERDURE_OK;
}

static perdure_status jerror_fill(jctx *c, json_t *o, void *target)
{
    pd_error *e = target;
    json_t *stack;
    TRY(jbytes(c, o, "ErrorType", false, &e->type));
    TRY(jbytes(c, o, "ErrorMessage", false, &e->message));
    TRY(jbytes(c, o, "ErrorData", false, &e->data));
    TRY(jget(c, o, "StackTrace", JK_ARRAY, false, &stack));
    if (!stack || json_array_size(stack) == 0)
        return PERDURE_OK;
    if (!(e->stack = calloc(json_array_size(stack), sizeof *e->stack)))
        return jnomem(c);
    return jeach(c, "StackTrace", stack, JK_STRING, jstack_line, e);
}

/* An ErrorObject member; *dst owns it as soon as it exists, so that a failure
 * half-way is freed with the enclosing record. */
static perdure_status jerror(jctx *c, json_t *obj, const char *key, pd_error **dst)
{
    json_t *v;
    TRY(jget(c, obj, key, JK_OBJECT, false, &v));
    if (!v)
        return PERDURE_OK;
    if (!(*dst = pd_error_new()))
        return jnomem(c);
    size_t mark = pd_path_key(&c->path, key);
    perdure_status st = jerror_fill(c, v, *dst);
    pd_path_pop(&c->path, mark);
    return st;
}

/* ---- Operation ---- */

/* The members of each type's Details object; the encoder writes them in this
 * (the protocol's) order: InputPayload, ReplayChildren, Attempt,
 * NextAttemptTimestamp, ScheduledEndTimestamp, CallbackId, Result, Error. */
enum {
    D_INPUT = 1 << 0,
    D_REPLAY = 1 << 1,
    D_ATTEMPT = 1 << 2,
    D_NEXT_ATTEMPT = 1 << 3,
    D_SCHEDULED_END = 1 << 4,
    D_CALLBACK_ID = 1 << 5,
    D_RESULT = 1 << 6,
    D_ERROR = 1 << 7,
};

static const struct {
    const char *key;
    unsigned members;
} details_of[] = {
    [PERDURE_TYPE_EXECUTION] = {"ExecutionDetails", D_INPUT},
    [PERDURE_TYPE_STEP] = {"StepDetails", D_ATTEMPT | D_NEXT_ATTEMPT | D_RESULT | D_ERROR},
    [PERDURE_TYPE_WAIT] = {"WaitDetails", D_SCHEDULED_END},
    [PERDURE_TYPE_CALLBACK] = {"CallbackDetails", D_CALLBACK_ID | D_RESULT | D_ERROR},
    [PERDURE_TYPE_CONTEXT] = {"ContextDetails", D_REPLAY | D_RESULT | D_ERROR},
    [PERDURE_TYPE_CHAINED_INVOKE] = {"ChainedInvokeDetails", D_RESULT | D_ERROR},
};

static perdure_status jdetails_fill(jctx *c, json_t *d, void *target)
{
    pd_operation *op = target;
    unsigned m = details_of[op->type].members;
    int64_t attempt = 0;
    if (m & D_INPUT)
        TRY(jbytes(c, d, "InputPayload", false, &op->input_payload));
    if (m & D_REPLAY)
        TRY(jbool(c, d, "ReplayChildren", &op->replay_children));
    if (m & D_ATTEMPT)
        TRY(jcount(c, d, "Attempt", UINT32_MAX, &attempt));
    op->attempt = (uint32_t)attempt;
    if (m & D_NEXT_ATTEMPT)
        TRY(jtime(c, d, "NextAttemptTimestamp", &op->next_attempt_ms));
    if (m & D_SCHEDULED_END)
        TRY(jtime(c, d, "ScheduledEndTimestamp", &op->scheduled_end_ms));
    if (m & D_CALLBACK_ID)
        TRY(jbytes(c, d, "CallbackId", false, &op->callback_id));
    if (m & D_RESULT)
        TRY(jbytes(c, d, "Result", false, &op->result));
    if (m & D_ERROR)
        TRY(jerror(c, d, "Error", &op->error));
    return PERDURE_OK;
}

/* Details objects of other types than op's are ignored like unknown members. */
static perdure_status jop_fill(jctx *c, json_t *o, pd_operation *op)
{
    int v;
    TRY(jfixed(c, o, "Id", true, op->id, PD_MAX_ID));
    TRY(jfixed(c, o, "ParentId", false, op->parent_id, PD_MAX_ID));
    TRY(jbytes(c, o, "Name", false, &op->name));
    TRY(jenum(c, o, "Type", PD_ENUM_TYPE, &v));
    op->type = (perdure_op_type)v;
    TRY(jfixed(c, o, "SubType", false, op->sub_type, PD_MAX_SUBTYPE));
    TRY(jtime(c, o, "StartTimestamp", &op->start_ms));
    TRY(jtime(c, o, "EndTimestamp", &op->end_ms));
    TRY(jenum(c, o, "Status", PD_ENUM_STATUS, &v));
    op->status = (perdure_op_status)v;
    return jsub(c, o, details_of[op->type].key, jdetails_fill, op, NULL);
}

static perdure_status jop_item(jctx *c, json_t *v, size_t i, void *target)
{
    (void)i;
    pd_operation *op = pd_op_list_push(target);
    return op ? jop_fill(c, v, op) : jnomem(c);
}

/* {Operations, NextMarker}: InitialExecutionState, NewExecutionState, a state page. */
typedef struct jstate {
    pd_op_list *ops;
    pd_bytes *next_marker;
} jstate;

static perdure_status jstate_fill(jctx *c, json_t *o, void *target)
{
    jstate *s = target;
    json_t *ops;
    TRY(jget(c, o, "Operations", JK_ARRAY, false, &ops));
    if (ops)
        TRY(jeach(c, "Operations", ops, JK_OBJECT, jop_item, s->ops));
    return jbytes(c, o, "NextMarker", false, s->next_marker);
}

/* ---- OperationUpdate ---- */

static perdure_status jcontext_options_fill(jctx *c, json_t *o, void *target)
{
    pd_update *u = target;
    return jbool(c, o, "ReplayChildren", &u->replay_children);
}

static perdure_status jstep_options_fill(jctx *c, json_t *o, void *target)
{
    pd_update *u = target;
    return jcount(c, o, "NextAttemptDelaySeconds", INT64_MAX, &u->next_attempt_delay_s);
}

static perdure_status jwait_options_fill(jctx *c, json_t *o, void *target)
{
    pd_update *u = target;
    return jcount(c, o, "WaitSeconds", INT64_MAX, &u->wait_seconds);
}

static perdure_status jcallback_options_fill(jctx *c, json_t *o, void *target)
{
    pd_update *u = target;
    TRY(jcount(c, o, "TimeoutSeconds", INT64_MAX, &u->callback_timeout_s));
    return jcount(c, o, "HeartbeatTimeoutSeconds", INT64_MAX, &u->callback_heartbeat_s);
}

static perdure_status jinvoke_options_fill(jctx *c, json_t *o, void *target)
{
    pd_update *u = target;
    TRY(jbytes(c, o, "FunctionName", true, &u->function_name));
    return jbytes(c, o, "TenantId", false, &u->tenant_id);
}

static perdure_status jupdate_fill(jctx *c, json_t *o, pd_update *u)
{
    int v;
    TRY(jfixed(c, o, "Id", true, u->id, PD_MAX_ID));
    TRY(jfixed(c, o, "ParentId", false, u->parent_id, PD_MAX_ID));
    TRY(jbytes(c, o, "Name", false, &u->name));
    TRY(jenum(c, o, "Type", PD_ENUM_TYPE, &v));
    u->type = (perdure_op_type)v;
    TRY(jfixed(c, o, "SubType", false, u->sub_type, PD_MAX_SUBTYPE));
    TRY(jenum(c, o, "Action", PD_ENUM_ACTION, &v));
    u->action = (perdure_action)v;
    TRY(jbytes(c, o, "Payload", false, &u->payload));
    TRY(jerror(c, o, "Error", &u->error));
    TRY(jsub(c, o, "ContextOptions", jcontext_options_fill, u, &u->has_context_options));
    TRY(jsub(c, o, "StepOptions", jstep_options_fill, u, NULL));
    TRY(jsub(c, o, "WaitOptions", jwait_options_fill, u, NULL));
    TRY(jsub(c, o, "CallbackOptions", jcallback_options_fill, u, &u->has_callback_options));
    return jsub(c, o, "ChainedInvokeOptions", jinvoke_options_fill, u, NULL);
}

static perdure_status jupdate_item(jctx *c, json_t *v, size_t i, void *target)
{
    pd_update *updates = target;
    return jupdate_fill(c, v, &updates[i]);
}

/* ---- envelopes ---- */

typedef perdure_status (*jroot_fn)(jctx *c, json_t *root, void *out);

static perdure_status jdecode(const void *data, size_t len, bool seconds, jroot_fn fill, void *out, pd_err *err)
{
    jctx c = {.err = err, .seconds = seconds};
    json_error_t je;
    /* Strings may hold NUL (\u0000); a key given twice is ambiguous, so refused. */
    json_t *root = json_loadb(data ? data : "", data ? len : 0, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!root) {
        if (json_error_code(&je) == json_error_out_of_memory)
            return jnomem(&c);
        return pd_fail(err, PERDURE_E_DECODE, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
    }
    perdure_status st = json_is_object(root)
                            ? fill(&c, root, out)
                            : pd_fail(err, PERDURE_E_DECODE, "expected a JSON object, got %s", json_kind_of(root));
    json_decref(root);
    return st;
}

static perdure_status jinvocation_root(jctx *c, json_t *root, void *out)
{
    pd_invocation *inv = out;
    jstate s = {&inv->ops, &inv->next_marker};
    TRY(jbytes(c, root, "DurableExecutionArn", true, &inv->arn));
    TRY(jbytes(c, root, "CheckpointToken", true, &inv->token));
    return jsub(c, root, "InitialExecutionState", jstate_fill, &s, NULL);
}

perdure_status pd_json_decode_invocation(const void *data, size_t len, pd_invocation *out, pd_err *err)
{
    memset(out, 0, sizeof *out);
    perdure_status st = jdecode(data, len, false, jinvocation_root, out, err);
    if (st)
        pd_invocation_free(out);
    return st;
}

static perdure_status jresponse_root(jctx *c, json_t *root, void *out)
{
    pd_checkpoint_response *r = out;
    jstate s = {&r->ops, &r->next_marker};
    TRY(jbytes(c, root, "CheckpointToken", false, &r->token));
    return jsub(c, root, "NewExecutionState", jstate_fill, &s, NULL);
}

perdure_status pd_json_decode_checkpoint_response(const void *data, size_t len, pd_checkpoint_response *out,
                                                  pd_err *err)
{
    memset(out, 0, sizeof *out);
    perdure_status st = jdecode(data, len, true, jresponse_root, out, err);
    if (st)
        pd_checkpoint_response_free(out);
    return st;
}

perdure_status pd_json_decode_state_page(const void *data, size_t len, pd_op_list *ops, pd_bytes *next_marker,
                                         pd_err *err)
{
    jstate s = {ops, next_marker};
    memset(ops, 0, sizeof *ops);
    memset(next_marker, 0, sizeof *next_marker);
    perdure_status st = jdecode(data, len, true, jstate_fill, &s, err);
    if (st) {
        pd_op_list_free(ops);
        pd_bytes_clear(next_marker);
    }
    return st;
}

typedef struct jrequest {
    pd_bytes *token, *client_token;
    pd_update *updates;
    size_t n;
} jrequest;

static perdure_status jrequest_root(jctx *c, json_t *root, void *out)
{
    jrequest *r = out;
    json_t *updates;
    TRY(jbytes(c, root, "CheckpointToken", true, r->token));
    TRY(jget(c, root, "Updates", JK_ARRAY, false, &updates));
    if (updates && json_array_size(updates)) {
        if (!(r->updates = calloc(json_array_size(updates), sizeof *r->updates)))
            return jnomem(c);
        r->n = json_array_size(updates);
        TRY(jeach(c, "Updates", updates, JK_OBJECT, jupdate_item, r->updates));
    }
    return jbytes(c, root, "ClientToken", false, r->client_token);
}

perdure_status pd_json_decode_checkpoint_request(const void *data, size_t len, pd_bytes *token, pd_update **updates,
                                                 size_t *n, pd_bytes *client_token, pd_err *err)
{
    jrequest r = {token, client_token, NULL, 0};
    memset(token, 0, sizeof *token);
    memset(client_token, 0, sizeof *client_token);
    perdure_status st = jdecode(data, len, true, jrequest_root, &r, err);
    if (st) {
        pd_updates_free(r.updates, r.n);
        pd_bytes_clear(token);
        pd_bytes_clear(client_token);
        r.updates = NULL;
        r.n = 0;
    }
    *updates = r.updates;
    *n = r.n;
    return st;
}

static perdure_status joutput_root(jctx *c, json_t *root, void *out)
{
    pd_output *o = out;
    int v;
    TRY(jenum(c, root, "Status", PD_ENUM_OUTCOME, &v));
    o->status = (perdure_outcome)v;
    TRY(jbytes(c, root, "Result", false, &o->result));
    return jerror(c, root, "Error", &o->error);
}

perdure_status pd_json_decode_output(const void *data, size_t len, pd_output *out, pd_err *err)
{
    memset(out, 0, sizeof *out);
    perdure_status st = jdecode(data, len, false, joutput_root, out, err);
    if (st)
        pd_output_free(out);
    return st;
}

static perdure_status jerror_root(jctx *c, json_t *root, void *out)
{
    pd_error **e = out;
    if (!(*e = pd_error_new()))
        return jnomem(c);
    return jerror_fill(c, root, *e);
}

perdure_status pd_json_decode_error(const void *data, size_t len, pd_error **out, pd_err *err)
{
    *out = NULL;
    perdure_status st = jdecode(data, len, false, jerror_root, out, err);
    if (st) {
        pd_error_free(*out);
        *out = NULL;
    }
    return st;
}

/* ======================================================================
 * encoding: every member is attached to its parent as soon as it is made,
 * so that freeing the root frees everything on any failure.
 * ====================================================================== */

/* Attaches v (NULL after a failed allocation) as obj[key]. */
static perdure_status jput(jctx *c, json_t *obj, const char *key, json_t *v)
{
    return v && json_object_set_new(obj, key, v) == 0 ? PERDURE_OK : jnomem(c);
}

static perdure_status jput_text(jctx *c, json_t *obj, const char *key, const char *s, size_t len)
{
    if (!pd_utf8_valid(s, len))
        return jfail(c, key, PERDURE_E_INVALID, "not valid UTF-8");
    return jput(c, obj, key, json_stringn_nocheck(s, len));
}

static perdure_status jput_bytes(jctx *c, json_t *obj, const char *key, const pd_bytes *b)
{
    return b->present ? jput_text(c, obj, key, b->data ? b->data : "", b->len) : PERDURE_OK;
}

/* A fixed text field or C string, absent when empty. */
static perdure_status jput_cstr(jctx *c, json_t *obj, const char *key, const char *s)
{
    return s && *s ? jput_text(c, obj, key, s, strlen(s)) : PERDURE_OK;
}

static perdure_status jput_time(jctx *c, json_t *obj, const char *key, int64_t ms)
{
    if (!ms)
        return PERDURE_OK;
    return jput(c, obj, key, c->seconds ? json_real((double)ms / 1000.0) : json_integer(ms));
}

/* Attaches a new empty object as obj[key] and returns it in *sub. */
static perdure_status jput_object(jctx *c, json_t *obj, const char *key, json_t **sub)
{
    *sub = json_object();
    return jput(c, obj, key, *sub);
}

static perdure_status jerror_build(jctx *c, json_t *o, const pd_error *e)
{
    json_t *stack;
    TRY(jput_bytes(c, o, "ErrorType", &e->type));
    TRY(jput_bytes(c, o, "ErrorMessage", &e->message));
    TRY(jput_bytes(c, o, "ErrorData", &e->data));
    if (!e->stack_len)
        return PERDURE_OK;
    stack = json_array();
    TRY(jput(c, o, "StackTrace", stack));
    for (size_t i = 0; i < e->stack_len; i++) {
        json_t *line;
        if (!pd_utf8_valid(e->stack[i], strlen(e->stack[i])))
            return jfail(c, "StackTrace", PERDURE_E_INVALID, "line %zu is not valid UTF-8", i);
        if (!(line = json_string_nocheck(e->stack[i])) || json_array_append_new(stack, line))
            return jnomem(c);
    }
    return PERDURE_OK;
}

static perdure_status jput_error(jctx *c, json_t *obj, const char *key, const pd_error *e)
{
    json_t *o;
    if (!e)
        return PERDURE_OK;
    TRY(jput_object(c, obj, key, &o));
    size_t mark = pd_path_key(&c->path, key);
    perdure_status st = jerror_build(c, o, e);
    pd_path_pop(&c->path, mark);
    return st;
}

static perdure_status jdetails_build(jctx *c, json_t *d, const pd_operation *op)
{
    unsigned m = details_of[op->type].members;
    if (m & D_INPUT)
        TRY(jput_bytes(c, d, "InputPayload", &op->input_payload));
    if ((m & D_REPLAY) && op->replay_children)
        TRY(jput(c, d, "ReplayChildren", json_true()));
    if ((m & D_ATTEMPT) && op->attempt)
        TRY(jput(c, d, "Attempt", json_integer(op->attempt)));
    if (m & D_NEXT_ATTEMPT)
        TRY(jput_time(c, d, "NextAttemptTimestamp", op->next_attempt_ms));
    if (m & D_SCHEDULED_END)
        TRY(jput_time(c, d, "ScheduledEndTimestamp", op->scheduled_end_ms));
    if (m & D_CALLBACK_ID)
        TRY(jput_bytes(c, d, "CallbackId", &op->callback_id));
    if (m & D_RESULT)
        TRY(jput_bytes(c, d, "Result", &op->result));
    if (m & D_ERROR)
        TRY(jput_error(c, d, "Error", op->error));
    return PERDURE_OK;
}

static perdure_status jop_build(jctx *c, json_t *o, const pd_operation *op)
{
    json_t *d;
    TRY(pd_codec_check_operation(op, &c->path, c->err));
    TRY(jput_cstr(c, o, "Id", op->id));
    TRY(jput_cstr(c, o, "ParentId", op->parent_id));
    TRY(jput_bytes(c, o, "Name", &op->name));
    TRY(jput(c, o, "Type", json_string(pd_type_name(op->type))));
    TRY(jput_cstr(c, o, "SubType", op->sub_type));
    TRY(jput_time(c, o, "StartTimestamp", op->start_ms));
    TRY(jput_time(c, o, "EndTimestamp", op->end_ms));
    TRY(jput(c, o, "Status", json_string(pd_status_name(op->status))));
    const char *key = details_of[op->type].key;
    TRY(jput_object(c, o, key, &d));
    TRY(jdetails_build(c, d, op));
    /* A Details object goes out only when it says something. */
    if (json_object_size(d) == 0)
        json_object_del(o, key);
    return PERDURE_OK;
}

static perdure_status jstate_build(jctx *c, json_t *o, const pd_op_list *ops, const pd_bytes *next_marker)
{
    json_t *arr = json_array();
    TRY(jput(c, o, "Operations", arr));
    size_t mark = pd_path_key(&c->path, "Operations");
    perdure_status st = PERDURE_OK;
    for (size_t i = 0; i < ops->len && !st; i++) {
        json_t *item = json_object();
        if (!item || json_array_append_new(arr, item)) {
            st = jnomem(c);
            break;
        }
        size_t imark = pd_path_index(&c->path, i);
        st = jop_build(c, item, &ops->items[i]);
        pd_path_pop(&c->path, imark);
    }
    pd_path_pop(&c->path, mark);
    return st ? st : jput_bytes(c, o, "NextMarker", next_marker);
}

static perdure_status jupdate_build(jctx *c, json_t *o, const pd_update *u)
{
    json_t *sub;
    TRY(pd_codec_check_update(u, &c->path, c->err));
    TRY(jput_cstr(c, o, "Id", u->id));
    TRY(jput_cstr(c, o, "ParentId", u->parent_id));
    TRY(jput_bytes(c, o, "Name", &u->name));
    TRY(jput(c, o, "Type", json_string(pd_type_name(u->type))));
    TRY(jput_cstr(c, o, "SubType", u->sub_type));
    TRY(jput(c, o, "Action", json_string(pd_action_name(u->action))));
    TRY(jput_bytes(c, o, "Payload", &u->payload));
    TRY(jput_error(c, o, "Error", u->error));
    if (u->has_context_options) {
        TRY(jput_object(c, o, "ContextOptions", &sub));
        TRY(jput(c, sub, "ReplayChildren", json_boolean(u->replay_children)));
    }
    if (u->next_attempt_delay_s) {
        TRY(jput_object(c, o, "StepOptions", &sub));
        TRY(jput(c, sub, "NextAttemptDelaySeconds", json_integer(u->next_attempt_delay_s)));
    }
    if (u->wait_seconds) {
        TRY(jput_object(c, o, "WaitOptions", &sub));
        TRY(jput(c, sub, "WaitSeconds", json_integer(u->wait_seconds)));
    }
    if (u->has_callback_options) {
        TRY(jput_object(c, o, "CallbackOptions", &sub));
        TRY(jput(c, sub, "TimeoutSeconds", json_integer(u->callback_timeout_s)));
        TRY(jput(c, sub, "HeartbeatTimeoutSeconds", json_integer(u->callback_heartbeat_s)));
    }
    if (u->function_name.present) {
        TRY(jput_object(c, o, "ChainedInvokeOptions", &sub));
        size_t mark = pd_path_key(&c->path, "ChainedInvokeOptions");
        perdure_status st = jput_bytes(c, sub, "FunctionName", &u->function_name);
        if (!st)
            st = jput_bytes(c, sub, "TenantId", &u->tenant_id);
        pd_path_pop(&c->path, mark);
        return st;
    }
    return PERDURE_OK;
}

static int jdump_append(const char *buffer, size_t size, void *data) { return pd_buf_append(data, buffer, size); }

typedef perdure_status (*jbuild_fn)(jctx *c, json_t *root, const void *in);

/* Builds the root object with build and appends its text to out. */
static perdure_status jencode(bool seconds, jbuild_fn build, const void *in, pd_buf *out, pd_err *err)
{
    jctx c = {.err = err, .seconds = seconds};
    json_t *root = json_object();
    if (!root)
        return jnomem(&c);
    size_t start = out->len;
    perdure_status st = build(&c, root, in);
    if (!st && json_dump_callback(root, jdump_append, out, PD_JSON_DUMP_FLAGS)) {
        out->len = start;
        st = jnomem(&c);
    }
    json_decref(root);
    return st;
}

static perdure_status jinvocation_build(jctx *c, json_t *root, const void *in)
{
    const pd_invocation *inv = in;
    json_t *state;
    TRY(pd_codec_check_required("DurableExecutionArn", inv->arn.present, &c->path, c->err));
    TRY(pd_codec_check_required("CheckpointToken", inv->token.present, &c->path, c->err));
    TRY(jput_bytes(c, root, "DurableExecutionArn", &inv->arn));
    TRY(jput_bytes(c, root, "CheckpointToken", &inv->token));
    TRY(jput_object(c, root, "InitialExecutionState", &state));
    size_t mark = pd_path_key(&c->path, "InitialExecutionState");
    perdure_status st = jstate_build(c, state, &inv->ops, &inv->next_marker);
    pd_path_pop(&c->path, mark);
    return st;
}

perdure_status pd_json_encode_invocation(const pd_invocation *inv, pd_buf *out, pd_err *err)
{
    return jencode(false, jinvocation_build, inv, out, err);
}

static perdure_status jresponse_build(jctx *c, json_t *root, const void *in)
{
    const pd_checkpoint_response *r = in;
    json_t *state;
    TRY(jput_bytes(c, root, "CheckpointToken", &r->token));
    TRY(jput_object(c, root, "NewExecutionState", &state));
    size_t mark = pd_path_key(&c->path, "NewExecutionState");
    perdure_status st = jstate_build(c, state, &r->ops, &r->next_marker);
    pd_path_pop(&c->path, mark);
    return st;
}

perdure_status pd_json_encode_checkpoint_response(const pd_checkpoint_response *r, pd_buf *out, pd_err *err)
{
    return jencode(true, jresponse_build, r, out, err);
}

typedef struct jrequest_in {
    const char *token, *client_token;
    const pd_update *updates;
    size_t n;
} jrequest_in;

static perdure_status jrequest_build(jctx *c, json_t *root, const void *in)
{
    const jrequest_in *r = in;
    TRY(pd_codec_check_required("CheckpointToken", r->token != NULL, &c->path, c->err));
    TRY(jput_text(c, root, "CheckpointToken", r->token, strlen(r->token)));
    json_t *arr = json_array();
    TRY(jput(c, root, "Updates", arr));
    size_t mark = pd_path_key(&c->path, "Updates");
    perdure_status st = PERDURE_OK;
    for (size_t i = 0; i < r->n && !st; i++) {
        json_t *item = json_object();
        if (!item || json_array_append_new(arr, item)) {
            st = jnomem(c);
            break;
        }
        size_t imark = pd_path_index(&c->path, i);
        st = jupdate_build(c, item, &r->updates[i]);
        pd_path_pop(&c->path, imark);
    }
    pd_path_pop(&c->path, mark);
    if (!st && r->client_token)
        st = jput_text(c, root, "ClientToken", r->client_token, strlen(r->client_token));
    return st;
}

perdure_status pd_json_encode_checkpoint_request(const char *token, const pd_update *updates, size_t n,
                                                 const char *client_token, pd_buf *out, pd_err *err)
{
    jrequest_in r = {token, client_token, updates, n};
    return jencode(true, jrequest_build, &r, out, err);
}

size_t pd_json_update_size(const pd_update *u)
{
    jctx c = {0};
    json_t *root = json_object();
    size_t size = 0;
    if (root && jupdate_build(&c, root, u) == PERDURE_OK)
        size = json_dumpb(root, NULL, 0, PD_JSON_DUMP_FLAGS);
    json_decref(root);
    return size;
}

static perdure_status joutput_build(jctx *c, json_t *root, const void *in)
{
    const pd_output *o = in;
    TRY(pd_codec_check_output(o, &c->path, c->err));
    TRY(jput(c, root, "Status", json_string(pd_outcome_name(o->status))));
    TRY(jput_bytes(c, root, "Result", &o->result));
    return jput_error(c, root, "Error", o->error);
}

perdure_status pd_json_encode_output(const pd_output *o, pd_buf *out, pd_err *err)
{
    return jencode(false, joutput_build, o, out, err);
}

static perdure_status jerror_root_build(jctx *c, json_t *root, const void *in)
{
    TRY(pd_codec_check_error(in, &c->path, c->err));
    return jerror_build(c, root, in);
}

perdure_status pd_json_encode_error(const pd_error *e, pd_buf *out, pd_err *err)
{
    if (!e)
        return pd_fail(err, PERDURE_E_MISUSE, "no error to encode");
    return jencode(false, jerror_root_build, e, out, err);
}

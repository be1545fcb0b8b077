/* The C SDK: durable functions written in C, driving the VM through a
 * transport. Single-threaded: map items run one after another. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "internal.h"

typedef struct sdk_run {
    perdure_vm *vm;
    perdure_transport_fn transport;
    void *transport_user;
    perdure_status failure;   /* first transport or VM failure: ends the invocation */
    bool transport_failed;    /* that failure came from the transport or its response */
    bool suspended;           /* an operation asked the handler to unwind */
    perdure_op last_error_op;
} sdk_run;

struct perdure_context {
    sdk_run *run;
    perdure_ctx ctx;
};

perdure_vm *perdure_context_vm(perdure_context *ctx) { return ctx ? ctx->run->vm : NULL; }

static perdure_status run_failed(sdk_run *run, perdure_status st)
{
    if (!run->failure)
        run->failure = st;
    return st;
}

/* Sends batches until nothing synchronous waits. */
static perdure_status flush(sdk_run *run)
{
    while (perdure_vm_wants_flush(run->vm)) {
        perdure_buf request = {0}, response = {0};
        perdure_status st = perdure_vm_take_batch(run->vm, &request);
        if (st) {
            perdure_buf_free(&request);
            return run_failed(run, st);
        }
        /* From here a failure is the transport's or its response's: the
         * service re-invokes, so it must not end the execution. */
        st = run->transport(run->transport_user, request.data, request.len, &response);
        if (!st)
            st = perdure_vm_apply_response(run->vm, response.data, response.len);
        perdure_buf_free(&request);
        perdure_buf_free(&response);
        if (st) {
            if (!run->failure)
                run->transport_failed = true;
            return run_failed(run, st);
        }
    }
    return PERDURE_OK;
}

/* Asks the VM until it says something other than CHECKPOINT. */
static perdure_status drive(sdk_run *run, perdure_op op, perdure_next *next)
{
    for (;;) {
        perdure_status st = perdure_vm_op_next(run->vm, op, next);
        if (st)
            return run_failed(run, st);
        if (*next != PERDURE_NEXT_CHECKPOINT)
            return PERDURE_OK;
        if ((st = flush(run)))
            return st;
    }
}

/* Turns a final answer into the caller's outcome and result view. */
static perdure_status answer(sdk_run *run, perdure_op op, perdure_next next, perdure_sdk_outcome *outcome,
                             const unsigned char **result, unsigned long long *result_len)
{
    if (result) {
        *result = NULL;
        *result_len = 0;
    }
    switch (next) {
    case PERDURE_NEXT_RESULT:
        *outcome = PERDURE_SDK_OK;
        return result ? perdure_vm_op_result(run->vm, op, result, result_len) : PERDURE_OK;
    case PERDURE_NEXT_ERROR:
        *outcome = PERDURE_SDK_ERROR;
        run->last_error_op = op;
        return PERDURE_OK;
    default:
        *outcome = PERDURE_SDK_SUSPEND;
        run->suspended = true;
        return PERDURE_OK;
    }
}

static bool context_ok(perdure_context *ctx, perdure_sdk_outcome *outcome)
{
    return ctx && ctx->run && outcome;
}

/* Reports a body's outcome: rc 0 with *result, else *error. */
static perdure_status report(sdk_run *run, perdure_op op, int rc, perdure_buf *result, const perdure_error_info *error)
{
    perdure_status st = rc == 0 ? perdure_vm_op_succeed(run->vm, op, result->data, result->len)
                                : perdure_vm_op_fail(run->vm, op, error);
    perdure_buf_free(result);
    return st ? run_failed(run, st) : PERDURE_OK;
}

perdure_status perdure_context_step(perdure_context *ctx, const char *name, const perdure_step_config *cfg,
                                    perdure_step_fn fn, void *user, perdure_sdk_outcome *outcome,
                                    const unsigned char **result, unsigned long long *result_len)
{
    if (!context_ok(ctx, outcome) || !fn || !result || !result_len)
        return PERDURE_E_MISUSE;
    sdk_run *run = ctx->run;
    perdure_op op;
    perdure_next next;
    perdure_status st = perdure_vm_step(run->vm, ctx->ctx, name, cfg, &op);
    if (st)
        return run_failed(run, st);
    while (!(st = drive(run, op, &next)) && next == PERDURE_NEXT_EXECUTE) {
        unsigned attempt = 1;
        perdure_vm_op_attempt(run->vm, op, &attempt);
        perdure_buf out = {0};
        perdure_error_info error = {0};
        int rc = fn(user, attempt, &out, &error);
        if ((st = report(run, op, rc, &out, &error)))
            return st;
    }
    return st ? st : answer(run, op, next, outcome, result, result_len);
}

perdure_status perdure_context_wait(perdure_context *ctx, const char *name, long long seconds,
                                    perdure_sdk_outcome *outcome)
{
    if (!context_ok(ctx, outcome))
        return PERDURE_E_MISUSE;
    perdure_op op;
    perdure_next next;
    perdure_status st = perdure_vm_wait(ctx->run->vm, ctx->ctx, name, seconds, &op);
    if (st)
        return run_failed(ctx->run, st);
    if ((st = drive(ctx->run, op, &next)))
        return st;
    return answer(ctx->run, op, next, outcome, NULL, NULL);
}

perdure_status perdure_context_create_callback(perdure_context *ctx, const char *name,
                                               const perdure_callback_config *cfg, perdure_op *callback,
                                               const char **callback_id)
{
    if (!ctx || !callback || !callback_id)
        return PERDURE_E_MISUSE;
    perdure_next next;
    perdure_status st = perdure_vm_callback(ctx->run->vm, ctx->ctx, name, cfg, callback);
    if (st)
        return run_failed(ctx->run, st);
    if ((st = drive(ctx->run, *callback, &next)))
        return st;
    st = perdure_vm_op_callback_id(ctx->run->vm, *callback, callback_id);
    return st ? run_failed(ctx->run, st) : PERDURE_OK;
}

perdure_status perdure_context_callback_result(perdure_context *ctx, perdure_op callback,
                                               perdure_sdk_outcome *outcome, const unsigned char **result,
                                               unsigned long long *result_len)
{
    if (!context_ok(ctx, outcome) || !result || !result_len)
        return PERDURE_E_MISUSE;
    perdure_next next;
    perdure_status st = drive(ctx->run, callback, &next);
    return st ? st : answer(ctx->run, callback, next, outcome, result, result_len);
}

perdure_status perdure_context_wait_for_callback(perdure_context *ctx, const char *name,
                                                 const perdure_callback_config *cfg, perdure_submit_fn submitter,
                                                 void *user, perdure_sdk_outcome *outcome,
                                                 const unsigned char **result, unsigned long long *result_len)
{
    if (!context_ok(ctx, outcome) || !submitter || !result || !result_len)
        return PERDURE_E_MISUSE;
    sdk_run *run = ctx->run;
    perdure_op op;
    perdure_next next;
    perdure_status st = perdure_vm_wait_for_callback(run->vm, ctx->ctx, name, cfg, NULL, &op);
    if (st)
        return run_failed(run, st);
    while (!(st = drive(run, op, &next)) && next == PERDURE_NEXT_EXECUTE) {
        const char *callback_id = NULL;
        perdure_error_info error = {0};
        perdure_buf none = {0};
        if ((st = perdure_vm_op_callback_id(run->vm, op, &callback_id)))
            return run_failed(run, st);
        int rc = submitter(user, callback_id, &error);
        if ((st = report(run, op, rc, &none, &error)))
            return st;
    }
    return st ? st : answer(run, op, next, outcome, result, result_len);
}

perdure_status perdure_context_invoke(perdure_context *ctx, const char *name, const char *function_name,
                                      const void *payload, unsigned long long payload_len,
                                      perdure_sdk_outcome *outcome, const unsigned char **result,
                                      unsigned long long *result_len)
{
    if (!context_ok(ctx, outcome) || !result || !result_len)
        return PERDURE_E_MISUSE;
    sdk_run *run = ctx->run;
    perdure_op op;
    perdure_next next;
    perdure_status st = perdure_vm_invoke(run->vm, ctx->ctx, name, function_name, NULL, payload, payload_len, &op);
    if (st)
        return run_failed(run, st);
    if ((st = drive(run, op, &next)))
        return st;
    return answer(run, op, next, outcome, result, result_len);
}

/* Runs a context body in its own perdure_context; a suspension inside it is
 * reported to the VM and leaves the caller's suspension flag set. */
static perdure_status run_body(sdk_run *run, perdure_op op, perdure_child_fn child_fn, perdure_item_fn item_fn,
                               void *user, unsigned index)
{
    perdure_context inner = {run, op};
    perdure_buf out = {0};
    perdure_error_info error = {0};
    bool outer_suspended = run->suspended;
    run->suspended = false;
    int rc = child_fn ? child_fn(&inner, user, &out, &error) : item_fn(&inner, user, index, &out, &error);
    if (run->failure) {
        perdure_buf_free(&out);
        return run->failure;
    }
    if (run->suspended) {
        perdure_buf_free(&out);
        perdure_status st = perdure_vm_op_suspended(run->vm, op);
        return st ? run_failed(run, st) : PERDURE_OK;
    }
    run->suspended = outer_suspended;
    return report(run, op, rc, &out, &error);
}

perdure_status perdure_context_run_child(perdure_context *ctx, const char *name, perdure_child_fn fn, void *user,
                                         perdure_sdk_outcome *outcome, const unsigned char **result,
                                         unsigned long long *result_len)
{
    if (!context_ok(ctx, outcome) || !fn || !result || !result_len)
        return PERDURE_E_MISUSE;
    sdk_run *run = ctx->run;
    perdure_op op;
    perdure_next next;
    perdure_status st = perdure_vm_child(run->vm, ctx->ctx, name, NULL, 0, &op);
    if (st)
        return run_failed(run, st);
    if ((st = drive(run, op, &next)))
        return st;
    if (next == PERDURE_NEXT_EXECUTE) {
        if ((st = run_body(run, op, fn, NULL, user, 0)))
            return st;
        if (run->suspended)
            return answer(run, op, PERDURE_NEXT_SUSPEND, outcome, result, result_len);
        if ((st = drive(run, op, &next)))
            return st;
    }
    return answer(run, op, next, outcome, result, result_len);
}

/* The C SDK's BatchResult: item results are text (UTF-8) from the C bodies.
 * {"all":[{"index":0,"status":"SUCCEEDED","result":"..."}|{...,"error":{...}}],
 *  "completionReason":"ALL_COMPLETED"} */
static perdure_status batch_result_json(sdk_run *run, perdure_op batch, pd_buf *out)
{
    static const char *const reasons[] = {"", "ALL_COMPLETED", "MIN_SUCCESSFUL_REACHED", "FAILURE_TOLERANCE_EXCEEDED"};
    perdure_batch_outcome o;
    perdure_status st = perdure_vm_batch_outcome(run->vm, batch, &o);
    if (st)
        return st;
    json_t *all = json_array(), *root = json_object();
    for (unsigned i = 0; all && root && i < o.total; i++) {
        perdure_op_status status;
        perdure_op item;
        perdure_vm_batch_item(run->vm, batch, i, &status, &item);
        if (status == PERDURE_STATUS_ABSENT)
            continue;
        json_t *entry = json_object();
        json_object_set_new(entry, "index", json_integer(i));
        json_object_set_new(entry, "status", json_string(pd_status_name(status)));
        const unsigned char *data;
        unsigned long long len;
        perdure_error_view e;
        if (status == PERDURE_STATUS_SUCCEEDED && !perdure_vm_op_result(run->vm, item, &data, &len))
            json_object_set_new(entry, "result", json_stringn((const char *)(data ? data : (const unsigned char *)""), len));
        else if (status == PERDURE_STATUS_FAILED && !perdure_vm_op_error(run->vm, item, &e)) {
            json_t *err = json_object();
            if (e.error_type)
                json_object_set_new(err, "ErrorType", json_string(e.error_type));
            if (e.error_message)
                json_object_set_new(err, "ErrorMessage", json_string(e.error_message));
            json_object_set_new(entry, "error", err);
        }
        json_array_append_new(all, entry);
    }
    json_object_set_new(root, "all", all);
    json_object_set_new(root, "completionReason", json_string(reasons[o.reason]));
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text || pd_buf_append_str(out, text)) {
        free(text);
        return PERDURE_E_NOMEM;
    }
    free(text);
    return PERDURE_OK;
}

static perdure_status run_items(sdk_run *run, perdure_op batch, perdure_item_fn fn, void *user, bool *suspend)
{
    for (;;) {
        perdure_batch_poll poll;
        perdure_next next;
        perdure_status st = perdure_vm_batch_poll(run->vm, batch, &poll);
        if (st)
            return run_failed(run, st);
        switch (poll.action) {
        case PERDURE_BATCH_RUN_ITEM:
            if ((st = drive(run, poll.item, &next)))
                return st;
            if (next != PERDURE_NEXT_EXECUTE)
                break;
            if ((st = run_body(run, poll.item, NULL, fn, user, poll.index)))
                return st;
            if (run->suspended) {
                run->suspended = false;   /* only this item waits; the others go on */
                break;
            }
            if ((st = drive(run, poll.item, &next)))
                return st;
            break;
        case PERDURE_BATCH_DONE:
            return PERDURE_OK;
        case PERDURE_BATCH_SUSPEND:
            *suspend = true;
            return PERDURE_OK;
        case PERDURE_BATCH_WAIT:   /* items run to completion here: nothing is ever in flight */
            return run_failed(run, PERDURE_E_INTERNAL);
        }
    }
}

static perdure_status run_batch(perdure_context *ctx, const char *name, perdure_batch_kind kind, unsigned int count,
                                const perdure_batch_config *cfg, perdure_item_fn fn, void *user,
                                perdure_sdk_outcome *outcome, perdure_op *batch)
{
    sdk_run *run = ctx->run;
    perdure_next next;
    perdure_status st = perdure_vm_batch(run->vm, ctx->ctx, name, kind, count, cfg, batch);
    if (st)
        return run_failed(run, st);
    if ((st = drive(run, *batch, &next)))
        return st;
    if (next == PERDURE_NEXT_EXECUTE) {
        bool suspend = false;
        if ((st = run_items(run, *batch, fn, user, &suspend)))
            return st;
        if (suspend)
            return answer(run, *batch, PERDURE_NEXT_SUSPEND, outcome, NULL, NULL);
        pd_buf payload;
        pd_buf_init(&payload);
        if ((st = batch_result_json(run, *batch, &payload)) ||
            (st = perdure_vm_op_succeed(run->vm, *batch, payload.data, payload.len))) {
            pd_buf_free(&payload);
            return run_failed(run, st);
        }
        pd_buf_free(&payload);
        if ((st = drive(run, *batch, &next)))
            return st;
    }
    return answer(run, *batch, next, outcome, NULL, NULL);
}

perdure_status perdure_context_map(perdure_context *ctx, const char *name, unsigned int item_count,
                                   const perdure_batch_config *cfg, perdure_item_fn fn, void *user,
                                   perdure_sdk_outcome *outcome, perdure_op *batch)
{
    if (!context_ok(ctx, outcome) || !fn || !batch)
        return PERDURE_E_MISUSE;
    return run_batch(ctx, name, PERDURE_BATCH_MAP, item_count, cfg, fn, user, outcome, batch);
}

typedef struct branches {
    const perdure_child_fn *fns;
    void *const *users;
} branches;

/* A parallel is a batch whose item i runs branch i. */
static int run_branch(perdure_context *ctx, void *user, unsigned index, perdure_buf *result, perdure_error_info *error)
{
    const branches *b = user;
    return b->fns[index](ctx, b->users ? b->users[index] : NULL, result, error);
}

perdure_status perdure_context_parallel(perdure_context *ctx, const char *name, unsigned int branch_count,
                                        const perdure_child_fn *fns, void *const *users,
                                        const perdure_batch_config *cfg, perdure_sdk_outcome *outcome,
                                        perdure_op *batch)
{
    if (!context_ok(ctx, outcome) || (!fns && branch_count) || !batch)
        return PERDURE_E_MISUSE;
    for (unsigned i = 0; i < branch_count; i++)
        if (!fns[i])
            return PERDURE_E_MISUSE;
    branches b = {fns, users};
    return run_batch(ctx, name, PERDURE_BATCH_PARALLEL, branch_count, cfg, run_branch, &b, outcome, batch);
}

perdure_status perdure_context_last_error(perdure_context *ctx, perdure_error_view *out)
{
    if (!ctx || !out || !ctx->run->last_error_op)
        return PERDURE_E_MISUSE;
    return perdure_vm_op_error(ctx->run->vm, ctx->run->last_error_op, out);
}

perdure_status perdure_output_failed(const perdure_vm_options *opts, const perdure_error_info *error,
                                    perdure_buf *output)
{
    if (!error || !output)
        return PERDURE_E_MISUSE;
    output->data = NULL;
    output->len = 0;
    /* Read the caller's options only as far as its size says (an older,
     * shorter struct), and compress as the VM would (0 means the default). */
    perdure_vm_options o = {0};
    if (opts)
        memcpy(&o, opts, opts->size < sizeof o ? opts->size : sizeof o);
    if (!o.compress_threshold)
        o.compress_threshold = 4096;
    pd_output out = {.status = PERDURE_OUTCOME_FAILED, .error = pd_error_from_info(error)};
    if (!out.error)
        return PERDURE_E_NOMEM;
    pd_buf buf;
    pd_buf_init(&buf);
    pd_err err = {0};
    perdure_status st = o.wire == PERDURE_WIRE_MSGPACK ? pd_mp_encode_output(&out, o.compress_threshold, &buf, &err)
                                                       : pd_json_encode_output(&out, &buf, &err);
    pd_output_free(&out);
    if (st) {
        pd_buf_free(&buf);
        return st;
    }
    pd_buf_release(&buf, output);
    return PERDURE_OK;
}

/* A deterministic failure inside the handler (a non-deterministic replay, an
 * inconsistent history, an invalid argument or oversized payload, misuse)
 * would fail the same way on every re-invocation: it ends the execution as
 * FAILED, named after the status, without touching the (maybe poisoned) VM. */
static perdure_status failed_output(const perdure_vm_options *opts, sdk_run *run, perdure_buf *output)
{
    perdure_error_info info = {.error_type = run->failure == PERDURE_E_NONDETERMINISM ? "NonDeterministicExecutionError"
                                                                                       : perdure_status_name(run->failure),
                               .error_message = perdure_vm_errmsg(run->vm)};
    return perdure_output_failed(opts, &info, output);
}

perdure_status perdure_invoke_handler(const perdure_vm_options *opts, const void *input, unsigned long long input_len,
                                      long long now_ms, perdure_handler_fn handler, void *handler_user,
                                      perdure_transport_fn transport, void *transport_user, perdure_buf *output)
{
    if (!handler || !transport || !output)
        return PERDURE_E_MISUSE;
    output->data = NULL;
    output->len = 0;
    sdk_run run = {.transport = transport, .transport_user = transport_user};
    perdure_status st = perdure_vm_new(opts, &run.vm);
    if (st)
        return st;
    if ((st = perdure_vm_start(run.vm, input, input_len, now_ms)))
        goto done;
    if (perdure_vm_state_marker(run.vm)) {
        /* Paged state needs GetDurableExecutionState, which a checkpoint
         * transport cannot carry: refuse rather than replay a partial history. */
        st = PERDURE_E_PROTOCOL;
        goto done;
    }
    const unsigned char *in = NULL;
    unsigned long long in_len = 0;
    perdure_vm_input(run.vm, &in, &in_len);
    perdure_context root = {&run, PERDURE_ROOT};
    perdure_buf result = {0};
    perdure_error_info error = {0};
    int rc = handler(&root, handler_user, in, in_len, &result, &error);
    perdure_next next = PERDURE_NEXT_RESULT;
    if (run.failure) {
        perdure_buf_free(&result);
        /* Transport trouble, or a resource failure: raise it, and the service
         * re-invokes. Anything else is deterministic. */
        bool transient = run.transport_failed || run.failure == PERDURE_E_NOMEM || run.failure == PERDURE_E_INTERNAL;
        st = transient ? run.failure : failed_output(opts, &run, output);
        goto done;
    }
    perdure_outcome outcome = run.suspended ? PERDURE_OUTCOME_PENDING
                              : rc == 0     ? PERDURE_OUTCOME_SUCCEEDED
                                            : PERDURE_OUTCOME_FAILED;
    st = perdure_vm_finish(run.vm, outcome, result.data, result.len, &error, &next);
    perdure_buf_free(&result);
    if (!st && next == PERDURE_NEXT_CHECKPOINT)
        st = flush(&run);   /* once finishing, everything queued is flushed */
    if (!st)
        st = perdure_vm_output(run.vm, output);
done:
    perdure_vm_free(run.vm);
    return st;
}

/* The codecs: JSON wire shapes, msgpack records, zstd, and golden vectors. */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "codec.h"
#include "internal.h"

/* ---- builders ---- */

static void set(pd_bytes *b, const char *s) { cr_assert_eq(pd_bytes_set_str(b, s), 0); }

static pd_error *mk_error(const char *type, const char *message, const char *data, size_t nstack)
{
    static const char *const lines[] = {"  File \"a.py\", line 1, in f", "  File \"b.py\", line 2, in g", "ValueError"};
    perdure_error_info info = {type, message, data, nstack ? lines : NULL, nstack};
    pd_error *e = pd_error_from_info(&info);
    cr_assert_not_null(e);
    return e;
}

static const char *const sub_types[] = {"", "Step", "Wait", "Callback", "RunInChildContext", "ChainedInvoke"};

/* An operation of type t. With every_field, it also carries the details of
 * other types (msgpack keeps them all; JSON writes only the type's own). */
static void mk_op(pd_operation *op, perdure_op_type t, bool every_field)
{
    pd_operation_init(op);
    snprintf(op->id, sizeof op->id, "op-%d", (int)t);
    if (t != PERDURE_TYPE_EXECUTION) {
        strcpy(op->parent_id, "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97");
        strcpy(op->sub_type, sub_types[t]);
        set(&op->name, "charge \"card\"");
    }
    op->type = t;
    op->status = t == PERDURE_TYPE_WAIT ? PERDURE_STATUS_STARTED : PERDURE_STATUS_SUCCEEDED;
    op->start_ms = 1767225600000 + t;
    op->end_ms = 1767225600205 + t;
    bool all = every_field;
    if (all || t == PERDURE_TYPE_EXECUTION)
        set(&op->input_payload, "{\"order\": 42}");
    if (all || t == PERDURE_TYPE_CONTEXT)
        op->replay_children = true;
    if (all || t == PERDURE_TYPE_STEP) {
        op->attempt = 2;
        op->next_attempt_ms = 1767225602305;
    }
    if (all || t == PERDURE_TYPE_WAIT)
        op->scheduled_end_ms = 1767225630001;
    if (all || t == PERDURE_TYPE_CALLBACK)
        set(&op->callback_id, "Y2ItZXhhbXBsZS0wMDAx");
    if (all || (t != PERDURE_TYPE_EXECUTION && t != PERDURE_TYPE_WAIT)) {
        set(&op->result, "\"ok\"");
        op->error = mk_error("ValueError", "boom", "{\"k\":1}", 3);
    }
}

/* One update per action and per options shape. */
static size_t mk_updates(pd_update *u)
{
    size_t n = 0;
#define NEXT(t, a, id_)                                                                                              \
    pd_update_init(&u[n]);                                                                                           \
    u[n].type = (t);                                                                                                 \
    u[n].action = (a);                                                                                               \
    strcpy(u[n].id, (id_));                                                                                          \
    n++
    NEXT(PERDURE_TYPE_STEP, PERDURE_ACTION_START, "s1");
    set(&u[n - 1].name, "charge");
    strcpy(u[n - 1].sub_type, "Step");
    strcpy(u[n - 1].parent_id, "ctx-1");
    NEXT(PERDURE_TYPE_STEP, PERDURE_ACTION_SUCCEED, "s1");
    set(&u[n - 1].payload, "\"ok\"");
    NEXT(PERDURE_TYPE_STEP, PERDURE_ACTION_FAIL, "s2");
    u[n - 1].error = mk_error("ValueError", "bad", NULL, 0);
    NEXT(PERDURE_TYPE_STEP, PERDURE_ACTION_RETRY, "s3");
    u[n - 1].error = mk_error("ValueError", "again", "d", 2);
    u[n - 1].next_attempt_delay_s = 5;
    NEXT(PERDURE_TYPE_STEP, PERDURE_ACTION_RETRY, "s4");
    strcpy(u[n - 1].sub_type, "WaitForCondition");
    set(&u[n - 1].payload, "{\"polls\":3}");
    u[n - 1].next_attempt_delay_s = 31622400;
    NEXT(PERDURE_TYPE_WAIT, PERDURE_ACTION_START, "w1");
    u[n - 1].wait_seconds = 30;
    NEXT(PERDURE_TYPE_WAIT, PERDURE_ACTION_CANCEL, "w1");
    NEXT(PERDURE_TYPE_CALLBACK, PERDURE_ACTION_START, "c1");
    u[n - 1].has_callback_options = true;
    u[n - 1].callback_timeout_s = 300;
    NEXT(PERDURE_TYPE_CALLBACK, PERDURE_ACTION_START, "c2");
    u[n - 1].has_callback_options = true;
    NEXT(PERDURE_TYPE_CONTEXT, PERDURE_ACTION_START, "x1");
    strcpy(u[n - 1].sub_type, "Map");
    NEXT(PERDURE_TYPE_CONTEXT, PERDURE_ACTION_SUCCEED, "x1");
    set(&u[n - 1].payload, "summary");
    u[n - 1].has_context_options = true;
    u[n - 1].replay_children = true;
    NEXT(PERDURE_TYPE_CONTEXT, PERDURE_ACTION_SUCCEED, "x2");
    u[n - 1].has_context_options = true;
    NEXT(PERDURE_TYPE_CONTEXT, PERDURE_ACTION_FAIL, "x3");
    u[n - 1].error = mk_error(NULL, NULL, NULL, 0);
    NEXT(PERDURE_TYPE_CHAINED_INVOKE, PERDURE_ACTION_START, "i1");
    set(&u[n - 1].payload, "{}");
    set(&u[n - 1].function_name, "arn:aws:lambda:us-east-1:123456789012:function:other");
    set(&u[n - 1].tenant_id, "tenant-7");
    NEXT(PERDURE_TYPE_CHAINED_INVOKE, PERDURE_ACTION_START, "i2");
    set(&u[n - 1].function_name, "other");
    NEXT(PERDURE_TYPE_CHAINED_INVOKE, PERDURE_ACTION_CANCEL, "i2");
    NEXT(PERDURE_TYPE_EXECUTION, PERDURE_ACTION_FAIL, "exec");
    u[n - 1].error = mk_error("Big", "too big", NULL, 1);
    NEXT(PERDURE_TYPE_EXECUTION, PERDURE_ACTION_SUCCEED, "execution-result-1767225600000");
    set(&u[n - 1].payload, "");
#undef NEXT
    return n;
}

#define MAX_UPDATES 32

static void mk_invocation(pd_invocation *inv, bool every_field)
{
    memset(inv, 0, sizeof *inv);
    set(&inv->arn, "arn:aws:lambda:us-east-1:123456789012:function:fn:$LATEST/durable-execution/name/id");
    set(&inv->token, "dG9rZW4tMQ==");
    for (int t = 0; t <= PERDURE_TYPE_CHAINED_INVOKE; t++)
        mk_op(pd_op_list_push(&inv->ops), (perdure_op_type)t, every_field);
    set(&inv->next_marker, "page-2");
}

static void mk_response(pd_checkpoint_response *r, bool every_field)
{
    memset(r, 0, sizeof *r);
    set(&r->token, "dG9rZW4tMg==");
    for (int t = 0; t <= PERDURE_TYPE_CHAINED_INVOKE; t++)
        mk_op(pd_op_list_push(&r->ops), (perdure_op_type)t, every_field);
}

/* ---- comparisons ---- */

static void assert_bytes_eq(const pd_bytes *a, const pd_bytes *b, const char *what)
{
    cr_assert_eq(a->present, b->present, "%s: presence %d vs %d", what, a->present, b->present);
    cr_assert_eq(a->len, b->len, "%s: length %zu vs %zu", what, a->len, b->len);
    if (a->len)
        cr_assert(memcmp(a->data, b->data, a->len) == 0, "%s: bytes differ", what);
    if (a->present)
        cr_assert_eq(b->data[b->len], 0, "%s: not NUL-terminated", what);
}

static void assert_error_eq(const pd_error *a, const pd_error *b)
{
    cr_assert_eq(!a, !b, "error presence");
    if (!a)
        return;
    assert_bytes_eq(&a->type, &b->type, "ErrorType");
    assert_bytes_eq(&a->message, &b->message, "ErrorMessage");
    assert_bytes_eq(&a->data, &b->data, "ErrorData");
    cr_assert_eq(a->stack_len, b->stack_len);
    for (size_t i = 0; i < a->stack_len; i++)
        cr_assert_str_eq(a->stack[i], b->stack[i]);
}

static void assert_op_eq(const pd_operation *a, const pd_operation *b)
{
    cr_assert_str_eq(a->id, b->id);
    cr_assert_str_eq(a->parent_id, b->parent_id);
    assert_bytes_eq(&a->name, &b->name, "Name");
    cr_assert_eq(a->type, b->type);
    cr_assert_str_eq(a->sub_type, b->sub_type);
    cr_assert_eq(a->status, b->status);
    cr_assert_eq(a->start_ms, b->start_ms, "%lld vs %lld", (long long)a->start_ms, (long long)b->start_ms);
    cr_assert_eq(a->end_ms, b->end_ms);
    assert_bytes_eq(&a->input_payload, &b->input_payload, "InputPayload");
    cr_assert_eq(a->replay_children, b->replay_children);
    assert_bytes_eq(&a->result, &b->result, "Result");
    assert_error_eq(a->error, b->error);
    cr_assert_eq(a->attempt, b->attempt);
    cr_assert_eq(a->next_attempt_ms, b->next_attempt_ms);
    cr_assert_eq(a->scheduled_end_ms, b->scheduled_end_ms);
    assert_bytes_eq(&a->callback_id, &b->callback_id, "CallbackId");
}

static void assert_ops_eq(const pd_op_list *a, const pd_op_list *b)
{
    cr_assert_eq(a->len, b->len);
    for (size_t i = 0; i < a->len; i++)
        assert_op_eq(&a->items[i], &b->items[i]);
}

static void assert_update_eq(const pd_update *a, const pd_update *b)
{
    cr_assert_str_eq(a->id, b->id);
    cr_assert_str_eq(a->parent_id, b->parent_id);
    assert_bytes_eq(&a->name, &b->name, "Name");
    cr_assert_eq(a->type, b->type);
    cr_assert_str_eq(a->sub_type, b->sub_type);
    cr_assert_eq(a->action, b->action);
    assert_bytes_eq(&a->payload, &b->payload, "Payload");
    assert_error_eq(a->error, b->error);
    cr_assert_eq(a->has_context_options, b->has_context_options);
    cr_assert_eq(a->replay_children, b->replay_children);
    cr_assert_eq(a->next_attempt_delay_s, b->next_attempt_delay_s);
    cr_assert_eq(a->wait_seconds, b->wait_seconds);
    cr_assert_eq(a->has_callback_options, b->has_callback_options);
    cr_assert_eq(a->callback_timeout_s, b->callback_timeout_s);
    cr_assert_eq(a->callback_heartbeat_s, b->callback_heartbeat_s);
    assert_bytes_eq(&a->function_name, &b->function_name, "FunctionName");
    assert_bytes_eq(&a->tenant_id, &b->tenant_id, "TenantId");
}

static void assert_fails(perdure_status st, const pd_err *err, perdure_status code, const char *msg)
{
    cr_assert_eq(st, code, "expected %s, got %s (%s)", perdure_status_name(code), perdure_status_name(st), err->msg);
    cr_assert_eq(err->code, code);
    cr_assert(strstr(err->msg, msg), "message \"%s\" lacks \"%s\"", err->msg, msg);
}

static char *buf_str(pd_buf *b)
{
    cr_assert_eq(pd_buf_append(b, "", 1), 0);
    b->len--;
    return (char *)b->data;
}

/* ======================================================================
 * JSON
 * ====================================================================== */

Test(json, operation_key_order_and_details)
{
    pd_checkpoint_response r = {0};
    pd_buf out;
    pd_err err = {0};
    pd_buf_init(&out);
    set(&r.token, "t");
    mk_op(pd_op_list_push(&r.ops), PERDURE_TYPE_STEP, false);
    cr_assert_eq(pd_json_encode_checkpoint_response(&r, &out, &err), PERDURE_OK, "%s", err.msg);
    cr_assert_str_eq(buf_str(&out),
                     "{\"CheckpointToken\":\"t\",\"NewExecutionState\":{\"Operations\":[{\"Id\":\"op-1\","
                     "\"ParentId\":\"1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97\","
                     "\"Name\":\"charge \\\"card\\\"\",\"Type\":\"STEP\",\"SubType\":\"Step\","
                     "\"StartTimestamp\":1767225600.001,\"EndTimestamp\":1767225600.206,\"Status\":\"SUCCEEDED\","
                     "\"StepDetails\":{\"Attempt\":2,\"NextAttemptTimestamp\":1767225602.305,\"Result\":\"\\\"ok\\\"\","
                     "\"Error\":{\"ErrorType\":\"ValueError\",\"ErrorMessage\":\"boom\","
                     "\"ErrorData\":\"{\\\"k\\\":1}\","
                     "\"StackTrace\":[\"  File \\\"a.py\\\", line 1, in f\",\"  File \\\"b.py\\\", line 2, in g\","
                     "\"ValueError\"]}}}]}}");
    pd_buf_free(&out);
    pd_checkpoint_response_free(&r);
}

Test(json, operation_without_details_content_has_no_details_object)
{
    pd_checkpoint_response r = {0};
    pd_buf out;
    pd_err err = {0};
    pd_buf_init(&out);
    pd_operation *op = pd_op_list_push(&r.ops);
    strcpy(op->id, "w");
    op->type = PERDURE_TYPE_WAIT;
    op->status = PERDURE_STATUS_STARTED;
    cr_assert_eq(pd_json_encode_checkpoint_response(&r, &out, &err), PERDURE_OK);
    cr_assert_str_eq(buf_str(&out),
                     "{\"NewExecutionState\":{\"Operations\":[{\"Id\":\"w\",\"Type\":\"WAIT\","
                     "\"Status\":\"STARTED\"}]}}");
    pd_buf_free(&out);
    pd_checkpoint_response_free(&r);
}

/* JSON -> struct -> JSON is the identity on canonical text, and struct ->
 * JSON -> struct keeps every field of every type. */
Test(json, invocation_round_trip_every_type)
{
    pd_invocation inv, back;
    pd_buf a, b;
    pd_err err = {0};
    pd_buf_init(&a);
    pd_buf_init(&b);
    mk_invocation(&inv, false);
    cr_assert_eq(pd_json_encode_invocation(&inv, &a, &err), PERDURE_OK, "%s", err.msg);
    cr_assert_eq(pd_json_decode_invocation(a.data, a.len, &back, &err), PERDURE_OK, "%s", err.msg);
    assert_bytes_eq(&inv.arn, &back.arn, "arn");
    assert_bytes_eq(&inv.token, &back.token, "token");
    assert_bytes_eq(&inv.next_marker, &back.next_marker, "marker");
    assert_ops_eq(&inv.ops, &back.ops);
    cr_assert_eq(pd_json_encode_invocation(&back, &b, &err), PERDURE_OK);
    cr_assert_eq(a.len, b.len);
    cr_assert(memcmp(a.data, b.data, a.len) == 0);
    /* Epoch milliseconds in the invocation event. */
    cr_assert(strstr(buf_str(&a), "\"StartTimestamp\":1767225600000,"));
    pd_invocation_free(&inv);
    pd_invocation_free(&back);
    pd_buf_free(&a);
    pd_buf_free(&b);
}

Test(json, checkpoint_response_round_trip_every_type)
{
    pd_checkpoint_response r, back;
    pd_buf a, b;
    pd_err err = {0};
    pd_buf_init(&a);
    pd_buf_init(&b);
    mk_response(&r, false);
    cr_assert_eq(pd_json_encode_checkpoint_response(&r, &a, &err), PERDURE_OK, "%s", err.msg);
    cr_assert_eq(pd_json_decode_checkpoint_response(a.data, a.len, &back, &err), PERDURE_OK, "%s", err.msg);
    assert_bytes_eq(&r.token, &back.token, "token");
    assert_bytes_eq(&r.next_marker, &back.next_marker, "marker");
    assert_ops_eq(&r.ops, &back.ops);
    cr_assert_eq(pd_json_encode_checkpoint_response(&back, &b, &err), PERDURE_OK);
    cr_assert_eq(a.len, b.len);
    cr_assert(memcmp(a.data, b.data, a.len) == 0);
    pd_checkpoint_response_free(&r);
    pd_checkpoint_response_free(&back);
    pd_buf_free(&a);
    pd_buf_free(&b);
}

Test(json, terminal_response_without_token)
{
    pd_checkpoint_response r;
    pd_err err = {0};
    const char *text = "{\"NewExecutionState\":{\"Operations\":[]}}";
    cr_assert_eq(pd_json_decode_checkpoint_response(text, strlen(text), &r, &err), PERDURE_OK);
    cr_assert_not(r.token.present);
    cr_assert_eq(r.ops.len, 0);
    pd_checkpoint_response_free(&r);
}

Test(json, protocol_invocation_example)
{
    const char *text =
        "{ \"DurableExecutionArn\":\n"
        "    \"arn:aws:lambda:us-east-1:123456789012:function:fn:$LATEST/durable-execution/name/id\",\n"
        "  \"CheckpointToken\": \"dG9rZW4=\",\n"
        "  \"InitialExecutionState\": {\n"
        "    \"Operations\": [ { \"Id\": \"id\", \"Type\": \"EXECUTION\", \"Status\": \"STARTED\",\n"
        "                      \"StartTimestamp\": 1767225600000,\n"
        "                      \"ExecutionDetails\": { \"InputPayload\": \"{\\\"order\\\": 42}\" } } ],\n"
        "    \"NextMarker\": \"\" },\n"
        "  \"UpdatedOperationIds\": [ \"id\" ] }";
    pd_invocation inv;
    pd_err err = {0};
    cr_assert_eq(pd_json_decode_invocation(text, strlen(text), &inv, &err), PERDURE_OK, "%s", err.msg);
    cr_assert_str_eq(inv.token.data, "dG9rZW4=");
    cr_assert_eq(inv.ops.len, 1);
    cr_assert_str_eq(inv.ops.items[0].id, "id");
    cr_assert_eq(inv.ops.items[0].type, PERDURE_TYPE_EXECUTION);
    cr_assert_eq(inv.ops.items[0].status, PERDURE_STATUS_STARTED);
    cr_assert_eq(inv.ops.items[0].start_ms, 1767225600000);
    cr_assert_str_eq(inv.ops.items[0].input_payload.data, "{\"order\": 42}");
    cr_assert(inv.next_marker.present);
    cr_assert_eq(inv.next_marker.len, 0);
    pd_invocation_free(&inv);
}

Test(json, seconds_timestamps_convert_exactly)
{
    const char *text = "{\"Operations\":[{\"Id\":\"a\",\"Type\":\"WAIT\",\"Status\":\"STARTED\","
                       "\"StartTimestamp\":1767225600.205,\"EndTimestamp\":1767225600,"
                       "\"WaitDetails\":{\"ScheduledEndTimestamp\":1767225630.0009}}],\"NextMarker\":\"m\"}";
    pd_op_list ops;
    pd_bytes marker;
    pd_err err = {0};
    cr_assert_eq(pd_json_decode_state_page(text, strlen(text), &ops, &marker, &err), PERDURE_OK, "%s", err.msg);
    cr_assert_eq(ops.items[0].start_ms, 1767225600205);
    cr_assert_eq(ops.items[0].end_ms, 1767225600000);
    cr_assert_eq(ops.items[0].scheduled_end_ms, 1767225630001);   /* nearest ms */
    cr_assert_str_eq(marker.data, "m");
    pd_op_list_free(&ops);
    pd_bytes_clear(&marker);

    /* Every ms value survives ms -> seconds text -> ms, up to the year 9999. */
    pd_rng rng;
    pd_rng_seed(&rng, 42);
    for (int i = 0; i < 5000; i++) {
        pd_checkpoint_response r = {0}, back;
        pd_buf out;
        pd_buf_init(&out);
        pd_operation *op = pd_op_list_push(&r.ops);
        strcpy(op->id, "a");
        op->type = PERDURE_TYPE_STEP;
        op->status = PERDURE_STATUS_PENDING;
        op->start_ms = i < 10 ? (int64_t[]){1, 5, 999, 1000, 1001, 1767225600205, 1767225600999, 1767225601000,
                                            253402300799999, -1234}[i]
                              : 1 + (int64_t)(pd_rng_next01(&rng) * 253402300799999.0);
        op->next_attempt_ms = op->start_ms + 1;
        cr_assert_eq(pd_json_encode_checkpoint_response(&r, &out, &err), PERDURE_OK);
        cr_assert_eq(pd_json_decode_checkpoint_response(out.data, out.len, &back, &err), PERDURE_OK, "%s", err.msg);
        cr_assert_eq(back.ops.items[0].start_ms, op->start_ms, "%lld -> %s", (long long)op->start_ms, buf_str(&out));
        cr_assert_eq(back.ops.items[0].next_attempt_ms, op->next_attempt_ms);
        if (op->start_ms == 1767225600205)
            cr_assert(strstr(buf_str(&out), "\"StartTimestamp\":1767225600.205,"), "%s", buf_str(&out));
        pd_checkpoint_response_free(&r);
        pd_checkpoint_response_free(&back);
        pd_buf_free(&out);
    }
}

Test(json, checkpoint_request_round_trip_every_action)
{
    pd_update u[MAX_UPDATES], *back;
    size_t n = mk_updates(u), m;
    pd_bytes token, client;
    pd_buf a, b;
    pd_err err = {0};
    pd_buf_init(&a);
    pd_buf_init(&b);
    cr_assert_eq(pd_json_encode_checkpoint_request("tok", u, n, "client-1", &a, &err), PERDURE_OK, "%s", err.msg);
    cr_assert_eq(pd_json_decode_checkpoint_request(a.data, a.len, &token, &back, &m, &client, &err), PERDURE_OK,
                 "%s", err.msg);
    cr_assert_str_eq(token.data, "tok");
    cr_assert_str_eq(client.data, "client-1");
    cr_assert_eq(m, n);
    for (size_t i = 0; i < n; i++)
        assert_update_eq(&u[i], &back[i]);
    cr_assert_eq(pd_json_encode_checkpoint_request(token.data, back, m, client.data, &b, &err), PERDURE_OK);
    cr_assert_eq(a.len, b.len);
    cr_assert(memcmp(a.data, b.data, a.len) == 0);
    /* The options shapes, verbatim. */
    const char *text = buf_str(&a);
    cr_assert(strstr(text, "\"StepOptions\":{\"NextAttemptDelaySeconds\":5}"));
    cr_assert(strstr(text, "\"WaitOptions\":{\"WaitSeconds\":30}"));
    cr_assert(strstr(text, "\"CallbackOptions\":{\"TimeoutSeconds\":300,\"HeartbeatTimeoutSeconds\":0}"));
    cr_assert(strstr(text, "\"ContextOptions\":{\"ReplayChildren\":true}"));
    cr_assert(strstr(text, "\"ContextOptions\":{\"ReplayChildren\":false}"));
    cr_assert(strstr(text, "\"ChainedInvokeOptions\":{\"FunctionName\":\"other\"}"));
    cr_assert(strstr(text, "{\"Id\":\"x3\",\"Type\":\"CONTEXT\",\"Action\":\"FAIL\",\"Error\":{}}"));
    pd_updates_free(back, m);
    for (size_t i = 0; i < n; i++)
        pd_update_clear(&u[i]);
    pd_bytes_clear(&token);
    pd_bytes_clear(&client);
    pd_buf_free(&a);
    pd_buf_free(&b);
}

Test(json, empty_request_and_missing_token)
{
    pd_buf out;
    pd_err err = {0};
    pd_buf_init(&out);
    cr_assert_eq(pd_json_encode_checkpoint_request("t", NULL, 0, NULL, &out, &err), PERDURE_OK);
    cr_assert_str_eq(buf_str(&out), "{\"CheckpointToken\":\"t\",\"Updates\":[]}");
    assert_fails(pd_json_encode_checkpoint_request(NULL, NULL, 0, NULL, &out, &err), &err, PERDURE_E_INVALID,
                 "CheckpointToken: missing");
    pd_buf_free(&out);

    pd_bytes token, client;
    pd_update *updates;
    size_t n;
    const char *text = "{\"Updates\":[]}";
    assert_fails(pd_json_decode_checkpoint_request(text, strlen(text), &token, &updates, &n, &client, &err), &err,
                 PERDURE_E_DECODE, "CheckpointToken: missing");
    cr_assert_null(updates);
    cr_assert_eq(n, 0);
}

/* The size the batcher counts equals the bytes the update takes in a request. */
Test(json, update_size_is_exact)
{
    pd_update u[MAX_UPDATES];
    size_t n = mk_updates(u);
    pd_err err = {0};
    const size_t envelope = strlen("{\"CheckpointToken\":\"t\",\"Updates\":[]}");
    for (size_t i = 0; i < n; i++) {
        pd_buf out;
        pd_buf_init(&out);
        cr_assert_eq(pd_json_encode_checkpoint_request("t", &u[i], 1, NULL, &out, &err), PERDURE_OK);
        cr_assert_eq(pd_json_update_size(&u[i]), out.len - envelope, "update %zu", i);
        pd_buf_free(&out);
        pd_update_clear(&u[i]);
    }
    pd_update bad;
    pd_update_init(&bad);
    cr_assert_eq(pd_json_update_size(&bad), 0, "an update without Id has no encoding");
}

/* The batcher skips exact sizes when the bounds fit: a bound is never below
 * either wire's size, also for text JSON must escape and the longest fields. */
Test(json, update_size_bound_is_an_upper_bound)
{
    pd_update u[MAX_UPDATES + 1];
    size_t n = mk_updates(u);
    pd_update *worst = &u[n++];
    pd_update_init(worst);
    worst->type = PERDURE_TYPE_CHAINED_INVOKE;
    worst->action = PERDURE_ACTION_START;
    memset(worst->id, 'i', PD_MAX_ID);
    memset(worst->parent_id, 'p', PD_MAX_ID);
    memset(worst->sub_type, 's', PD_MAX_SUBTYPE);
    static const char nasty[] = "\x01\"\\\n\x1f\xc3\xa9/";
    set(&worst->name, nasty);
    set(&worst->payload, nasty);
    set(&worst->function_name, nasty);
    set(&worst->tenant_id, nasty);
    worst->error = mk_error(nasty, nasty, nasty, 3);
    worst->has_context_options = worst->has_callback_options = true;
    worst->next_attempt_delay_s = worst->wait_seconds = PD_MAX_DURATION;
    worst->callback_timeout_s = worst->callback_heartbeat_s = INT64_MAX;
    cr_assert(pd_json_update_size(worst) > 0 && pd_mp_update_size(worst) > 0, "the worst case encodes");
    for (size_t i = 0; i < n; i++) {
        size_t bound = pd_update_size_bound(&u[i]);
        cr_assert_geq(bound, pd_json_update_size(&u[i]), "update %zu", i);
        cr_assert_geq(bound, pd_mp_update_size(&u[i]), "update %zu", i);
        pd_update_clear(&u[i]);
    }
}

Test(json, output_shapes)
{
    struct {
        perdure_outcome status;
        const char *result;
        bool error;
        const char *text;
    } cases[] = {
        {PERDURE_OUTCOME_SUCCEEDED, "\"ok\"", false, "{\"Status\":\"SUCCEEDED\",\"Result\":\"\\\"ok\\\"\"}"},
        {PERDURE_OUTCOME_SUCCEEDED, "", false, "{\"Status\":\"SUCCEEDED\",\"Result\":\"\"}"},
        {PERDURE_OUTCOME_FAILED, NULL, true,
         "{\"Status\":\"FAILED\",\"Error\":{\"ErrorType\":\"ValueError\",\"ErrorMessage\":\"boom\"}}"},
        {PERDURE_OUTCOME_FAILED, NULL, false, "{\"Status\":\"FAILED\"}"},
        {PERDURE_OUTCOME_PENDING, NULL, false, "{\"Status\":\"PENDING\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pd_output o = {cases[i].status, {0}, NULL}, back;
        pd_buf out;
        pd_err err = {0};
        pd_buf_init(&out);
        if (cases[i].result)
            set(&o.result, cases[i].result);
        if (cases[i].error)
            o.error = mk_error("ValueError", "boom", NULL, 0);
        cr_assert_eq(pd_json_encode_output(&o, &out, &err), PERDURE_OK, "%s", err.msg);
        cr_assert_str_eq(buf_str(&out), cases[i].text);
        cr_assert_eq(pd_json_decode_output(out.data, out.len, &back, &err), PERDURE_OK, "%s", err.msg);
        cr_assert_eq(back.status, o.status);
        assert_bytes_eq(&o.result, &back.result, "Result");
        assert_error_eq(o.error, back.error);
        pd_output_free(&o);
        pd_output_free(&back);
        pd_buf_free(&out);
    }
    pd_output bad = {(perdure_outcome)7, {0}, NULL};
    pd_buf out;
    pd_err err = {0};
    pd_buf_init(&out);
    assert_fails(pd_json_encode_output(&bad, &out, &err), &err, PERDURE_E_INVALID, "Status: invalid outcome 7");
    cr_assert_eq(out.len, 0);
    pd_buf_free(&out);
}

Test(json, error_object_round_trip_with_nul)
{
    pd_error *e = mk_error("Callback.Timeout", NULL, NULL, 2), *back = NULL;
    pd_buf out;
    pd_err err = {0};
    pd_buf_init(&out);
    cr_assert_eq(pd_bytes_set(&e->message, "a\0b", 3), 0);
    cr_assert_eq(pd_json_encode_error(e, &out, &err), PERDURE_OK);
    cr_assert_str_eq(buf_str(&out), "{\"ErrorType\":\"Callback.Timeout\",\"ErrorMessage\":\"a\\u0000b\",\"StackTrace\":"
                                    "[\"  File \\\"a.py\\\", line 1, in f\",\"  File \\\"b.py\\\", line 2, in g\"]}");
    cr_assert_eq(pd_json_decode_error(out.data, out.len, &back, &err), PERDURE_OK, "%s", err.msg);
    assert_error_eq(e, back);
    cr_assert_eq(back->message.len, 3);
    pd_error_free(e);
    pd_error_free(back);
    pd_buf_free(&out);

    assert_fails(pd_json_decode_error("[]", 2, &back, &err), &err, PERDURE_E_DECODE,
                 "expected a JSON object, got an array");
    cr_assert_null(back);
    const char *text = "{\"StackTrace\":[\"a\",\"b\\u0000c\"]}";
    assert_fails(pd_json_decode_error(text, strlen(text), &back, &err), &err, PERDURE_E_DECODE,
                 "StackTrace[1]: contains a NUL byte");
    text = "{\"StackTrace\":[\"a\",3]}";
    assert_fails(pd_json_decode_error(text, strlen(text), &back, &err), &err, PERDURE_E_DECODE,
                 "StackTrace[1]: expected a string, got an integer");
}

Test(json, absent_empty_and_nul_are_kept)
{
    const char *text = "{\"Id\":\"u\",\"Type\":\"STEP\",\"Action\":\"SUCCEED\",\"Name\":\"\",\"Payload\":\"x\\u0000y\","
                       "\"ParentId\":null}";
    char req[256];
    snprintf(req, sizeof req, "{\"CheckpointToken\":\"t\",\"Updates\":[%s]}", text);
    pd_bytes token, client;
    pd_update *u;
    size_t n;
    pd_err err = {0};
    cr_assert_eq(pd_json_decode_checkpoint_request(req, strlen(req), &token, &u, &n, &client, &err), PERDURE_OK, "%s",
                 err.msg);
    cr_assert(u[0].name.present);
    cr_assert_eq(u[0].name.len, 0);
    cr_assert_eq(u[0].payload.len, 3);
    cr_assert(memcmp(u[0].payload.data, "x\0y", 3) == 0);
    cr_assert_str_eq(u[0].parent_id, "");
    cr_assert_not(u[0].error);
    cr_assert_not(client.present);
    pd_buf out;
    pd_buf_init(&out);
    cr_assert_eq(pd_json_encode_checkpoint_request("t", u, n, NULL, &out, &err), PERDURE_OK);
    cr_assert_str_eq(buf_str(&out), "{\"CheckpointToken\":\"t\",\"Updates\":[{\"Id\":\"u\",\"Name\":\"\","
                                    "\"Type\":\"STEP\","
                                    "\"Action\":\"SUCCEED\",\"Payload\":\"x\\u0000y\"}]}");
    pd_buf_free(&out);
    pd_updates_free(u, n);
    pd_bytes_clear(&token);
}

/* Each bad state page fails with PERDURE_E_DECODE and names its field. */
Test(json, bad_operations_name_the_field)
{
    const char *ok = "{\"Id\":\"a\",\"Type\":\"STEP\",\"Status\":\"STARTED\"}";
    struct {
        const char *op;
        const char *msg;
    } cases[] = {
        {"{\"Id\":\"a\",\"Type\":\"STEP\",\"Status\":\"DONE\"}", "Operations[3].Status: unknown status \"DONE\""},
        {"{\"Id\":\"a\",\"Type\":\"STEPS\",\"Status\":\"STARTED\"}", "Operations[3].Type: unknown type \"STEPS\""},
        {"{\"Id\":\"a\",\"Type\":\"STEP\\u0000\",\"Status\":\"STARTED\"}", "Operations[3].Type: unknown type"},
        {"{\"Id\":\"a\",\"Type\":\"STEP\"}", "Operations[3].Status: missing"},
        {"{\"Id\":\"a\",\"Status\":\"STARTED\"}", "Operations[3].Type: missing"},
        {"{\"Type\":\"STEP\",\"Status\":\"STARTED\"}", "Operations[3].Id: missing"},
        {"{\"Id\":null,\"Type\":\"STEP\",\"Status\":\"STARTED\"}", "Operations[3].Id: missing"},
        {"{\"Id\":\"\",\"Type\":\"STEP\",\"Status\":\"STARTED\"}", "Operations[3].Id: must not be empty"},
        {"{\"Id\":\"a\\u0000b\",\"Type\":\"STEP\",\"Status\":\"STARTED\"}", "Operations[3].Id: contains a NUL byte"},
        {"{\"Id\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\",\"Type\":\"STEP\","
         "\"Status\":\"STARTED\"}",
         "Operations[3].Id: 65 characters, longer than the limit of 64"},
        {"{\"Id\":\"a\",\"Type\":\"STEP\",\"Status\":\"STARTED\",\"SubType\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
         "Operations[3].SubType: 33 characters, longer than the limit of 32"},
        {"{\"Id\":7,\"Type\":\"STEP\",\"Status\":\"STARTED\"}", "Operations[3].Id: expected a string, got an integer"},
        {"{\"Id\":\"a\",\"Type\":\"STEP\",\"Status\":\"STARTED\",\"Name\":[]}",
         "Operations[3].Name: expected a string, got an array"},
        {"{\"Id\":\"a\",\"Type\":\"STEP\",\"Status\":\"STARTED\",\"StartTimestamp\":\"now\"}",
         "Operations[3].StartTimestamp: expected a number, got a string"},
        {"{\"Id\":\"a\",\"Type\":\"STEP\",\"Status\":\"STARTED\",\"StartTimestamp\":1e300}",
         "Operations[3].StartTimestamp: timestamp out of range"},
        {"{\"Id\":\"a\",\"Type\":\"STEP\",\"Status\":\"STARTED\",\"StepDetails\":[]}",
         "Operations[3].StepDetails: expected an object, got an array"},
        {"{\"Id\":\"a\",\"Type\":\"STEP\",\"Status\":\"STARTED\",\"StepDetails\":{\"Attempt\":-1}}",
         "Operations[3].StepDetails.Attempt: -1 is out of range 0..4294967295"},
        {"{\"Id\":\"a\",\"Type\":\"STEP\",\"Status\":\"STARTED\",\"StepDetails\":{\"Attempt\":1.5}}",
         "Operations[3].StepDetails.Attempt: expected an integer, got a number with a fraction"},
        {"{\"Id\":\"a\",\"Type\":\"STEP\",\"Status\":\"STARTED\",\"StepDetails\":{\"Error\":{\"ErrorType\":1}}}",
         "Operations[3].StepDetails.Error.ErrorType: expected a string, got an integer"},
        {"{\"Id\":\"a\",\"Type\":\"CONTEXT\",\"Status\":\"STARTED\",\"ContextDetails\":{\"ReplayChildren\":\"yes\"}}",
         "Operations[3].ContextDetails.ReplayChildren: expected a boolean, got a string"},
        {"7", "Operations[3]: expected an object, got an integer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024];
        pd_op_list ops;
        pd_bytes marker;
        pd_err err = {0};
        snprintf(text, sizeof text, "{\"Operations\":[%s,%s,%s,%s]}", ok, ok, ok, cases[i].op);
        assert_fails(pd_json_decode_state_page(text, strlen(text), &ops, &marker, &err), &err, PERDURE_E_DECODE,
                     cases[i].msg);
        cr_assert_eq(ops.len, 0, "a failed decode leaves nothing behind");
        cr_assert_not(marker.present);
    }
}

Test(json, bad_updates_name_the_field)
{
    struct {
        const char *update;
        const char *msg;
    } cases[] = {
        {"{\"Type\":\"STEP\",\"Action\":\"START\"}", "Updates[0].Id: missing"},
        {"{\"Id\":\"a\",\"Action\":\"START\"}", "Updates[0].Type: missing"},
        {"{\"Id\":\"a\",\"Type\":\"STEP\"}", "Updates[0].Action: missing"},
        {"{\"Id\":\"a\",\"Type\":\"STEP\",\"Action\":\"PAUSE\"}", "Updates[0].Action: unknown action \"PAUSE\""},
        {"{\"Id\":\"a\",\"Type\":\"STEP\",\"Action\":\"RETRY\",\"StepOptions\":{\"NextAttemptDelaySeconds\":\"5\"}}",
         "Updates[0].StepOptions.NextAttemptDelaySeconds: expected an integer, got a string"},
        {"{\"Id\":\"a\",\"Type\":\"WAIT\",\"Action\":\"START\",\"WaitOptions\":{\"WaitSeconds\":-3}}",
         "Updates[0].WaitOptions.WaitSeconds: -3 is out of range"},
        {"{\"Id\":\"a\",\"Type\":\"CALLBACK\",\"Action\":\"START\",\"CallbackOptions\":{\"TimeoutSeconds\":true}}",
         "Updates[0].CallbackOptions.TimeoutSeconds: expected an integer, got a boolean"},
        {"{\"Id\":\"a\",\"Type\":\"CHAINED_INVOKE\",\"Action\":\"START\","
         "\"ChainedInvokeOptions\":{\"TenantId\":\"t\"}}",
         "Updates[0].ChainedInvokeOptions.FunctionName: missing"},
        {"{\"Id\":\"a\",\"Type\":\"CONTEXT\",\"Action\":\"SUCCEED\",\"ContextOptions\":7}",
         "Updates[0].ContextOptions: expected an object, got an integer"},
        {"{\"Id\":\"a\",\"Type\":\"STEP\",\"Action\":\"FAIL\",\"Error\":\"boom\"}",
         "Updates[0].Error: expected an object, got a string"},
        {"{\"Id\":\"a\",\"Type\":\"STEP\",\"Action\":\"FAIL\",\"Error\":{\"StackTrace\":\"x\"}}",
         "Updates[0].Error.StackTrace: expected an array, got a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024];
        pd_bytes token, client;
        pd_update *u;
        size_t n;
        pd_err err = {0};
        snprintf(text, sizeof text, "{\"CheckpointToken\":\"t\",\"Updates\":[%s]}", cases[i].update);
        assert_fails(pd_json_decode_checkpoint_request(text, strlen(text), &token, &u, &n, &client, &err), &err,
                     PERDURE_E_DECODE, cases[i].msg);
        cr_assert_null(u);
        cr_assert_not(token.present);
    }
}

Test(json, bad_documents)
{
    struct {
        const char *text;
        const char *msg;
    } cases[] = {
        {"", "invalid JSON at line 1"},
        {"{\"DurableExecutionArn\":", "invalid JSON"},
        {"{} {}", "invalid JSON"},
        {"[1]", "expected a JSON object, got an array"},
        {"{\"DurableExecutionArn\":\"a\",\"DurableExecutionArn\":\"b\",\"CheckpointToken\":\"t\"}", "duplicate"},
        {"{\"CheckpointToken\":\"t\"}", "DurableExecutionArn: missing"},
        {"{\"DurableExecutionArn\":\"a\"}", "CheckpointToken: missing"},
        {"{\"DurableExecutionArn\":\"a\",\"CheckpointToken\":\"t\",\"InitialExecutionState\":[]}",
         "InitialExecutionState: expected an object, got an array"},
        {"{\"DurableExecutionArn\":\"a\",\"CheckpointToken\":\"t\",\"InitialExecutionState\":{\"Operations\":{}}}",
         "InitialExecutionState.Operations: expected an array, got an object"},
        {"{\"DurableExecutionArn\":\"a\",\"CheckpointToken\":\"t\",\"InitialExecutionState\":{\"Operations\":[{\"Id\":"
         "\"a\",\"Type\":\"STEP\",\"Status\":\"STARTED\",\"StartTimestamp\":1.5}]}}",
         "InitialExecutionState.Operations[0].StartTimestamp: expected whole epoch milliseconds"},
        {"{\"DurableExecutionArn\":\"a\",\"CheckpointToken\":\"t\",\"x\":123456789012345678901234567890}",
         "invalid JSON"},
        {"{\"DurableExecutionArn\":\"\\ud800\",\"CheckpointToken\":\"t\"}", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pd_invocation inv;
        pd_err err = {0};
        assert_fails(pd_json_decode_invocation(cases[i].text, strlen(cases[i].text), &inv, &err), &err,
                     PERDURE_E_DECODE, cases[i].msg);
        cr_assert_not(inv.arn.present);
    }
    pd_invocation inv;
    pd_err err = {0};
    assert_fails(pd_json_decode_invocation(NULL, 0, &inv, &err), &err, PERDURE_E_DECODE, "invalid JSON");
    const char *bad_utf8 = "{\"DurableExecutionArn\":\"\xff\",\"CheckpointToken\":\"t\"}";
    assert_fails(pd_json_decode_invocation(bad_utf8, strlen(bad_utf8), &inv, &err), &err, PERDURE_E_DECODE,
                 "invalid JSON");
    /* Extra members, and the Details of other types, are ignored. */
    const char *extra = "{\"DurableExecutionArn\":\"a\",\"CheckpointToken\":\"t\",\"Future\":{\"x\":[1]},"
                        "\"InitialExecutionState\":{\"Operations\":[{\"Id\":\"a\",\"Type\":\"STEP\",\"Status\":"
                        "\"STARTED\",\"WaitDetails\":7,\"New\":1}]}}";
    cr_assert_eq(pd_json_decode_invocation(extra, strlen(extra), &inv, &err), PERDURE_OK, "%s", err.msg);
    cr_assert_eq(inv.ops.len, 1);
    pd_invocation_free(&inv);
}

static char *big_string(size_t len, char fill)
{
    char *s = malloc(len + 1);
    cr_assert_not_null(s);
    memset(s, fill, len);
    s[len] = 0;
    return s;
}

Test(json, payload_limits)
{
    /* Exactly the limit is fine; one more byte is PERDURE_E_TOO_LARGE. */
    for (size_t extra = 0; extra <= 1; extra++) {
        size_t len = PD_MAX_PAYLOAD + extra;
        char *payload = big_string(len, 'a');
        size_t cap = len + 256;
        char *text = malloc(cap);
        snprintf(text, cap,
                 "{\"CheckpointToken\":\"t\",\"Updates\":[{\"Id\":\"a\",\"Type\":\"STEP\",\"Action\":\"SUCCEED\","
                 "\"Payload\":\"%s\"}]}",
                 payload);
        pd_bytes token, client;
        pd_update *u;
        size_t n;
        pd_err err = {0};
        perdure_status st = pd_json_decode_checkpoint_request(text, strlen(text), &token, &u, &n, &client, &err);
        if (extra) {
            assert_fails(st, &err, PERDURE_E_TOO_LARGE,
                         "Updates[0].Payload: 6291457 bytes exceeds the limit of 6291456");
        } else {
            cr_assert_eq(st, PERDURE_OK, "%s", err.msg);
            cr_assert_eq(u[0].payload.len, PD_MAX_PAYLOAD);
            pd_buf out;
            pd_buf_init(&out);
            cr_assert_eq(u[0].payload.data[len - 1], 'a');
            cr_assert_eq(pd_bytes_set(&u[0].payload, payload, len + 0), 0);
            cr_assert_eq(pd_json_encode_checkpoint_request("t", u, n, NULL, &out, &err), PERDURE_OK);
            /* The encoder refuses what the decoder would. */
            char *more = big_string(len + 1, 'b');
            cr_assert_eq(pd_bytes_set(&u[0].payload, more, len + 1), 0);
            assert_fails(pd_json_encode_checkpoint_request("t", u, n, NULL, &out, &err), &err, PERDURE_E_TOO_LARGE,
                         "Updates[0].Payload: 6291457 bytes");
            free(more);
            pd_buf_free(&out);
            pd_updates_free(u, n);
            pd_bytes_clear(&token);
        }
        free(text);
        free(payload);
    }
}

Test(json, encoder_refuses_bad_records)
{
    pd_invocation inv;
    pd_buf out;
    pd_err err = {0};
    pd_buf_init(&out);
    mk_invocation(&inv, false);
    pd_bytes_clear(&inv.ops.items[2].name);
    cr_assert_eq(pd_bytes_set(&inv.ops.items[2].name, "\xc3\x28", 2), 0);
    assert_fails(pd_json_encode_invocation(&inv, &out, &err), &err, PERDURE_E_INVALID,
                 "InitialExecutionState.Operations[2].Name: not valid UTF-8");
    cr_assert_eq(out.len, 0, "nothing is written on failure");
    pd_bytes_set_str(&inv.ops.items[2].name, "ok \xe2\x82\xac");
    inv.ops.items[1].id[0] = 0;
    assert_fails(pd_json_encode_invocation(&inv, &out, &err), &err, PERDURE_E_INVALID, "Operations[1].Id: missing");
    strcpy(inv.ops.items[1].id, "b");
    inv.ops.items[1].status = PERDURE_STATUS_ABSENT;
    assert_fails(pd_json_encode_invocation(&inv, &out, &err), &err, PERDURE_E_INVALID,
                 "Operations[1].Status: invalid status 0");
    inv.ops.items[1].status = PERDURE_STATUS_READY;
    memset(inv.ops.items[1].sub_type, 'x', sizeof inv.ops.items[1].sub_type);
    assert_fails(pd_json_encode_invocation(&inv, &out, &err), &err, PERDURE_E_INVALID,
                 "Operations[1].SubType: longer than 32 characters");
    inv.ops.items[1].sub_type[0] = 0;
    pd_bytes_clear(&inv.arn);
    assert_fails(pd_json_encode_invocation(&inv, &out, &err), &err, PERDURE_E_INVALID, "DurableExecutionArn: missing");
    set(&inv.arn, "arn");
    cr_assert_eq(pd_json_encode_invocation(&inv, &out, &err), PERDURE_OK, "%s", err.msg);
    cr_assert(strstr(buf_str(&out), "\"Name\":\"ok \xe2\x82\xac\""));

    pd_update u;
    pd_update_init(&u);
    strcpy(u.id, "a");
    u.action = (perdure_action)9;
    out.len = 0;
    assert_fails(pd_json_encode_checkpoint_request("t", &u, 1, NULL, &out, &err), &err, PERDURE_E_INVALID,
                 "Updates[0].Action: invalid action 9");
    u.action = PERDURE_ACTION_START;
    set(&u.tenant_id, "t");
    assert_fails(pd_json_encode_checkpoint_request("t", &u, 1, NULL, &out, &err), &err, PERDURE_E_INVALID,
                 "Updates[0].FunctionName: missing");
    assert_fails(pd_json_encode_error(NULL, &out, &err), &err, PERDURE_E_MISUSE, "no error");
    pd_update_clear(&u);
    pd_invocation_free(&inv);
    pd_buf_free(&out);
}

/* ======================================================================
 * msgpack
 * ====================================================================== */

static void mp_encode_op(const pd_operation *op, size_t threshold, pd_buf *out)
{
    pd_err err = {0};
    pd_buf_init(out);
    cr_assert_eq(pd_mp_encode_operation(op, threshold, out, &err), PERDURE_OK, "%s", err.msg);
}

Test(msgpack, operation_round_trip_every_type_and_field)
{
    for (int t = 0; t <= PERDURE_TYPE_CHAINED_INVOKE; t++) {
        for (int every = 0; every <= 1; every++) {
            pd_operation op, back;
            pd_buf out;
            pd_err err = {0};
            mk_op(&op, (perdure_op_type)t, every);
            mp_encode_op(&op, 0, &out);
            cr_assert_eq(pd_mp_decode_operation(out.data, out.len, &back, &err), PERDURE_OK, "%s", err.msg);
            assert_op_eq(&op, &back);
            pd_operation_clear(&op);
            pd_operation_clear(&back);
            pd_buf_free(&out);
        }
    }
}

Test(msgpack, minimal_operation_layout)
{
    pd_operation op;
    pd_buf out;
    pd_operation_init(&op);
    strcpy(op.id, "a");
    op.type = PERDURE_TYPE_STEP;
    op.status = PERDURE_STATUS_STARTED;
    mp_encode_op(&op, 0, &out);
    /* {0: 1, 1: "a", 4: 1, 6: 1} */
    const unsigned char want[] = {0x84, 0x00, 0x01, 0x01, 0xa1, 'a', 0x04, 0x01, 0x06, 0x01};
    cr_assert_eq(out.len, sizeof want);
    cr_assert(memcmp(out.data, want, sizeof want) == 0);
    pd_buf_free(&out);
}

Test(msgpack, update_round_trip_every_action_and_option)
{
    pd_update u[MAX_UPDATES];
    size_t n = mk_updates(u);
    for (size_t i = 0; i < n; i++) {
        pd_update back;
        pd_buf out;
        pd_err err = {0};
        pd_buf_init(&out);
        cr_assert_eq(pd_mp_encode_update(&u[i], 0, &out, &err), PERDURE_OK, "%s", err.msg);
        cr_assert_eq(pd_mp_decode_update(out.data, out.len, &back, &err), PERDURE_OK, "%s", err.msg);
        assert_update_eq(&u[i], &back);
        pd_update_clear(&back);
        pd_update_clear(&u[i]);
        pd_buf_free(&out);
    }
}

Test(msgpack, checkpoint_request_round_trip_and_update_size)
{
    pd_update u[MAX_UPDATES], *back;
    size_t n = mk_updates(u), m;
    pd_bytes token, client;
    pd_buf out, none;
    pd_err err = {0};
    pd_buf_init(&out);
    pd_buf_init(&none);
    cr_assert_eq(pd_mp_encode_checkpoint_request("tok", u, n, "client", 16, &out, &err), PERDURE_OK, "%s", err.msg);
    cr_assert_eq(pd_mp_decode_checkpoint_request(out.data, out.len, &token, &back, &m, &client, &err), PERDURE_OK,
                 "%s", err.msg);
    cr_assert_str_eq(token.data, "tok");
    cr_assert_str_eq(client.data, "client");
    cr_assert_eq(m, n);
    for (size_t i = 0; i < n; i++)
        assert_update_eq(&u[i], &back[i]);
    pd_updates_free(back, m);
    pd_bytes_clear(&token);
    pd_bytes_clear(&client);

    /* {0:1, 1:"t"} vs {0:1, 1:"t", 2:[update]}: the key, the array header, the update. */
    cr_assert_eq(pd_mp_encode_checkpoint_request("t", NULL, 0, NULL, 0, &none, &err), PERDURE_OK);
    for (size_t i = 0; i < n; i++) {
        out.len = 0;
        cr_assert_eq(pd_mp_encode_checkpoint_request("t", &u[i], 1, NULL, 0, &out, &err), PERDURE_OK);
        cr_assert_eq(pd_mp_update_size(&u[i]), out.len - none.len - 2, "update %zu", i);
        pd_update_clear(&u[i]);
    }
    cr_assert_eq(pd_mp_update_size(&u[0]), 0, "a cleared update has no Id, so no encoding");
    assert_fails(pd_mp_encode_checkpoint_request(NULL, NULL, 0, NULL, 0, &out, &err), &err, PERDURE_E_INVALID,
                 "CheckpointToken: missing");
    pd_buf_free(&out);
    pd_buf_free(&none);
}

Test(msgpack, envelopes_round_trip)
{
    pd_err err = {0};
    for (int every = 0; every <= 1; every++) {
        pd_invocation inv, inv2;
        pd_buf out;
        pd_buf_init(&out);
        mk_invocation(&inv, every);
        cr_assert_eq(pd_mp_encode_invocation(&inv, 8, &out, &err), PERDURE_OK, "%s", err.msg);
        cr_assert_eq(pd_mp_decode_invocation(out.data, out.len, &inv2, &err), PERDURE_OK, "%s", err.msg);
        assert_bytes_eq(&inv.arn, &inv2.arn, "arn");
        assert_bytes_eq(&inv.token, &inv2.token, "token");
        assert_bytes_eq(&inv.next_marker, &inv2.next_marker, "marker");
        assert_ops_eq(&inv.ops, &inv2.ops);
        pd_invocation_free(&inv);
        pd_invocation_free(&inv2);

        pd_checkpoint_response r, r2;
        out.len = 0;
        mk_response(&r, every);
        cr_assert_eq(pd_mp_encode_checkpoint_response(&r, 0, &out, &err), PERDURE_OK, "%s", err.msg);
        cr_assert_eq(pd_mp_decode_checkpoint_response(out.data, out.len, &r2, &err), PERDURE_OK, "%s", err.msg);
        assert_bytes_eq(&r.token, &r2.token, "token");
        assert_bytes_eq(&r.next_marker, &r2.next_marker, "marker");
        assert_ops_eq(&r.ops, &r2.ops);
        pd_checkpoint_response_free(&r);
        pd_checkpoint_response_free(&r2);
        pd_buf_free(&out);
    }
    /* An empty terminal response: only the version. */
    pd_checkpoint_response empty = {0}, back;
    pd_buf out;
    pd_buf_init(&out);
    cr_assert_eq(pd_mp_encode_checkpoint_response(&empty, 0, &out, &err), PERDURE_OK);
    cr_assert_eq(out.len, 3);
    cr_assert_eq(pd_mp_decode_checkpoint_response(out.data, out.len, &back, &err), PERDURE_OK);
    cr_assert_not(back.token.present);
    cr_assert_eq(back.ops.len, 0);
    pd_buf_free(&out);

    for (int s = PERDURE_OUTCOME_SUCCEEDED; s <= PERDURE_OUTCOME_PENDING; s++) {
        pd_output o = {(perdure_outcome)s, {0}, NULL}, o2;
        pd_buf_init(&out);
        if (s == PERDURE_OUTCOME_SUCCEEDED)
            set(&o.result, "");
        if (s == PERDURE_OUTCOME_FAILED)
            o.error = mk_error("E", "m", "d", 3);
        cr_assert_eq(pd_mp_encode_output(&o, 1, &out, &err), PERDURE_OK, "%s", err.msg);
        cr_assert_eq(pd_mp_decode_output(out.data, out.len, &o2, &err), PERDURE_OK, "%s", err.msg);
        cr_assert_eq(o2.status, o.status);
        assert_bytes_eq(&o.result, &o2.result, "Result");
        assert_error_eq(o.error, o2.error);
        pd_output_free(&o);
        pd_output_free(&o2);
        pd_buf_free(&out);
    }
}

/* ---- compression ---- */

static void text_payload(pd_bytes *b, size_t len)
{
    char *s = malloc(len + 1);
    cr_assert_not_null(s);
    for (size_t i = 0; i < len; i++)
        s[i] = "{\"order\": 42, \"items\": [1, 2, 3]} "[i % 35];
    cr_assert_eq(pd_bytes_set(b, s, len), 0);
    free(s);
}

Test(msgpack, compression_threshold)
{
    const size_t threshold = 4096;
    struct {
        size_t len;
        bool compressed;
    } cases[] = {{0, false}, {100, false}, {4095, false}, {4096, true}, {100000, true}, {PD_MAX_PAYLOAD, true}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pd_operation op, back;
        pd_buf out, raw;
        pd_err err = {0};
        pd_operation_init(&op);
        strcpy(op.id, "a");
        op.type = PERDURE_TYPE_STEP;
        op.status = PERDURE_STATUS_SUCCEEDED;
        text_payload(&op.result, cases[i].len);
        mp_encode_op(&op, threshold, &out);
        mp_encode_op(&op, 0, &raw);
        bool shrunk = out.len < raw.len;
        cr_assert_eq(shrunk, cases[i].compressed, "length %zu: %zu vs %zu bytes", cases[i].len, out.len, raw.len);
        if (cases[i].compressed)
            cr_assert_lt(out.len, raw.len / 10, "repetitive text compresses well");
        else
            cr_assert_eq(out.len, raw.len);
        cr_assert_eq(pd_mp_decode_operation(out.data, out.len, &back, &err), PERDURE_OK, "%s", err.msg);
        assert_op_eq(&op, &back);
        pd_operation_clear(&op);
        pd_operation_clear(&back);
        pd_buf_free(&out);
        pd_buf_free(&raw);
    }
}

Test(msgpack, incompressible_payload_stays_raw)
{
    pd_operation op, back;
    pd_buf out, raw;
    pd_err err = {0};
    pd_rng rng;
    pd_rng_seed(&rng, 7);
    pd_operation_init(&op);
    strcpy(op.id, "a");
    op.type = PERDURE_TYPE_STEP;
    op.status = PERDURE_STATUS_SUCCEEDED;
    char noise[8192];
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (char)(pd_rng_next01(&rng) * 256);
    cr_assert_eq(pd_bytes_set(&op.result, noise, sizeof noise), 0);
    mp_encode_op(&op, 16, &out);
    mp_encode_op(&op, 0, &raw);
    cr_assert_eq(out.len, raw.len);
    cr_assert(memcmp(out.data, raw.data, raw.len) == 0);
    cr_assert_eq(pd_mp_decode_operation(out.data, out.len, &back, &err), PERDURE_OK);
    assert_op_eq(&op, &back);
    pd_operation_clear(&op);
    pd_operation_clear(&back);
    pd_buf_free(&out);
    pd_buf_free(&raw);
}

Test(zstd, round_trip_and_bounds)
{
    pd_buf c, d;
    pd_err err = {0};
    pd_buf_init(&c);
    pd_buf_init(&d);
    const char *text = "hello hello hello hello hello hello hello hello";
    cr_assert_eq(pd_zstd_compress(text, strlen(text), &c, &err), PERDURE_OK);
    cr_assert_eq(pd_zstd_decompress(c.data, c.len, 100, &d, &err), PERDURE_OK, "%s", err.msg);
    cr_assert_eq(d.len, strlen(text));
    cr_assert(memcmp(d.data, text, d.len) == 0);
    /* The bound is inclusive. */
    d.len = 0;
    cr_assert_eq(pd_zstd_decompress(c.data, c.len, strlen(text), &d, &err), PERDURE_OK);
    d.len = 0;
    assert_fails(pd_zstd_decompress(c.data, c.len, strlen(text) - 1, &d, &err), &err, PERDURE_E_TOO_LARGE,
                 "exceeds the limit");
    cr_assert_eq(d.len, 0, "nothing is appended on failure");
    assert_fails(pd_zstd_decompress(c.data, c.len - 1, 100, &d, &err), &err, PERDURE_E_DECODE, "zstd");
    assert_fails(pd_zstd_decompress("garbage!", 8, 100, &d, &err), &err, PERDURE_E_DECODE, "zstd");
    assert_fails(pd_zstd_decompress(c.data, 0, 100, &d, &err), &err, PERDURE_E_DECODE, "empty input");
    /* Two frames back to back decode as their concatenation. */
    size_t one = c.len;
    cr_assert_eq(pd_buf_append(&c, c.data, one), 0);
    cr_assert_eq(pd_zstd_decompress(c.data, c.len, 1000, &d, &err), PERDURE_OK, "%s", err.msg);
    cr_assert_eq(d.len, 2 * strlen(text));
    pd_buf_free(&c);
    pd_buf_free(&d);
}

/* A frame written by a streaming compressor, without a content size. */
static void stream_compress(const void *src, size_t len, pd_buf *out)
{
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    size_t bound = ZSTD_compressBound(len);
    cr_assert_eq(pd_buf_reserve(out, bound), 0);
    ZSTD_inBuffer in = {src, len, 0};
    ZSTD_outBuffer ob = {out->data, bound, 0};
    /* Feeding the input through the stream API leaves the size out of the header. */
    size_t r = ZSTD_compressStream2(cc, &ob, &in, ZSTD_e_continue);
    cr_assert(!ZSTD_isError(r));
    r = ZSTD_compressStream2(cc, &ob, &in, ZSTD_e_end);
    cr_assert_eq(r, 0);
    out->len = ob.pos;
    ZSTD_freeCCtx(cc);
    cr_assert_eq(ZSTD_getFrameContentSize(out->data, out->len), ZSTD_CONTENTSIZE_UNKNOWN);
}

Test(zstd, frames_without_content_size_and_bombs)
{
    size_t len = 3 * 1000 * 1000;
    char *zeros = calloc(1, PD_MAX_PAYLOAD + 4096);
    pd_buf c, d;
    pd_err err = {0};
    pd_buf_init(&c);
    pd_buf_init(&d);
    stream_compress(zeros, len, &c);
    cr_assert_eq(pd_zstd_decompress(c.data, c.len, PD_MAX_PAYLOAD, &d, &err), PERDURE_OK, "%s", err.msg);
    cr_assert_eq(d.len, len);
    pd_buf_free(&c);
    pd_buf_free(&d);

    /* A few hundred bytes that would inflate past the limit, with and without
     * a declared size. */
    stream_compress(zeros, PD_MAX_PAYLOAD + 1, &c);
    cr_assert_lt(c.len, 1024);
    assert_fails(pd_zstd_decompress(c.data, c.len, PD_MAX_PAYLOAD, &d, &err), &err, PERDURE_E_TOO_LARGE,
                 "exceeds the limit of 6291456 bytes");
    cr_assert_eq(d.len, 0);
    pd_buf_free(&c);
    cr_assert_eq(pd_zstd_compress(zeros, PD_MAX_PAYLOAD + 4096, &c, &err), PERDURE_OK);
    assert_fails(pd_zstd_decompress(c.data, c.len, PD_MAX_PAYLOAD, &d, &err), &err, PERDURE_E_TOO_LARGE,
                 "content of 6295552 bytes exceeds the limit");
    pd_buf_free(&c);
    pd_buf_free(&d);
    free(zeros);
}

/* A record whose compressed payload inflates past the payload limit. */
Test(msgpack, decompression_bomb_is_bounded)
{
    char *zeros = calloc(1, PD_MAX_PAYLOAD + 1);
    pd_buf frame, rec;
    pd_err err = {0};
    pd_buf_init(&frame);
    pd_buf_init(&rec);
    stream_compress(zeros, PD_MAX_PAYLOAD + 1, &frame);
    /* {0:1, 1:"a", 4:1, 6:4, 11: ext(1, frame)} */
    const unsigned char head[] = {0x85, 0x00, 0x01, 0x01, 0xa1, 'a', 0x04, 0x01, 0x06, 0x04, 0x0b};
    cr_assert_eq(pd_buf_append(&rec, head, sizeof head), 0);
    unsigned char ext[] = {0xc8, (unsigned char)(frame.len >> 8), (unsigned char)frame.len, PD_MP_EXT_ZSTD};
    cr_assert_eq(pd_buf_append(&rec, ext, sizeof ext), 0);
    cr_assert_eq(pd_buf_append(&rec, frame.data, frame.len), 0);
    pd_operation op;
    assert_fails(pd_mp_decode_operation(rec.data, rec.len, &op, &err), &err, PERDURE_E_TOO_LARGE,
                 "Result: zstd: content exceeds the limit of 6291456 bytes");
    pd_buf_free(&frame);
    pd_buf_free(&rec);
    free(zeros);
}

/* ---- bad msgpack ---- */

static int mp_write(void *data, const char *buf, size_t len) { return pd_buf_append(data, buf, len); }

/* Decodes hand-packed bytes as an operation and expects failure. */
static void expect_bad_op(const pd_buf *b, perdure_status code, const char *msg)
{
    pd_operation op;
    pd_err err = {0};
    assert_fails(pd_mp_decode_operation(b->data, b->len, &op, &err), &err, code, msg);
    cr_assert_str_eq(op.id, "", "a failed decode leaves nothing behind");
    cr_assert_null(op.error);
}

/* Starts {0: version, 1: "a", 4: STEP, 6: STARTED, ...} with extra entries. */
static void op_head(msgpack_packer *pk, pd_buf *b, uint64_t version, size_t extra)
{
    pd_buf_init(b);
    msgpack_packer_init(pk, b, mp_write);
    msgpack_pack_map(pk, 4 + extra);
    msgpack_pack_uint8(pk, 0);
    msgpack_pack_uint64(pk, version);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_str_with_body(pk, "a", 1);
    msgpack_pack_uint8(pk, 4);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_uint8(pk, 6);
    msgpack_pack_uint8(pk, 1);
}

Test(msgpack, versions)
{
    msgpack_packer pk;
    pd_buf b;
    op_head(&pk, &b, PERDURE_SCHEMA_VERSION, 0);
    pd_operation op;
    pd_err err = {0};
    cr_assert_eq(pd_mp_decode_operation(b.data, b.len, &op, &err), PERDURE_OK, "%s", err.msg);
    pd_operation_clear(&op);
    pd_buf_free(&b);

    op_head(&pk, &b, 2, 0);
    expect_bad_op(&b, PERDURE_E_DECODE, "unsupported schema version 2 (this build reads 1)");
    pd_buf_free(&b);
    op_head(&pk, &b, 0, 0);
    expect_bad_op(&b, PERDURE_E_DECODE, "unsupported schema version 0");
    pd_buf_free(&b);

    /* The version must come first. */
    const unsigned char late[] = {0x84, 0x01, 0xa1, 'a', 0x00, 0x01, 0x04, 0x01, 0x06, 0x01};
    b = (pd_buf){(unsigned char *)late, sizeof late, sizeof late, false};
    expect_bad_op(&b, PERDURE_E_DECODE, "record does not start with the schema version (key 0)");
    const unsigned char empty[] = {0x80};
    b = (pd_buf){(unsigned char *)empty, 1, 1, false};
    expect_bad_op(&b, PERDURE_E_DECODE, "empty record");
    const unsigned char neg[] = {0x81, 0x00, 0xff};
    b = (pd_buf){(unsigned char *)neg, 3, 3, false};
    expect_bad_op(&b, PERDURE_E_DECODE, "-1 is out of range");
    const unsigned char array[] = {0x91, 0x00};
    b = (pd_buf){(unsigned char *)array, 2, 2, false};
    expect_bad_op(&b, PERDURE_E_DECODE, "expected a map, got an array");
}

Test(msgpack, wrong_types_and_values_name_the_field)
{
    msgpack_packer pk;
    pd_buf b;
    struct {
        int key;
        int kind;   /* 0 uint v, 1 str of v bytes, 2 bin, 3 -5, 4 nil, 5 ext type 9, 6 empty map */
        uint64_t v;
        const char *msg;
    } cases[] = {
        {2, 0, 5, "ParentId: expected a string, got an unsigned integer"},
        {3, 2, 0, "Name: expected a string, got binary data"},
        {5, 1, 33, "SubType: 33 characters, longer than the limit of 32"},
        {7, 1, 0, "StartTimestamp: expected an integer, got a string"},
        {10, 0, 1, "ReplayChildren: expected a boolean, got an unsigned integer"},
        {11, 1, 3, "Result: expected binary data, got a string"},
        {11, 5, 0, "Result: unknown extension type 9"},
        {11, 4, 0, "Result: expected binary data, got nil"},
        {12, 0, 0, "Error: expected a map, got an unsigned integer"},
        {13, 3, 0, "Attempt: -5 is out of range 0..4294967295"},
        {13, 0, 4294967296ULL, "Attempt: 4294967296 is out of range"},
        {16, 6, 0, "CallbackId: expected a string, got a map"},
        {1, 1, 1, "Id: key 1 given twice"},
        {6, 0, 9, "Status: key 6 given twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        op_head(&pk, &b, 1, 1);
        msgpack_pack_uint8(&pk, (uint8_t)cases[i].key);
        switch (cases[i].kind) {
        case 0:
            msgpack_pack_uint64(&pk, cases[i].v);
            break;
        case 1: {
            char s[64];
            memset(s, 'x', sizeof s);
            msgpack_pack_str_with_body(&pk, s, cases[i].v);
            break;
        }
        case 2:
            msgpack_pack_bin_with_body(&pk, "x", 1);
            break;
        case 3:
            msgpack_pack_int64(&pk, -5);
            break;
        case 4:
            msgpack_pack_nil(&pk);
            break;
        case 5:
            msgpack_pack_ext_with_body(&pk, "abc", 3, 9);
            break;
        case 6:
            msgpack_pack_map(&pk, 0);
            break;
        }
        expect_bad_op(&b, PERDURE_E_DECODE, cases[i].msg);
        pd_buf_free(&b);
    }

    /* Unknown enum values. */
    const unsigned char status9[] = {0x84, 0x00, 0x01, 0x01, 0xa1, 'a', 0x04, 0x01, 0x06, 0x09};
    b = (pd_buf){(unsigned char *)status9, sizeof status9, 0, false};
    expect_bad_op(&b, PERDURE_E_DECODE, "Status: unknown status 9");
    const unsigned char status0[] = {0x84, 0x00, 0x01, 0x01, 0xa1, 'a', 0x04, 0x01, 0x06, 0x00};
    b = (pd_buf){(unsigned char *)status0, sizeof status0, 0, false};
    expect_bad_op(&b, PERDURE_E_DECODE, "Status: unknown status 0");
    const unsigned char type6[] = {0x84, 0x00, 0x01, 0x01, 0xa1, 'a', 0x04, 0x06, 0x06, 0x01};
    b = (pd_buf){(unsigned char *)type6, sizeof type6, 0, false};
    expect_bad_op(&b, PERDURE_E_DECODE, "Type: unknown type 6");
    const unsigned char typeneg[] = {0x84, 0x00, 0x01, 0x01, 0xa1, 'a', 0x04, 0xd0, 0x80, 0x06, 0x01};
    b = (pd_buf){(unsigned char *)typeneg, sizeof typeneg, 0, false};
    expect_bad_op(&b, PERDURE_E_DECODE, "Type: unknown type -128");
    /* Missing required fields. */
    const unsigned char no_status[] = {0x83, 0x00, 0x01, 0x01, 0xa1, 'a', 0x04, 0x01};
    b = (pd_buf){(unsigned char *)no_status, sizeof no_status, 0, false};
    expect_bad_op(&b, PERDURE_E_DECODE, "Status: missing");
    const unsigned char no_id[] = {0x83, 0x00, 0x01, 0x04, 0x01, 0x06, 0x01};
    b = (pd_buf){(unsigned char *)no_id, sizeof no_id, 0, false};
    expect_bad_op(&b, PERDURE_E_DECODE, "Id: missing");
    const unsigned char str_key[] = {0x82, 0x00, 0x01, 0xa1, 'k', 0x01};
    b = (pd_buf){(unsigned char *)str_key, sizeof str_key, 0, false};
    expect_bad_op(&b, PERDURE_E_DECODE, "expected an unsigned integer key, got a string");
    const unsigned char c1[] = {0x82, 0x00, 0x01, 0x01, 0xc1};
    b = (pd_buf){(unsigned char *)c1, sizeof c1, 0, false};
    expect_bad_op(&b, PERDURE_E_DECODE, "Id: invalid msgpack byte 0xc1");
}

Test(msgpack, unknown_keys_are_skipped)
{
    msgpack_packer pk;
    pd_buf b;
    op_head(&pk, &b, 1, 3);
    msgpack_pack_uint8(&pk, 17);   /* a later field */
    msgpack_pack_array(&pk, 2);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "k", 1);
    msgpack_pack_double(&pk, 1.5);
    msgpack_pack_float(&pk, 2.5f);
    msgpack_pack_uint64(&pk, 1000);   /* far beyond the known keys */
    msgpack_pack_ext_with_body(&pk, "12345678", 8, 5);
    msgpack_pack_uint8(&pk, 0);   /* a version key inside: unknown here */
    msgpack_pack_nil(&pk);
    pd_operation op;
    pd_err err = {0};
    cr_assert_eq(pd_mp_decode_operation(b.data, b.len, &op, &err), PERDURE_OK, "%s", err.msg);
    cr_assert_str_eq(op.id, "a");
    pd_operation_clear(&op);
    pd_buf_free(&b);

    /* Deeply nested unknown values stop at a fixed depth. */
    op_head(&pk, &b, 1, 1);
    msgpack_pack_uint8(&pk, 20);
    for (int i = 0; i < 40; i++)
        msgpack_pack_array(&pk, 1);
    msgpack_pack_nil(&pk);
    expect_bad_op(&b, PERDURE_E_DECODE, "nested deeper than 32");
    pd_buf_free(&b);
}

Test(msgpack, lying_counts_and_lengths)
{
    /* A container count or body length beyond the input is refused at once,
     * before anything is allocated for it. */
    const unsigned char big_array[] = {0x82, 0x00, 0x01, 0x14, 0xdd, 0xff, 0xff, 0xff, 0xff};
    pd_buf b = {(unsigned char *)big_array, sizeof big_array, 0, false};
    expect_bad_op(&b, PERDURE_E_DECODE, "truncated input: an array of 4294967295 entries");
    const unsigned char big_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01};
    b = (pd_buf){(unsigned char *)big_map, sizeof big_map, 0, false};
    expect_bad_op(&b, PERDURE_E_DECODE, "truncated input: a map of 4294967295 entries");
    const unsigned char big_str[] = {0x82, 0x00, 0x01, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    b = (pd_buf){(unsigned char *)big_str, sizeof big_str, 0, false};
    expect_bad_op(&b, PERDURE_E_DECODE, "Id: truncated input");
    const unsigned char ops[] = {0x84, 0x00, 0x01, 0x01, 0xa1, 'a', 0x02, 0xa1, 't',
                                 0x03, 0xdd, 0x00, 0x00, 0x00, 0x02, 0x80};
    pd_invocation inv;
    pd_err err = {0};
    assert_fails(pd_mp_decode_invocation(ops, sizeof ops, &inv, &err), &err, PERDURE_E_DECODE,
                 "Operations: truncated input: an array of 2 entries");
}

Test(msgpack, oversized_payloads)
{
    pd_operation op, back;
    pd_buf out;
    pd_err err = {0};
    pd_operation_init(&op);
    strcpy(op.id, "a");
    op.type = PERDURE_TYPE_STEP;
    op.status = PERDURE_STATUS_SUCCEEDED;
    char *big = big_string(PD_MAX_PAYLOAD + 1, 'z');
    cr_assert_eq(pd_bytes_set(&op.result, big, PD_MAX_PAYLOAD + 1), 0);
    pd_buf_init(&out);
    assert_fails(pd_mp_encode_operation(&op, 0, &out, &err), &err, PERDURE_E_TOO_LARGE,
                 "Result: 6291457 bytes exceeds the limit of 6291456");
    cr_assert_eq(out.len, 0);
    /* Hand-made: the decoder refuses it too. */
    op.result.len = PD_MAX_PAYLOAD;
    cr_assert_eq(pd_mp_encode_operation(&op, 0, &out, &err), PERDURE_OK);
    cr_assert_eq(pd_mp_decode_operation(out.data, out.len, &back, &err), PERDURE_OK);
    cr_assert_eq(back.result.len, PD_MAX_PAYLOAD);
    pd_operation_clear(&back);
    pd_buf grown;
    pd_buf_init(&grown);
    /* Rewrite the bin32 length to limit + 1 and add the byte. */
    size_t at = out.len - PD_MAX_PAYLOAD - 4;
    cr_assert_eq(out.data[at - 1], 0xc6);
    cr_assert_eq(pd_buf_append(&grown, out.data, out.len), 0);
    cr_assert_eq(pd_buf_append(&grown, "z", 1), 0);
    grown.data[at + 1] = 0x60;   /* 6291457 = 0x00600001 */
    grown.data[at + 3] = 0x01;
    expect_bad_op(&grown, PERDURE_E_TOO_LARGE, "Result: 6291457 bytes exceeds the limit of 6291456");
    pd_buf_free(&grown);
    pd_buf_free(&out);
    pd_operation_clear(&op);
    free(big);
}

/* A record with every field, some payloads compressed: the fuzz seed. */
static void fuzz_seed(pd_buf *out)
{
    pd_invocation inv;
    pd_err err = {0};
    mk_invocation(&inv, true);
    text_payload(&inv.ops.items[1].result, 300);
    pd_buf_init(out);
    cr_assert_eq(pd_mp_encode_invocation(&inv, 64, out, &err), PERDURE_OK, "%s", err.msg);
    pd_invocation_free(&inv);
}

Test(msgpack, every_truncation_fails)
{
    pd_buf seed;
    fuzz_seed(&seed);
    for (size_t len = 0; len < seed.len; len++) {
        pd_invocation inv;
        pd_err err = {0};
        perdure_status st = pd_mp_decode_invocation(seed.data, len, &inv, &err);
        cr_assert_eq(st, PERDURE_E_DECODE, "prefix %zu: %s", len, err.msg);
        cr_assert_eq(inv.ops.len, 0);
    }
    /* The whole record decodes; one byte more is trailing garbage. */
    pd_invocation inv;
    pd_err err = {0};
    cr_assert_eq(pd_mp_decode_invocation(seed.data, seed.len, &inv, &err), PERDURE_OK, "%s", err.msg);
    pd_invocation_free(&inv);
    cr_assert_eq(pd_buf_append(&seed, "\x00", 1), 0);
    assert_fails(pd_mp_decode_invocation(seed.data, seed.len, &inv, &err), &err, PERDURE_E_DECODE,
                 "1 trailing bytes after the record");
    pd_buf_free(&seed);

    pd_update u[MAX_UPDATES];
    size_t n = mk_updates(u);
    pd_buf req;
    pd_buf_init(&req);
    cr_assert_eq(pd_mp_encode_checkpoint_request("t", u, n, "c", 0, &req, &err), PERDURE_OK);
    for (size_t len = 0; len < req.len; len++) {
        pd_bytes token, client;
        pd_update *back;
        size_t m;
        cr_assert_eq(pd_mp_decode_checkpoint_request(req.data, len, &token, &back, &m, &client, &err),
                     PERDURE_E_DECODE, "prefix %zu", len);
        cr_assert_null(back);
    }
    for (size_t i = 0; i < n; i++)
        pd_update_clear(&u[i]);
    pd_buf_free(&req);
}

/* Random byte flips never crash: each decode fails cleanly or succeeds. */
Test(msgpack, random_byte_flips)
{
    pd_buf seed;
    fuzz_seed(&seed);
    unsigned char *copy = malloc(seed.len);
    pd_rng rng;
    pd_rng_seed(&rng, 20251126);
    size_t ok = 0, failed = 0;
    for (int iter = 0; iter < 4000; iter++) {
        memcpy(copy, seed.data, seed.len);
        int flips = 1 + (int)(pd_rng_next01(&rng) * 4);
        for (int f = 0; f < flips; f++) {
            size_t at = (size_t)(pd_rng_next01(&rng) * (double)seed.len);
            copy[at] = (unsigned char)(pd_rng_next01(&rng) * 256);
        }
        pd_invocation inv;
        pd_err err = {0};
        perdure_status st = pd_mp_decode_invocation(copy, seed.len, &inv, &err);
        cr_assert(st == PERDURE_OK || st == PERDURE_E_DECODE || st == PERDURE_E_TOO_LARGE, "status %d: %s", st,
                  err.msg);
        if (st == PERDURE_OK) {
            ok++;
            pd_invocation_free(&inv);
        } else {
            failed++;
            cr_assert_neq(err.msg[0], 0);
        }
    }
    cr_assert_gt(failed, 0);
    cr_assert_gt(ok, 0, "some flips only change a value");
    free(copy);
    pd_buf_free(&seed);
}

Test(json, random_byte_flips)
{
    pd_invocation inv;
    pd_buf seed;
    pd_err err = {0};
    mk_invocation(&inv, false);
    pd_buf_init(&seed);
    cr_assert_eq(pd_json_encode_invocation(&inv, &seed, &err), PERDURE_OK);
    pd_invocation_free(&inv);
    unsigned char *copy = malloc(seed.len);
    pd_rng rng;
    pd_rng_seed(&rng, 99);
    for (int iter = 0; iter < 2000; iter++) {
        memcpy(copy, seed.data, seed.len);
        size_t at = (size_t)(pd_rng_next01(&rng) * (double)seed.len);
        copy[at] = (unsigned char)(pd_rng_next01(&rng) * 256);
        size_t len = iter % 2 ? seed.len : at;   /* flipped, or flipped and truncated */
        perdure_status st = pd_json_decode_invocation(copy, len, &inv, &err);
        cr_assert(st == PERDURE_OK || st == PERDURE_E_DECODE, "status %d: %s", st, err.msg);
        if (st == PERDURE_OK)
            pd_invocation_free(&inv);
    }
    free(copy);
    pd_buf_free(&seed);
}

/* ======================================================================
 * golden vectors: schema/golden/<name>.json is canonical wire JSON and
 * <name>.mp.hex the msgpack record it becomes (compression off, so the bytes
 * do not depend on the zstd version). PERDURE_UPDATE_GOLDEN=1 rewrites the
 * .mp.hex files from this encoder.
 * ====================================================================== */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    pd_buf b;
    pd_buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        cr_assert_eq(pd_buf_append(&b, chunk, n), 0);
    fclose(f);
    *len = b.len;
    return buf_str(&b);
}

static void to_hex(const pd_buf *b, pd_buf *hex)
{
    pd_buf_init(hex);
    for (size_t i = 0; i < b->len; i++)
        cr_assert_eq(pd_buf_printf(hex, "%02x%s", b->data[i], i % 32 == 31 || i + 1 == b->len ? "\n" : ""), 0);
}

static void strip_space(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++)
        if (*r != ' ' && *r != '\n' && *r != '\r' && *r != '\t')
            *w++ = *r;
    *w = 0;
}

static void check_golden(const char *name, const pd_buf *json_again, const pd_buf *mp)
{
    char path[1024];
    size_t len;
    snprintf(path, sizeof path, "%s/schema/golden/%s.json", PERDURE_SOURCE_ROOT, name);
    char *json = read_file(path, &len);
    while (len && json[len - 1] == '\n')
        json[--len] = 0;
    cr_assert_eq(json_again->len, len, "%s: JSON re-encodes differently", name);
    cr_assert(memcmp(json_again->data, json, len) == 0, "%s: JSON re-encodes differently", name);
    free(json);

    pd_buf hex;
    to_hex(mp, &hex);
    snprintf(path, sizeof path, "%s/schema/golden/%s.mp.hex", PERDURE_SOURCE_ROOT, name);
    if (getenv("PERDURE_UPDATE_GOLDEN")) {
        FILE *f = fopen(path, "wb");
        cr_assert_not_null(f);
        fwrite(hex.data, 1, hex.len, f);
        fclose(f);
    }
    char *want = read_file(path, &len);
    char *got = buf_str(&hex);
    strip_space(want);
    strip_space(got);
    cr_assert_str_eq(got, want, "%s: msgpack differs from %s", name, path);
    free(want);
    pd_buf_free(&hex);
}

static char *golden_json(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/schema/golden/%s.json", PERDURE_SOURCE_ROOT, name);
    return read_file(path, len);
}

Test(golden, invocation)
{
    size_t len;
    char *text = golden_json("invocation", &len);
    pd_invocation inv, back;
    pd_buf j, m;
    pd_err err = {0};
    pd_buf_init(&j);
    pd_buf_init(&m);
    cr_assert_eq(pd_json_decode_invocation(text, len, &inv, &err), PERDURE_OK, "%s", err.msg);
    cr_assert_eq(pd_json_encode_invocation(&inv, &j, &err), PERDURE_OK);
    cr_assert_eq(pd_mp_encode_invocation(&inv, 0, &m, &err), PERDURE_OK);
    check_golden("invocation", &j, &m);
    cr_assert_eq(pd_mp_decode_invocation(m.data, m.len, &back, &err), PERDURE_OK);
    assert_ops_eq(&inv.ops, &back.ops);
    pd_invocation_free(&inv);
    pd_invocation_free(&back);
    pd_buf_free(&j);
    pd_buf_free(&m);
    free(text);
}

Test(golden, checkpoint_request)
{
    size_t len, n, n2;
    char *text = golden_json("checkpoint_request", &len);
    pd_bytes token, client, token2, client2;
    pd_update *u, *u2;
    pd_buf j, m;
    pd_err err = {0};
    pd_buf_init(&j);
    pd_buf_init(&m);
    cr_assert_eq(pd_json_decode_checkpoint_request(text, len, &token, &u, &n, &client, &err), PERDURE_OK, "%s",
                 err.msg);
    const char *ct = client.present ? client.data : NULL;
    cr_assert_eq(pd_json_encode_checkpoint_request(token.data, u, n, ct, &j, &err), PERDURE_OK);
    cr_assert_eq(pd_mp_encode_checkpoint_request(token.data, u, n, ct, 0, &m, &err), PERDURE_OK);
    check_golden("checkpoint_request", &j, &m);
    cr_assert_eq(pd_mp_decode_checkpoint_request(m.data, m.len, &token2, &u2, &n2, &client2, &err), PERDURE_OK);
    cr_assert_eq(n2, n);
    for (size_t i = 0; i < n; i++)
        assert_update_eq(&u[i], &u2[i]);
    pd_updates_free(u, n);
    pd_updates_free(u2, n2);
    pd_bytes_clear(&token);
    pd_bytes_clear(&client);
    pd_bytes_clear(&token2);
    pd_bytes_clear(&client2);
    pd_buf_free(&j);
    pd_buf_free(&m);
    free(text);
}

Test(golden, checkpoint_response)
{
    size_t len;
    char *text = golden_json("checkpoint_response", &len);
    pd_checkpoint_response r, back;
    pd_buf j, m;
    pd_err err = {0};
    pd_buf_init(&j);
    pd_buf_init(&m);
    cr_assert_eq(pd_json_decode_checkpoint_response(text, len, &r, &err), PERDURE_OK, "%s", err.msg);
    cr_assert_eq(pd_json_encode_checkpoint_response(&r, &j, &err), PERDURE_OK);
    cr_assert_eq(pd_mp_encode_checkpoint_response(&r, 0, &m, &err), PERDURE_OK);
    check_golden("checkpoint_response", &j, &m);
    cr_assert_eq(pd_mp_decode_checkpoint_response(m.data, m.len, &back, &err), PERDURE_OK);
    assert_ops_eq(&r.ops, &back.ops);
    pd_checkpoint_response_free(&r);
    pd_checkpoint_response_free(&back);
    pd_buf_free(&j);
    pd_buf_free(&m);
    free(text);
}

Test(golden, output)
{
    size_t len;
    char *text = golden_json("output", &len);
    pd_output o, back;
    pd_buf j, m;
    pd_err err = {0};
    pd_buf_init(&j);
    pd_buf_init(&m);
    cr_assert_eq(pd_json_decode_output(text, len, &o, &err), PERDURE_OK, "%s", err.msg);
    cr_assert_eq(pd_json_encode_output(&o, &j, &err), PERDURE_OK);
    cr_assert_eq(pd_mp_encode_output(&o, 0, &m, &err), PERDURE_OK);
    check_golden("output", &j, &m);
    cr_assert_eq(pd_mp_decode_output(m.data, m.len, &back, &err), PERDURE_OK);
    assert_error_eq(o.error, back.error);
    pd_output_free(&o);
    pd_output_free(&back);
    pd_buf_free(&j);
    pd_buf_free(&m);
    free(text);
}

/* ---- the JSON writer prints what jansson's json_dump prints ---------------- */

#include <jansson.h>
#include <math.h>

static char *jansson_text(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15) | JSON_ENCODE_ANY);
    json_decref(v);
    return s;
}

static void same_as_jansson(void (*write)(pd_jw *w, const void *arg), const void *arg, json_t *expected)
{
    pd_buf b;
    pd_buf_init(&b);
    pd_jw w;
    pd_jw_init(&w, &b);
    write(&w, arg);
    pd_err err = {0};
    cr_assert_eq(pd_jw_finish(&w, "test", &err), PERDURE_OK, "%s", err.msg);
    char *want = jansson_text(expected);
    cr_assert_eq(b.len, strlen(want), "got %.*s, want %s", (int)b.len, b.data, want);
    cr_assert_eq(memcmp(b.data, want, b.len), 0, "got %.*s, want %s", (int)b.len, b.data, want);
    free(want);
    pd_buf_free(&b);
}

typedef struct { const char *s; size_t len; } text_arg;
static void write_text(pd_jw *w, const void *arg)
{
    const text_arg *t = arg;
    pd_jw_string(w, t->s, t->len);
}

Test(json_writer, strings_escape_as_jansson_does)
{
    char every_byte[0x80];
    for (int c = 0; c < 0x80; c++)
        every_byte[c] = (char)c;
    const text_arg cases[] = {
        {"", 0}, {"plain", 5}, {"q\"b\\s/", 7}, {every_byte, sizeof every_byte},
        {"\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80", 9},   /* é, U+2028, an emoji: kept as UTF-8 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        same_as_jansson(write_text, &cases[i], json_stringn(cases[i].s, cases[i].len));
}

static void write_real(pd_jw *w, const void *arg) { pd_jw_real(w, *(const double *)arg); }
static void write_int(pd_jw *w, const void *arg) { pd_jw_int(w, *(const int64_t *)arg); }

Test(json_writer, numbers_print_as_jansson_does)
{
    const double reals[] = {0, 1, -1, 0.5, 1767225600.205, 1767225600, 1e20, 1.5e-7, -2.5e300, 123456789012345678.0,
                            0.1 + 0.2, 5e-324, 1e15, 1e16};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
        same_as_jansson(write_real, &reals[i], json_real(reals[i]));
    srand(7);
    for (int i = 0; i < 2000; i++) {
        double v = ldexp((double)rand() / RAND_MAX - 0.5, rand() % 200 - 100);
        same_as_jansson(write_real, &v, json_real(v));
    }
    const int64_t ints[] = {0, -1, 42, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        same_as_jansson(write_int, &ints[i], json_integer(ints[i]));
}

static void write_nested(pd_jw *w, const void *arg)
{
    (void)arg;
    pd_jw_object(w);
    pd_jw_key(w, "a");
    pd_jw_array(w);
    pd_jw_int(w, 1);
    pd_jw_object(w);
    pd_jw_end_object(w);
    pd_jw_array(w);
    pd_jw_end_array(w);
    pd_jw_bool(w, true);
    pd_jw_raw(w, "{\"r\":null}", 10);
    pd_jw_end_array(w);
    pd_jw_key(w, "key");
    pd_jw_bool(w, false);
    pd_jw_key(w, "e");
    pd_jw_object(w);
    pd_jw_end_object(w);
    pd_jw_end_object(w);
}

Test(json_writer, commas_and_nesting)
{
    same_as_jansson(write_nested, NULL,
                    json_pack("{s:[i,{},[],b,{s:n}], s:b, s:{}}", "a", 1, 1, "r", "key", 0, "e"));
}

Test(json_writer, bad_text_and_unbalanced_nesting_are_refused_and_nothing_kept)
{
    pd_buf b;
    pd_buf_init(&b);
    pd_buf_append(&b, "kept", 4);
    const char *bad[] = {"\xff", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pd_jw w;
        pd_jw_init(&w, &b);
        pd_jw_object(&w);
        pd_jw_key(&w, "k");
        pd_jw_string(&w, bad[i], strlen(bad[i]));
        pd_jw_end_object(&w);
        pd_err err = {0};
        cr_assert_eq(pd_jw_finish(&w, "the thing", &err), PERDURE_E_INVALID);
        cr_assert_str_eq(err.msg, "the thing: a text is not valid UTF-8");
        cr_assert_eq(b.len, 4);
    }
    pd_jw w;
    pd_jw_init(&w, &b);
    pd_jw_object(&w);
    pd_err err = {0};
    cr_assert_eq(pd_jw_finish(&w, "open", &err), PERDURE_E_INTERNAL);
    cr_assert_eq(b.len, 4);
    pd_buf_free(&b);
}

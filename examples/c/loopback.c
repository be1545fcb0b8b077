#include "loopback.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

struct loopback {
    json_t *ops;          /* Operation objects in start order, timestamps in ms */
    long long now_ms;
    unsigned token, callbacks;
    char token_text[32];
};

static const char *exec_id = "example-1";

loopback *loopback_new(const char *input_json)
{
    loopback *lb = calloc(1, sizeof *lb);
    if (!lb)
        return NULL;
    lb->now_ms = 1767225600000LL;
    lb->ops = json_array();
    json_array_append_new(lb->ops, json_pack("{s:s, s:s, s:s, s:I, s:{s:s}}", "Id", exec_id, "Type", "EXECUTION",
                                             "Status", "STARTED", "StartTimestamp", (json_int_t)lb->now_ms,
                                             "ExecutionDetails", "InputPayload", input_json));
    return lb;
}

void loopback_free(loopback *lb)
{
    if (lb)
        json_decref(lb->ops);
    free(lb);
}

long long loopback_now_ms(const loopback *lb) { return lb->now_ms; }

static const char *next_token(loopback *lb)
{
    snprintf(lb->token_text, sizeof lb->token_text, "dG9rZW4t%u", ++lb->token);
    return lb->token_text;
}

char *loopback_invocation_input(loopback *lb)
{
    json_t *event = json_pack("{s:s, s:s, s:{s:O}}", "DurableExecutionArn",
                              "arn:aws:lambda:local:000000000000:function:orders:$LATEST/durable-execution/order-42/example-1",
                              "CheckpointToken", next_token(lb), "InitialExecutionState", "Operations", lb->ops);
    char *text = json_dumps(event, JSON_COMPACT);
    json_decref(event);
    return text;
}

static json_t *find_op(loopback *lb, const char *id)
{
    size_t i;
    json_t *op;
    json_array_foreach(lb->ops, i, op)
        if (strcmp(json_string_value(json_object_get(op, "Id")), id) == 0)
            return op;
    return NULL;
}

static const char *details_key(const char *type)
{
    static const char *const map[][2] = {{"STEP", "StepDetails"},         {"CONTEXT", "ContextDetails"},
                                         {"WAIT", "WaitDetails"},         {"CALLBACK", "CallbackDetails"},
                                         {"CHAINED_INVOKE", "ChainedInvokeDetails"}, {"EXECUTION", "ExecutionDetails"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i][0], type) == 0)
            return map[i][1];
    return "Details";
}

static json_t *details(json_t *op)
{
    const char *key = details_key(json_string_value(json_object_get(op, "Type")));
    json_t *d = json_object_get(op, key);
    if (!d) {
        d = json_object();
        json_object_set_new(op, key, d);
    }
    return d;
}

/* Applies one OperationUpdate the way the service does (protocol.md §4.1). */
static void apply(loopback *lb, json_t *u)
{
    const char *id = json_string_value(json_object_get(u, "Id"));
    const char *type = json_string_value(json_object_get(u, "Type"));
    const char *action = json_string_value(json_object_get(u, "Action"));
    if (strcmp(type, "EXECUTION") == 0)
        return;
    json_t *op = find_op(lb, id);
    if (!op) {
        op = json_pack("{s:s, s:s, s:I}", "Id", id, "Type", type, "StartTimestamp", (json_int_t)lb->now_ms);
        const char *copied[] = {"SubType", "Name", "ParentId"};
        for (size_t i = 0; i < 3; i++)
            if (json_object_get(u, copied[i]))
                json_object_set(op, copied[i], json_object_get(u, copied[i]));
        json_array_append_new(lb->ops, op);
    }
    json_t *d = details(op);
    json_t *payload = json_object_get(u, "Payload"), *error = json_object_get(u, "Error");
    if (strcmp(type, "STEP") == 0 && strcmp(action, "START") != 0)
        json_object_set_new(d, "Attempt", json_integer(json_integer_value(json_object_get(d, "Attempt")) + 1));
    if (payload && strcmp(action, "START") != 0)
        json_object_set(d, "Result", payload);
    if (error)
        json_object_set(d, "Error", error);
    if (strcmp(action, "START") == 0) {
        json_object_set_new(op, "Status", json_string("STARTED"));
        if (strcmp(type, "WAIT") == 0) {
            json_int_t secs = json_integer_value(json_object_get(json_object_get(u, "WaitOptions"), "WaitSeconds"));
            json_object_set_new(d, "ScheduledEndTimestamp", json_integer(lb->now_ms + secs * 1000));
        } else if (strcmp(type, "CALLBACK") == 0) {
            char callback_id[64];
            snprintf(callback_id, sizeof callback_id, "Y2FsbGJhY2st%08u", ++lb->callbacks);
            json_object_set_new(d, "CallbackId", json_string(callback_id));
        }
    } else if (strcmp(action, "RETRY") == 0) {
        json_int_t delay = json_integer_value(json_object_get(json_object_get(u, "StepOptions"), "NextAttemptDelaySeconds"));
        json_object_set_new(op, "Status", json_string("PENDING"));
        json_object_set_new(d, "NextAttemptTimestamp", json_integer(lb->now_ms + delay * 1000));
    } else {
        json_object_set_new(op, "Status", json_string(strcmp(action, "SUCCEED") == 0 ? "SUCCEEDED" : "FAILED"));
        json_t *options = json_object_get(u, "ContextOptions");
        if (options)
            json_object_set(d, "ReplayChildren", json_object_get(options, "ReplayChildren"));
    }
}

/* Response timestamps are epoch seconds (rest-json), not milliseconds. */
static json_t *as_seconds(json_t *op)
{
    json_t *copy = json_deep_copy(op);
    const char *top[] = {"StartTimestamp", "EndTimestamp"};
    for (size_t i = 0; i < 2; i++)
        if (json_object_get(copy, top[i]))
            json_object_set_new(copy, top[i], json_real(json_integer_value(json_object_get(copy, top[i])) / 1000.0));
    json_t *d = json_object_get(copy, details_key(json_string_value(json_object_get(copy, "Type"))));
    const char *inner[] = {"NextAttemptTimestamp", "ScheduledEndTimestamp"};
    for (size_t i = 0; d && i < 2; i++)
        if (json_object_get(d, inner[i]))
            json_object_set_new(d, inner[i], json_real(json_integer_value(json_object_get(d, inner[i])) / 1000.0));
    return copy;
}

perdure_status loopback_checkpoint(void *user, const unsigned char *request, unsigned long long len,
                                   perdure_buf *response)
{
    loopback *lb = user;
    json_t *req = json_loadb((const char *)request, len, 0, NULL);
    if (!req || strcmp(json_string_value(json_object_get(req, "CheckpointToken")), lb->token_text) != 0) {
        json_decref(req);
        return PERDURE_E_PROTOCOL;   /* a real service answers 400 "Invalid Checkpoint Token" */
    }
    json_t *changed = json_array();
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(req, "Updates"), i, u) {
        apply(lb, u);
        json_t *op = find_op(lb, json_string_value(json_object_get(u, "Id")));
        if (op)
            json_array_append_new(changed, as_seconds(op));
    }
    json_decref(req);
    json_t *resp = json_pack("{s:s, s:{s:o}}", "CheckpointToken", next_token(lb), "NewExecutionState", "Operations",
                             changed);
    char *text = json_dumps(resp, JSON_COMPACT);
    json_decref(resp);
    response->data = (unsigned char *)text;
    response->len = strlen(text);
    return PERDURE_OK;
}

int loopback_invocation_ended(loopback *lb, const unsigned char *output, unsigned long long len)
{
    (void)lb;
    json_t *out = json_loadb((const char *)output, len, 0, NULL);
    const char *status = json_string_value(json_object_get(out, "Status"));
    int done = !status ? -1 : strcmp(status, "SUCCEEDED") == 0 ? 1 : strcmp(status, "FAILED") == 0 ? -1 : 0;
    json_decref(out);
    return done;
}

const char *loopback_open_callback(loopback *lb)
{
    size_t i;
    json_t *op;
    json_array_foreach(lb->ops, i, op) {
        if (strcmp(json_string_value(json_object_get(op, "Type")), "CALLBACK") == 0 &&
            strcmp(json_string_value(json_object_get(op, "Status")), "STARTED") == 0)
            return json_string_value(json_object_get(details(op), "CallbackId"));
    }
    return NULL;
}

void loopback_callback_succeed(loopback *lb, const char *callback_id, const char *result)
{
    size_t i;
    json_t *op;
    json_array_foreach(lb->ops, i, op) {
        json_t *d = json_object_get(op, "CallbackDetails");
        if (d && strcmp(json_string_value(json_object_get(d, "CallbackId")), callback_id) == 0) {
            json_object_set_new(op, "Status", json_string("SUCCEEDED"));
            json_object_set_new(d, "Result", json_string(result));
        }
    }
}

void loopback_skip_time(loopback *lb)
{
    size_t i;
    json_t *op;
    json_array_foreach(lb->ops, i, op) {
        const char *status = json_string_value(json_object_get(op, "Status"));
        json_t *d = details(op);
        json_t *end = json_object_get(d, "ScheduledEndTimestamp"), *next = json_object_get(d, "NextAttemptTimestamp");
        if (strcmp(status, "STARTED") == 0 && end) {
            lb->now_ms = json_integer_value(end) > lb->now_ms ? json_integer_value(end) : lb->now_ms;
            json_object_set_new(op, "Status", json_string("SUCCEEDED"));
        } else if (strcmp(status, "PENDING") == 0 && next) {
            lb->now_ms = json_integer_value(next) > lb->now_ms ? json_integer_value(next) : lb->now_ms;
            json_object_set_new(op, "Status", json_string("READY"));
        }
    }
}

/* A one-shot worker for the CLI tests: leases one ready execution of FUNCTION
 * from the store and runs one invocation of a small durable function through
 * the C SDK, then hands the output back.
 *
 *     cli_worker STORE FUNCTION
 *
 * The function: a step "prepare", then a child context "approval-flow" that
 * creates the callback "approval" and waits for its answer; the execution's
 * result is the callback's payload (a failed callback fails the execution).
 *
 * Prints one line: "callback <id>" when the invocation suspended on the
 * callback, "done" when the invocation ended the execution, "idle" when
 * nothing was ready (exit 3). Any error: a message on stderr, exit 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <perdure.h>

typedef struct worker_state {
    char callback_id[1100];
    int suspended;
} worker_state;

static int copy_result(perdure_buf *out, const unsigned char *data, unsigned long long len)
{
    out->len = len;
    out->data = malloc(len ? len : 1);
    if (!out->data)
        return 1;
    if (len)
        memcpy(out->data, data, len);
    return 0;
}

static int prepare(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)user, (void)attempt, (void)error;
    return copy_result(result, (const unsigned char *)"\"prepared\"", 10);
}

static int fail_with(perdure_context *ctx, perdure_error_info *error)
{
    perdure_error_view e;
    if (perdure_context_last_error(ctx, &e) == PERDURE_OK) {
        error->error_type = e.error_type;
        error->error_message = e.error_message;
    }
    return 1;
}

static int approval_flow(perdure_context *ctx, void *user, perdure_buf *result, perdure_error_info *error)
{
    worker_state *state = user;
    perdure_callback_config cfg = {.size = sizeof cfg};
    perdure_op callback;
    const char *callback_id;
    if (perdure_context_create_callback(ctx, "approval", &cfg, &callback, &callback_id) != PERDURE_OK)
        return fail_with(ctx, error);
    snprintf(state->callback_id, sizeof state->callback_id, "%s", callback_id ? callback_id : "");
    perdure_sdk_outcome outcome;
    const unsigned char *value;
    unsigned long long len;
    if (perdure_context_callback_result(ctx, callback, &outcome, &value, &len) != PERDURE_OK)
        return fail_with(ctx, error);
    if (outcome == PERDURE_SDK_SUSPEND) {
        state->suspended = 1;
        return 0;
    }
    if (outcome == PERDURE_SDK_ERROR)
        return fail_with(ctx, error);
    return copy_result(result, value, len);
}

static int handler(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                   perdure_buf *result, perdure_error_info *error)
{
    (void)input, (void)input_len;
    perdure_sdk_outcome outcome;
    const unsigned char *value;
    unsigned long long len;
    if (perdure_context_step(ctx, "prepare", NULL, prepare, NULL, &outcome, &value, &len) != PERDURE_OK)
        return fail_with(ctx, error);
    if (outcome != PERDURE_SDK_OK)
        return outcome == PERDURE_SDK_ERROR ? fail_with(ctx, error) : 0;
    if (perdure_context_run_child(ctx, "approval-flow", approval_flow, user, &outcome, &value, &len) != PERDURE_OK)
        return fail_with(ctx, error);
    if (outcome != PERDURE_SDK_OK)
        return outcome == PERDURE_SDK_ERROR ? fail_with(ctx, error) : 0;
    return copy_result(result, value, len);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: cli_worker STORE FUNCTION\n");
        return 2;
    }
    perdure_store *store = NULL;
    perdure_status st = perdure_store_open(argv[1], NULL, &store);
    if (st != PERDURE_OK) {
        fprintf(stderr, "open: %s %s\n", perdure_status_name(st), store ? perdure_store_errmsg(store) : "");
        return 1;
    }
    perdure_function_ref fn = {.name = argv[2], .version = NULL};
    perdure_lease *lease = NULL;
    if ((st = perdure_store_lease(store, &fn, 1, "cli-test-worker", &lease)) != PERDURE_OK) {
        fprintf(stderr, "lease: %s %s\n", perdure_status_name(st), perdure_store_errmsg(store));
        perdure_store_close(store);
        return 1;
    }
    if (!lease) {
        printf("idle\n");
        perdure_store_close(store);
        return 3;
    }
    const unsigned char *input;
    unsigned long long input_len;
    if ((st = perdure_lease_input(lease, &input, &input_len)) != PERDURE_OK) {
        fprintf(stderr, "lease input: %s\n", perdure_status_name(st));
        perdure_lease_abandon(lease, "no input");
        perdure_store_close(store);
        return 1;
    }
    perdure_vm_options opts = {.size = sizeof opts};
    perdure_vm_options_init(&opts);
    opts.wire = PERDURE_WIRE_MSGPACK;
    worker_state state;
    memset(&state, 0, sizeof state);
    perdure_buf output = {0};
    st = perdure_invoke_handler(&opts, input, input_len, now_ms(), handler, &state, perdure_lease_checkpoint, lease,
                                &output);
    if (st != PERDURE_OK) {
        fprintf(stderr, "invoke: %s %s\n", perdure_status_name(st), perdure_lease_errmsg(lease));
        perdure_lease_abandon(lease, perdure_status_name(st));
        perdure_store_close(store);
        return 1;
    }
    st = perdure_lease_complete(lease, output.data, output.len);
    perdure_buf_free(&output);
    if (st != PERDURE_OK) {
        fprintf(stderr, "complete: %s %s\n", perdure_status_name(st), perdure_store_errmsg(store));
        perdure_store_close(store);
        return 1;
    }
    if (state.suspended)
        printf("callback %s\n", state.callback_id);
    else
        printf("done\n");
    perdure_store_close(store);
    return 0;
}

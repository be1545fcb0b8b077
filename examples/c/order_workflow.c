/* An order workflow written in C against libperdure's C SDK.
 *
 *   validate -> create approval callback -> send for approval -> await it
 *   -> charge (flaky: fails twice, retried) -> ship 3 parcels (map) -> done
 *
 * The durable function is `order_handler`. Everything else in this file plays
 * the service's part with a deliberately small in-memory loopback (see
 * loopback.c): it applies checkpoints, fires timers at once (time skipping)
 * and answers the approval callback, so the whole workflow runs in one
 * process. Each loop iteration of main() is one invocation: the handler
 * replays what is recorded and runs only what is new.
 *
 * Build against an installed libperdure:
 *     cc order_workflow.c loopback.c $(pkg-config --cflags --libs perdure jansson)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <perdure.h>

#include "loopback.h"

static int text_result(perdure_buf *out, const char *text)
{
    out->len = strlen(text);
    out->data = malloc(out->len);
    if (!out->data)
        return 1;
    memcpy(out->data, text, out->len);
    return 0;
}

static int validate(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)user, (void)attempt, (void)error;
    printf("  [step] validate order\n");
    return text_result(result, "{\"order\":42,\"amount\":99.5}");
}

static int send_for_approval(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)attempt, (void)error;
    printf("  [step] send approval request with callback id %.12s...\n", (const char *)user);
    return text_result(result, "\"sent\"");
}

/* Fails on its first two attempts: the retry strategy brings it through. */
static int charge(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)user;
    printf("  [step] charge card, attempt %u\n", attempt);
    if (attempt < 3) {
        error->error_type = "PaymentGatewayTimeout";
        error->error_message = "the gateway did not answer";
        return 1;
    }
    return text_result(result, "\"charged\"");
}

static int ship_parcel(perdure_context *ctx, void *user, unsigned index, perdure_buf *result,
                       perdure_error_info *error)
{
    (void)ctx, (void)user, (void)error;
    printf("  [map item %u] ship parcel %u\n", index, index);
    char text[32];
    snprintf(text, sizeof text, "\"parcel-%u\"", index);
    return text_result(result, text);
}

/* Copies an operation's error into the handler's own error. */
static int fail_with(perdure_context *ctx, perdure_error_info *error)
{
    perdure_error_view e;
    if (perdure_context_last_error(ctx, &e) == PERDURE_OK) {
        error->error_type = e.error_type;
        error->error_message = e.error_message;
    }
    return 1;
}

#define CHECK(call)                                                                                                   \
    do {                                                                                                              \
        perdure_status st_ = (call);                                                                                  \
        if (st_ != PERDURE_OK) {                                                                                      \
            fprintf(stderr, "%s: %s\n", #call, perdure_status_name(st_));                                            \
            return 1;                                                                                                 \
        }                                                                                                             \
    } while (0)

static int order_handler(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                         perdure_buf *result, perdure_error_info *error)
{
    (void)user, (void)input, (void)input_len;
    perdure_sdk_outcome outcome;
    const unsigned char *value;
    unsigned long long len;

    CHECK(perdure_context_step(ctx, "validate", NULL, validate, NULL, &outcome, &value, &len));
    if (outcome != PERDURE_SDK_OK)
        return outcome == PERDURE_SDK_ERROR ? fail_with(ctx, error) : 0;

    perdure_callback_config approval_cfg = {.size = sizeof approval_cfg, .timeout_seconds = 3600};
    perdure_op approval;
    const char *callback_id;
    CHECK(perdure_context_create_callback(ctx, "approval", &approval_cfg, &approval, &callback_id));

    CHECK(perdure_context_step(ctx, "send-for-approval", NULL, send_for_approval, (void *)callback_id, &outcome,
                               &value, &len));
    if (outcome != PERDURE_SDK_OK)
        return outcome == PERDURE_SDK_ERROR ? fail_with(ctx, error) : 0;

    CHECK(perdure_context_callback_result(ctx, approval, &outcome, &value, &len));
    if (outcome == PERDURE_SDK_SUSPEND) {
        printf("  waiting for approval: suspending\n");
        return 0;
    }
    if (outcome == PERDURE_SDK_ERROR)
        return fail_with(ctx, error);
    printf("  approval received: %.*s\n", (int)len, (const char *)value);

    perdure_retry_config retry = {.size = sizeof retry};
    perdure_retry_config_preset(&retry, PERDURE_RETRY_CONFIG_DEFAULTS);
    retry.max_attempts = 5;
    retry.initial_delay_seconds = 2;
    retry.jitter = PERDURE_JITTER_NONE;
    perdure_step_config charge_cfg = {.size = sizeof charge_cfg, .retry = &retry};
    CHECK(perdure_context_step(ctx, "charge", &charge_cfg, charge, NULL, &outcome, &value, &len));
    if (outcome != PERDURE_SDK_OK)
        return outcome == PERDURE_SDK_ERROR ? fail_with(ctx, error) : 0;

    perdure_batch_config ship_cfg = {.size = sizeof ship_cfg, .max_concurrency = 2};
    perdure_op shipments;
    CHECK(perdure_context_map(ctx, "ship", 3, &ship_cfg, ship_parcel, NULL, &outcome, &shipments));
    if (outcome != PERDURE_SDK_OK)
        return outcome == PERDURE_SDK_ERROR ? fail_with(ctx, error) : 0;

    return text_result(result, "{\"order\":42,\"status\":\"shipped\"}");
}

int main(void)
{
    printf("libperdure %s\n", perdure_version());
    loopback *service = loopback_new("{\"order\":42}");
    if (!service)
        return 1;
    perdure_vm_options opts = {.size = sizeof opts, .wire = PERDURE_WIRE_JSON};
    int exit_code = 1;
    for (int invocation = 1; invocation <= 20; invocation++) {
        printf("invocation %d\n", invocation);
        char *input = loopback_invocation_input(service);
        perdure_buf output = {0};
        perdure_status st = perdure_invoke_handler(&opts, input, strlen(input), loopback_now_ms(service),
                                                   order_handler, NULL, loopback_checkpoint, service, &output);
        free(input);
        if (st != PERDURE_OK) {
            fprintf(stderr, "invocation failed: %s\n", perdure_status_name(st));
            break;
        }
        printf("  -> %.*s\n", (int)output.len, (const char *)output.data);
        int done = loopback_invocation_ended(service, output.data, output.len);
        perdure_buf_free(&output);
        if (done) {
            exit_code = done > 0 ? 0 : 1;
            break;
        }
        /* The outside world: approve the order once its callback exists. */
        const char *pending = loopback_open_callback(service);
        if (pending) {
            printf("approver: approving callback %.12s...\n", pending);
            loopback_callback_succeed(service, pending, "{\"approved\":true}");
        }
        loopback_skip_time(service);
    }
    loopback_free(service);
    return exit_code;
}

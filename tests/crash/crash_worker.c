/* The worker of the SIGKILL crash test (tests/crash/run_crash_test).
 *
 *     crash_worker STORE LOG WORKER_ID [STEP_SLEEP_US]
 *
 * Serves the durable function "twenty": 20 sequential steps "step-1" ..
 * "step-20" with the default (at-least-once) semantics. Every run of a step's
 * body first appends one line "<execution arn> <step name> <CLOCK_REALTIME ms>"
 * to LOG (O_APPEND, one write(2) per line), then sleeps STEP_SLEEP_US
 * microseconds (default 0, to give the killer time to land mid-run), then
 * returns its result. The line is written before the step's success can be
 * committed, so a body run logged after the StepSucceeded event's timestamp is
 * a committed step that ran again.
 *
 * Loops perdure_worker_run_one (lease, one invocation, complete) until no
 * execution of "twenty" is RUNNING, then exits 0. The store's lease is 1 s
 * (CRASH_LEASE_MS overrides it), so that the lease of a killed worker expires
 * quickly and the next worker re-invokes the execution from its last
 * checkpoint. Errors of one invocation (a lost lease) are reported on stderr
 * and the loop carries on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <perdure.h>

#define STEPS 20

typedef struct worker {
    int log_fd;
    unsigned step_sleep_us;
} worker;

typedef struct step_run {
    worker *w;
    const char *arn;
    const char *name;
} step_run;

static long long realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int set_result(perdure_buf *result, const char *text)
{
    result->len = strlen(text);
    result->data = malloc(result->len);
    if (!result->data)
        return 1;
    memcpy(result->data, text, result->len);
    return 0;
}

static int step_body(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)attempt;
    step_run *r = user;
    char line[1400];
    int n = snprintf(line, sizeof line, "%s %s %lld\n", r->arn, r->name, realtime_ms());
    if (n < 0 || (size_t)n >= sizeof line || write(r->w->log_fd, line, (size_t)n) != n) {
        error->error_type = "LogError";
        error->error_message = "could not append to the step log";
        return 1;
    }
    if (r->w->step_sleep_us)
        usleep(r->w->step_sleep_us);
    char text[64];
    snprintf(text, sizeof text, "\"%s ok\"", r->name);
    return set_result(result, text);
}

static int twenty(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                  perdure_buf *result, perdure_error_info *error)
{
    (void)input, (void)input_len;
    const char *arn = perdure_vm_execution_arn(perdure_context_vm(ctx));
    for (int i = 1; i <= STEPS; i++) {
        char name[16];
        snprintf(name, sizeof name, "step-%d", i);
        step_run r = {user, arn ? arn : "?", name};
        perdure_sdk_outcome outcome = PERDURE_SDK_ERROR;
        const unsigned char *value;
        unsigned long long len;
        if (perdure_context_step(ctx, name, NULL, step_body, &r, &outcome, &value, &len) != PERDURE_OK)
            outcome = PERDURE_SDK_ERROR;
        if (outcome == PERDURE_SDK_SUSPEND)
            return 0;
        if (outcome == PERDURE_SDK_ERROR) {
            perdure_error_view e;
            if (perdure_context_last_error(ctx, &e) == PERDURE_OK) {
                error->error_type = e.error_type;
                error->error_message = e.error_message;
            }
            return 1;
        }
    }
    return set_result(result, "\"twenty steps done\"");
}

/* Whether some execution of "twenty" is RUNNING (or the store cannot say). */
static int any_running(perdure_store *store)
{
    perdure_buf json = {0};
    if (perdure_store_list(store, "twenty", "RUNNING", &json) != PERDURE_OK) {
        fprintf(stderr, "crash_worker: list: %s\n", perdure_store_errmsg(store));
        return 1;
    }
    int running = json.data && memmem(json.data, json.len, "\"DurableExecutionArn\"", 21) != NULL;
    perdure_buf_free(&json);
    return running;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: crash_worker STORE LOG WORKER_ID [STEP_SLEEP_US]\n");
        return 2;
    }
    worker w = {.log_fd = -1, .step_sleep_us = argc == 5 ? (unsigned)strtoul(argv[4], NULL, 10) : 0};
    w.log_fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (w.log_fd < 0) {
        fprintf(stderr, "crash_worker: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    const char *lease = getenv("CRASH_LEASE_MS");
    perdure_store_options o = {.size = sizeof o,
                               .lease_ms = lease ? atoll(lease) : 1000,
                               .busy_timeout_ms = 30000};
    perdure_store *store = NULL;
    perdure_status st = perdure_store_open(argv[1], &o, &store);
    if (st != PERDURE_OK) {
        fprintf(stderr, "crash_worker: open: %s %s\n", perdure_status_name(st), perdure_store_errmsg(store));
        perdure_store_close(store);
        return 1;
    }
    perdure_worker_function fn = {sizeof fn, "twenty", NULL, twenty, &w};
    unsigned errors = 0;
    for (;;) {
        int ran = 0;
        st = perdure_worker_run_one(store, &fn, 1, argv[3], 1000, &ran);
        if (st != PERDURE_OK) {
            fprintf(stderr, "crash_worker %s: %s: %s\n", argv[3], perdure_status_name(st),
                    perdure_store_errmsg(store));
            if (st == PERDURE_E_MISUSE || ++errors > 1000)
                break;
            continue;
        }
        if (!ran && !any_running(store))
            break;
    }
    perdure_store_close(store);
    close(w.log_fd);
    return st == PERDURE_E_MISUSE || errors > 1000 ? 1 : 0;
}

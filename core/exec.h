/* The service side of one durable execution (protocol.md §4, §6): it validates
 * and applies checkpoint batches, rotates checkpoint tokens, computes deltas,
 * fires timers, answers callbacks and chained invokes, and appends the history
 * events exactly as schema/history.md describes.
 *
 * Sans-IO, like the rest of core/: time comes in as now_ms (epoch ms),
 * randomness (tokens, CallbackIds) through the caller's pd_random_fn, and the
 * caller does every launch, sleep and write. A worker drives it like this:
 *
 *     pd_exec_new                          ExecutionStarted
 *     loop:
 *       pd_exec_fire_timers(now)           waits, retries, callback timeouts
 *       if pd_exec_wants_invocation(now):
 *         pd_exec_invocation_begin         -> the invocation input
 *         ... run the handler; each of its checkpoints is pd_exec_checkpoint ...
 *         pd_exec_invocation_end           InvocationCompleted (+ Execution*)
 *       launch pd_exec_pending_invokes, sleep until pd_exec_next_wakeup or a
 *       callback API call (pd_exec_callback_*), an invoke result
 *       (pd_exec_invoke_complete) or a stop (pd_exec_stop)
 *       persist pd_exec_take_changes + pd_exec_state_json in one transaction
 *
 * One handle is used by one thread at a time. Internal (pd_ prefix, not
 * exported). Every mutating call returns PERDURE_E_NOMEM when an allocation
 * fails; the handle is then poisoned (every later call returns it too): free it
 * and pd_exec_load it again from the store, which holds the last consistent
 * state. */
#ifndef PERDURE_EXEC_H
#define PERDURE_EXEC_H

#include "internal.h"

/* Refusals of requests about one operation or the execution, below the
 * public status range so they never collide with a perdure_status. The HTTP
 * layer maps them to exceptions; err->msg says which operation. */
#define PD_EXEC_E_NOT_FOUND (-64)   /* no such callback / chained invoke: ResourceNotFoundException */
#define PD_EXEC_E_COMPLETED (-65)   /* it already completed: the first answer stands */
#define PD_EXEC_E_TIMED_OUT (-66)   /* the callback timed out before this answer: CallbackTimeoutException */
#define PD_EXEC_E_ENDED (-67)       /* the execution is no longer RUNNING */
/* Checkpoint validation and stale tokens are PERDURE_E_INVALID
 * (InvalidParameterValueException), with the protocol's exact messages; a
 * token problem's message starts with "Invalid Checkpoint Token". */

/* ---- history events (protocol.md §6.1; schema/history.md) ---- */

typedef enum pd_event_type {
    PD_EV_EXECUTION_STARTED,
    PD_EV_EXECUTION_SUCCEEDED,
    PD_EV_EXECUTION_FAILED,
    PD_EV_EXECUTION_TIMED_OUT,
    PD_EV_EXECUTION_STOPPED,
    PD_EV_CONTEXT_STARTED,
    PD_EV_CONTEXT_SUCCEEDED,
    PD_EV_CONTEXT_FAILED,
    PD_EV_WAIT_STARTED,
    PD_EV_WAIT_SUCCEEDED,
    PD_EV_WAIT_CANCELLED,
    PD_EV_STEP_STARTED,
    PD_EV_STEP_SUCCEEDED,
    PD_EV_STEP_FAILED,
    PD_EV_CHAINED_INVOKE_STARTED,
    PD_EV_CHAINED_INVOKE_SUCCEEDED,
    PD_EV_CHAINED_INVOKE_FAILED,
    PD_EV_CHAINED_INVOKE_TIMED_OUT,
    PD_EV_CHAINED_INVOKE_STOPPED,
    PD_EV_CALLBACK_STARTED,
    PD_EV_CALLBACK_SUCCEEDED,
    PD_EV_CALLBACK_FAILED,
    PD_EV_CALLBACK_TIMED_OUT,
    PD_EV_INVOCATION_COMPLETED,
    PD_EV_COUNT
} pd_event_type;

/* One event. Which detail fields are meaningful depends on the type
 * (schema/history.md lists them); the others are zero / absent. */
typedef struct pd_event {
    uint64_t id;                          /* EventId, 1-based, no gaps */
    pd_event_type type;
    int64_t ts_ms;                        /* EventTimestamp */
    char op_id[PD_MAX_ID + 1];            /* Id: the operation's, the execution's; "" for InvocationCompleted */
    char parent_id[PD_MAX_ID + 1];        /* "" when absent */
    char sub_type[PD_MAX_SUBTYPE + 1];    /* "" when absent */
    pd_bytes name;
    pd_bytes payload;                     /* Input.Payload or Result.Payload */
    pd_error *error;                      /* Error.Payload */
    int64_t seconds;                      /* ExecutionTimeout, Duration */
    int64_t scheduled_end_ms;             /* WaitStarted */
    uint32_t attempt;                     /* RetryDetails.CurrentAttempt */
    int64_t retry_delay_s;                /* RetryDetails.NextAttemptDelaySeconds, 0 absent */
    pd_bytes callback_id;
    int64_t timeout_s, heartbeat_s;       /* CallbackStarted, 0 absent */
    pd_bytes function_name, tenant_id, executed_version, target_arn;   /* ChainedInvokeStarted */
    int64_t start_ms, end_ms;             /* InvocationCompleted */
    pd_bytes request_id;
} pd_event;

const char *pd_event_type_name(pd_event_type t);     /* "StepStarted"; NULL when out of range */
void pd_event_clear(pd_event *e);                     /* frees owned fields and zeroes */

/* One event as the JSON object GetDurableExecutionHistory returns (timestamps
 * in epoch seconds with a fraction). include_data false leaves out every
 * payload (Input, Result and Error payloads), as IncludeExecutionData=false. */
perdure_status pd_event_encode_json(const pd_event *e, bool include_data, pd_buf *out, pd_err *err);
/* The inverse of pd_event_encode_json(include_data true): what a store reads back. */
perdure_status pd_event_decode_json(const void *data, size_t len, pd_event *out, pd_err *err);

/* ---- creating an execution ---- */

/* Fills buf with len unpredictable bytes; 0 on success. */
typedef int (*pd_random_fn)(void *user, void *buf, size_t len);

/* The caller's environment: given at creation and again at every load. */
typedef struct pd_exec_config {
    pd_random_fn random;                  /* required: checkpoint tokens and CallbackIds */
    void *random_user;
    unsigned max_failed_invocations;      /* consecutive failed invocations that fail the execution; 0: no limit */
    int64_t invocation_retry_delay_ms;    /* a failed invocation is retried no sooner than this */
    size_t max_step_result;               /* STEP results longer than this are refused (§8); 0: no limit */
} pd_exec_config;

typedef struct pd_exec_options {
    const char *region, *account;         /* ARN parts */
    const char *function_name, *version;  /* version: "$LATEST", a number or an alias */
    const char *name;                     /* DurableExecutionName: 1..64 [a-zA-Z0-9-_] */
    const char *id;                       /* the last ARN segment and the EXECUTION Id; NULL: 32 random hex digits */
    const void *input;                    /* the input JSON text (UTF-8); NULL: none */
    size_t input_len;
    int64_t execution_timeout_s;          /* 1..31622400 */
} pd_exec_options;

typedef struct pd_exec pd_exec;

/* Creates the execution: the EXECUTION operation (STARTED) and event 1,
 * ExecutionStarted. The first invocation is wanted at once.
 * ARN: arn:aws:lambda:<region>:<account>:function:<fn>:<version>/durable-execution/<name>/<id>. */
perdure_status pd_exec_new(const pd_exec_config *cfg, const pd_exec_options *opts, int64_t now_ms, pd_exec **out,
                           pd_err *err);
void pd_exec_free(pd_exec *exec);

/* ---- invocations ---- */

/* Starts an invocation: *out gets the ARN, a fresh checkpoint token and every
 * operation in ascending start order (fill a pd_invocation with it, encode it
 * with pd_json_encode_invocation, free it with pd_invocation_free). Due timers
 * fire first. Refused while an invocation runs (PERDURE_E_MISUSE) and once the
 * execution has ended (PD_EXEC_E_ENDED). */
perdure_status pd_exec_invocation_begin(pd_exec *exec, int64_t now_ms, const char *request_id, pd_invocation *out,
                                        pd_err *err);

/* CheckpointDurableExecution (§4.2, §4.3). The token must be the newest one
 * of the running invocation. The batch is validated as a whole against the
 * state before it (any failure rejects it all, PERDURE_E_INVALID with the
 * protocol's message), applied in order with one event per accepted update,
 * then due timers fire. *out gets the next token (none once the execution has
 * ended) and every operation changed since the state last delivered to this
 * invocation, in start order. The same client_token with the same token
 * within 15 minutes returns the cached response. client_token may be NULL.
 * After pd_exec_stop or a timeout: PD_EXEC_E_ENDED. */
perdure_status pd_exec_checkpoint(pd_exec *exec, const char *token, const pd_update *updates, size_t n,
                                  const char *client_token, int64_t now_ms, pd_checkpoint_response *out, pd_err *err);

/* Ends the running invocation with its output (NULL: it crashed, exited or
 * timed out; crash_message may be NULL). Appends exactly one
 * InvocationCompleted, then ExecutionSucceeded / ExecutionFailed when the
 * output (or an EXECUTION checkpoint of this invocation, §4.12) ended the
 * execution. A crash records Error{Runtime.ExitError}. An invalid output
 * (PENDING with nothing pending, SUCCEEDED with an Error, FAILED with a
 * Result) is recorded like a crash, with the reason as an
 * InvalidParameterValueException error, and returns PERDURE_E_INVALID: the
 * invocation has ended all the same. A failed invocation is retried after
 * invocation_retry_delay_ms, until max_failed_invocations fails the execution.
 * Once the execution has ended otherwise (stop, timeout) the output is
 * ignored. */
perdure_status pd_exec_invocation_end(pd_exec *exec, const pd_output *output, const char *crash_message,
                                      int64_t now_ms, pd_err *err);

/* ---- timers ---- */

/* Fires every timer due at now_ms, earliest first: a wait ends
 * (WaitSucceeded), a retry becomes READY (no event), a callback times out
 * (CallbackTimedOut: Callback.Timeout or Callback.Heartbeat), the execution
 * times out (ExecutionTimedOut). */
perdure_status pd_exec_fire_timers(pd_exec *exec, int64_t now_ms, pd_err *err);
/* The earliest armed timer or invocation retry time; false when none. */
bool pd_exec_next_wakeup(const pd_exec *exec, int64_t *due_ms);
/* Whether to begin an invocation now: the execution runs, none is running,
 * and something happened that the handler has not seen (a timer, a callback,
 * an invoke result, a READY retry) or the last invocation failed (§4.6). */
bool pd_exec_wants_invocation(const pd_exec *exec, int64_t now_ms);

/* ---- external answers ---- */

/* SendDurableExecutionCallbackSuccess: the raw body (UTF-8, at most 262144
 * bytes, may be empty) becomes the Result. Due timers fire first, so an answer
 * after the deadline finds the callback timed out. Unknown id:
 * PD_EXEC_E_NOT_FOUND; already answered: PD_EXEC_E_COMPLETED; timed out:
 * PD_EXEC_E_TIMED_OUT; execution ended: PD_EXEC_E_ENDED. */
perdure_status pd_exec_callback_succeed(pd_exec *exec, const char *callback_id, const void *result, size_t len,
                                        int64_t now_ms, pd_err *err);
/* SendDurableExecutionCallbackFailure (error NULL: an empty ErrorObject). */
perdure_status pd_exec_callback_fail(pd_exec *exec, const char *callback_id, const pd_error *error, int64_t now_ms,
                                     pd_err *err);
/* SendDurableExecutionCallbackHeartbeat: restarts the heartbeat timer; no event. */
perdure_status pd_exec_callback_heartbeat(pd_exec *exec, const char *callback_id, int64_t now_ms, pd_err *err);

/* A chained invoke the caller must launch. Borrowed until the next call that
 * changes the execution. */
typedef struct pd_exec_invoke {
    const char *op_id;
    const pd_bytes *function_name, *tenant_id, *input;
} pd_exec_invoke;

/* The STARTED chained invokes not launched yet, in start order: fills up to
 * max, returns how many there are. */
size_t pd_exec_pending_invokes(const pd_exec *exec, pd_exec_invoke *out, size_t max);
/* The caller launched op_id's target: recorded into its ChainedInvokeStarted
 * (either may be NULL), and it is no longer pending. */
perdure_status pd_exec_invoke_launched(pd_exec *exec, const char *op_id, const char *target_arn,
                                       const char *executed_version, pd_err *err);
/* The target finished: status SUCCEEDED (result, len) or FAILED / TIMED_OUT /
 * STOPPED (error; NULL: an empty ErrorObject). Refusals as for callbacks. */
perdure_status pd_exec_invoke_complete(pd_exec *exec, const char *op_id, perdure_op_status status,
                                       const void *result, size_t len, const pd_error *error, int64_t now_ms,
                                       pd_err *err);

/* StopDurableExecution: STOPPED with ExecutionStopped{Error} (error NULL:
 * "Execution stopped by user request"). A running invocation stays running
 * until pd_exec_invocation_end, but its checkpoints are refused. Stopping an
 * ended execution changes nothing. *stop_ms (may be NULL) gets the end time. */
perdure_status pd_exec_stop(pd_exec *exec, const pd_error *error, int64_t now_ms, int64_t *stop_ms, pd_err *err);

/* ---- reading ---- */

/* The EXECUTION operation's status: STARTED while RUNNING, then SUCCEEDED,
 * FAILED, TIMED_OUT or STOPPED. */
perdure_op_status pd_exec_status(const pd_exec *exec);
/* GetDurableExecution's Status text: "RUNNING" for STARTED. */
const char *pd_exec_status_name(perdure_op_status status);
/* GetDurableExecution's Result (SUCCEEDED) and Error (otherwise); NULL when
 * there is none. Borrowed. */
void pd_exec_result(const pd_exec *exec, const pd_bytes **result, const pd_error **error);
bool pd_exec_invocation_running(const pd_exec *exec);

typedef struct pd_exec_info {
    const char *arn, *name, *id, *function_name, *version, *region, *account;
} pd_exec_info;

void pd_exec_get_info(const pd_exec *exec, pd_exec_info *out);   /* borrowed */

/* Operations in ascending start order; position 0 is the EXECUTION. Borrowed. */
size_t pd_exec_operation_count(const pd_exec *exec);
const pd_operation *pd_exec_operation_at(const pd_exec *exec, size_t position);
const pd_operation *pd_exec_find_operation(const pd_exec *exec, const char *id);

/* Events by position (EventId - 1). Borrowed. */
size_t pd_exec_event_count(const pd_exec *exec);
const pd_event *pd_exec_event_at(const pd_exec *exec, size_t position);

/* {"Events":[...]}: the whole history (GetDurableExecutionHistory). */
perdure_status pd_exec_history_json(const pd_exec *exec, bool include_data, pd_buf *out, pd_err *err);

/* ---- persistence ---- */

/* What changed since the last call: a store writes these operations, these
 * events and the state (pd_exec_state_json) in one transaction. */
typedef struct pd_exec_changes {
    size_t *ops;          /* positions of changed operations, ascending */
    size_t n_ops;
    uint64_t *events;     /* EventIds of new or amended events, ascending */
    size_t n_events;
    bool state;           /* pd_exec_state_json changed */
} pd_exec_changes;

perdure_status pd_exec_take_changes(pd_exec *exec, pd_exec_changes *out, pd_err *err);
void pd_exec_changes_free(pd_exec_changes *c);

/* Everything else a store keeps (identity, the running invocation and its
 * token, the re-invocation and failure counters, heartbeats, unlaunched
 * invokes), as a small JSON object; it does not grow with the history. */
perdure_status pd_exec_state_json(const pd_exec *exec, pd_buf *out, pd_err *err);

/* Rebuilds an execution from its operations (start order), its events (by
 * EventId) and its state. The cached ClientToken response is not kept. */
perdure_status pd_exec_load(const pd_exec_config *cfg, const pd_operation *ops, size_t n_ops,
                            const pd_event *events, size_t n_events, const void *state, size_t state_len,
                            pd_exec **out, pd_err *err);

#endif

/*
 * perdure.h: the public C API of libperdure, a durable execution engine.
 *
 * This one header is the whole stable ABI. It is written to be read, and to be
 * handed unmodified to cffi's cdef(): therefore it contains no #include, no
 * conditional compilation and no attributes. It needs no other header: every
 * type below is a built-in C type. (`#pragma once` is the only directive other
 * than integer #defines; cffi ignores it.)
 *
 * ---------------------------------------------------------------------------
 * Model
 * ---------------------------------------------------------------------------
 * A perdure_vm replays ONE invocation of a durable function. It does no I/O:
 * it is given the invocation input (the recorded operations) as bytes, and the
 * caller (a binding, a worker, the C SDK in this header) asks it, operation by
 * operation, what to do next:
 *
 *     perdure_vm_step(vm, ctx, "charge", &cfg, &op);
 *     for (;;) {
 *         perdure_vm_op_next(vm, op, &next);
 *         if (next == PERDURE_NEXT_CHECKPOINT) { send perdure_vm_take_batch(),
 *                                                feed perdure_vm_apply_response(); continue; }
 *         if (next == PERDURE_NEXT_EXECUTE)    { run the body, then report it with
 *                                                perdure_vm_op_succeed / _fail; continue; }
 *         break;   // PERDURE_NEXT_RESULT, _ERROR or _SUSPEND: the operation's answer
 *     }
 *
 * Every decision lives here, not in the caller: whether a recorded result is
 * replayed, whether a failed attempt is retried and after what delay, which
 * update is synchronous, when a batch must be flushed, when a map is complete,
 * and when the invocation must suspend.
 *
 * ---------------------------------------------------------------------------
 * Conventions
 * ---------------------------------------------------------------------------
 * - Every fallible call returns a perdure_status: 0 is success, errors are
 *   negative. Results go through out-parameters, which come last.
 * - Error text lives on the handle: perdure_vm_errmsg(vm). After a protocol
 *   error (PERDURE_E_NONDETERMINISM, PERDURE_E_PROTOCOL) the VM is poisoned:
 *   every later call returns the same status and message.
 * - Misuse (NULL, wrong state, stale or foreign handle, call after finish)
 *   returns PERDURE_E_MISUSE. The library never aborts on such input.
 * - Borrowed input (pointers passed in) is read only during the call; the
 *   library copies what it keeps. Strings are NUL-terminated UTF-8.
 * - Borrowed output (const pointers handed out) stays valid until the next call
 *   that changes the same VM. Owned output is a perdure_buf, released with
 *   perdure_buf_free(); bindings copy it at once.
 * - Lengths are `unsigned long long`, times are `long long` epoch milliseconds,
 *   durations are whole seconds.
 * - Options structs start with `size` (set it to sizeof the struct, or call the
 *   matching *_init function) and only ever grow at the end.
 *
 * Threading: a handle is used by one thread at a time (callers serialise, e.g.
 * with a mutex around a VM shared by map branches). Distinct handles are
 * independent. There is no hidden global mutable state.
 */
#pragma once

/* ABI version: the major number is the soname. */
#define PERDURE_VERSION_MAJOR 0
#define PERDURE_VERSION_MINOR 1
#define PERDURE_VERSION_PATCH 0
/* Version of the stored and wire schema (schema/README.md). */
#define PERDURE_SCHEMA_VERSION 1

/* ---- status codes (append-only) --------------------------------------- */
typedef int perdure_status;
#define PERDURE_OK 0
#define PERDURE_E_MISUSE -1          /* NULL, wrong state, stale handle, call after finish */
#define PERDURE_E_INVALID -2         /* an argument value is out of range (a validation error) */
#define PERDURE_E_DECODE -3          /* input bytes are not valid JSON / msgpack / schema */
#define PERDURE_E_TOO_LARGE -4       /* a payload or batch exceeds a protocol limit */
#define PERDURE_E_NONDETERMINISM -5  /* replay diverged from the recorded history */
#define PERDURE_E_NOMEM -6           /* out of memory */
#define PERDURE_E_PROTOCOL -7        /* the recorded state or a response is inconsistent */
#define PERDURE_E_ORPHANED -8        /* the operation's map/parallel finished without it */
#define PERDURE_E_INTERNAL -9        /* a bug in libperdure: please report it */

/* Static text naming a status ("PERDURE_E_DECODE"), never NULL. */
const char *perdure_status_name(perdure_status status);

/* "0.1.0"; equals the PERDURE_VERSION_* the library was built with. */
const char *perdure_version(void);

/* ---- owned output buffers --------------------------------------------- */
typedef struct perdure_buf {
    unsigned char *data;      /* NULL when empty */
    unsigned long long len;
} perdure_buf;

/* Releases buf->data and zeroes *buf. NULL and empty buffers are no-ops. */
void perdure_buf_free(perdure_buf *buf);

/* ---- protocol enums (values match schema/README.md) --------------------- */
typedef enum perdure_op_type {
    PERDURE_TYPE_EXECUTION = 0,
    PERDURE_TYPE_STEP = 1,
    PERDURE_TYPE_WAIT = 2,
    PERDURE_TYPE_CALLBACK = 3,
    PERDURE_TYPE_CONTEXT = 4,
    PERDURE_TYPE_CHAINED_INVOKE = 5
} perdure_op_type;

typedef enum perdure_op_status {
    PERDURE_STATUS_ABSENT = 0,       /* no record yet */
    PERDURE_STATUS_STARTED = 1,
    PERDURE_STATUS_PENDING = 2,
    PERDURE_STATUS_READY = 3,
    PERDURE_STATUS_SUCCEEDED = 4,
    PERDURE_STATUS_FAILED = 5,
    PERDURE_STATUS_CANCELLED = 6,
    PERDURE_STATUS_TIMED_OUT = 7,
    PERDURE_STATUS_STOPPED = 8
} perdure_op_status;

typedef enum perdure_action {
    PERDURE_ACTION_START = 0,
    PERDURE_ACTION_SUCCEED = 1,
    PERDURE_ACTION_FAIL = 2,
    PERDURE_ACTION_RETRY = 3,
    PERDURE_ACTION_CANCEL = 4
} perdure_action;

/* ---- errors as values (the protocol's ErrorObject) ---------------------- */

/* An error reported by the caller. Every field is optional (NULL). */
typedef struct perdure_error_info {
    const char *error_type;           /* e.g. "ValueError" */
    const char *error_message;
    const char *error_data;
    const char *const *stack_trace;   /* stack_trace_len lines */
    unsigned long long stack_trace_len;
} perdure_error_info;

/* Which exception a binding raises for an operation that ended in error. */
typedef enum perdure_error_kind {
    PERDURE_ERRK_STEP = 1,               /* StepError */
    PERDURE_ERRK_STEP_INTERRUPTED = 2,   /* an interrupted at-most-once attempt (PERDURE_NEXT_INTERRUPTED) */
    PERDURE_ERRK_CALLBACK_FAILED = 3,    /* CallbackExternalError (failed, cancelled, stopped) */
    PERDURE_ERRK_CALLBACK_TIMEOUT = 4,   /* CallbackTimeoutError */
    PERDURE_ERRK_CALLBACK_SUBMITTER = 5, /* CallbackSubmitterError (wait_for_callback) */
    PERDURE_ERRK_CHILD = 6,              /* ChildContextError (child, map, parallel) */
    PERDURE_ERRK_INVOKE = 7,             /* InvokeError */
    PERDURE_ERRK_WAIT_FOR_CONDITION = 8  /* WaitForConditionError */
} perdure_error_kind;

/* A recorded error, borrowed from the VM. */
typedef struct perdure_error_view {
    perdure_error_kind kind;
    const char *error_type;           /* NULL when absent */
    const char *error_message;
    const char *error_data;
    const char *const *stack_trace;
    unsigned long long stack_trace_len;
} perdure_error_view;

/* ---- retry strategies ---------------------------------------------------- */
typedef enum perdure_jitter {
    PERDURE_JITTER_FULL = 0,   /* random * d */
    PERDURE_JITTER_NONE = 1,   /* d */
    PERDURE_JITTER_HALF = 2    /* d/2 + random * d/2 */
} perdure_jitter;

typedef enum perdure_backoff {
    PERDURE_BACKOFF_EXPONENTIAL = 0, /* initial * rate^(n-1) */
    PERDURE_BACKOFF_LINEAR = 1       /* initial + increment * (n-1) */
} perdure_backoff;

/* How a jittered delay becomes whole seconds (at least 1). */
typedef enum perdure_rounding {
    PERDURE_ROUND_UP = 0,      /* ceil: the Python SDK */
    PERDURE_ROUND_NEAREST = 1  /* half away from zero (Math.round): the JS SDK */
} perdure_rounding;

typedef enum perdure_retry_preset {
    PERDURE_RETRY_DEFAULT = 0,               /* a step without a strategy: 6 attempts, 5 s..60 s, x2, FULL */
    PERDURE_RETRY_CONFIG_DEFAULTS = 1,       /* RetryStrategyConfig(): 3 attempts, 5 s..300 s, x2, FULL */
    PERDURE_RETRY_NONE = 2,                  /* 1 attempt */
    PERDURE_RETRY_TRANSIENT = 3,             /* 3 attempts, 5 s..300 s, x2, HALF */
    PERDURE_RETRY_RESOURCE_AVAILABILITY = 4, /* 5 attempts, 5 s..300 s, x2, FULL */
    PERDURE_RETRY_CRITICAL = 5,              /* 10 attempts, 1 s..60 s, x1.5, NONE */
    PERDURE_RETRY_LINEAR = 6,                /* 6 attempts, 1 s + 1 s per attempt, max 300 s, NONE */
    PERDURE_RETRY_FIXED = 7                  /* 5 attempts, every 5 s, NONE */
} perdure_retry_preset;

/*
 * A retry strategy as data. Fill it with perdure_retry_config_preset() and
 * adjust fields. An error is retried when attempts_made < max_attempts and it
 * matches the filters: its type is one of retryable_error_types, or its
 * message matches one of retryable_errors (a substring; a POSIX extended regex
 * searched anywhere when the matching is_regex entry is non-zero). With no
 * filter at all, every error is retryable.
 * delay = max(1, round(jitter(min(base(n), max_delay)))) whole seconds, where n
 * is the number of attempts made so far and round is `rounding` (read when
 * `size` covers it; presets leave it PERDURE_ROUND_UP).
 */
typedef struct perdure_retry_config {
    unsigned int size;
    unsigned int max_attempts;
    perdure_backoff backoff;
    double initial_delay_seconds;
    double max_delay_seconds;
    double backoff_rate;             /* exponential only */
    double increment_seconds;        /* linear only */
    perdure_jitter jitter;
    const char *const *retryable_errors;
    const unsigned char *retryable_errors_is_regex;   /* NULL: all substrings */
    unsigned long long retryable_errors_len;
    const char *const *retryable_error_types;
    unsigned long long retryable_error_types_len;
    perdure_rounding rounding;
} perdure_retry_config;

/* Fills *cfg (whose size field must be set) with a preset's values. */
perdure_status perdure_retry_config_preset(perdure_retry_config *cfg, perdure_retry_preset preset);

/* The decision for one failed attempt. `random01` (in [0,1)) drives jitter. */
typedef struct perdure_retry_decision {
    int should_retry;
    long long delay_seconds;
} perdure_retry_decision;

perdure_status perdure_retry_decide(const perdure_retry_config *cfg, unsigned int attempts_made,
                                    const perdure_error_info *error, double random01,
                                    perdure_retry_decision *out);

/* ---- wait strategies (wait_for_condition) ------------------------------ */
/* create_wait_strategy(WaitStrategyConfig(...)): defaults 60 attempts,
 * 5 s initial, 300 s max, rate 1.5, FULL jitter. */
typedef struct perdure_wait_config {
    unsigned int size;
    unsigned int max_attempts;
    double initial_delay_seconds;
    double max_delay_seconds;
    double backoff_rate;
    perdure_jitter jitter;
    perdure_rounding rounding;       /* read when size covers it */
} perdure_wait_config;

perdure_status perdure_wait_config_init(perdure_wait_config *cfg);

/* After attempt number `attempt` (1-based) asked to continue: stop when the
 * attempts are exhausted (out->should_retry = 0), else the delay. */
perdure_status perdure_wait_decide(const perdure_wait_config *cfg, unsigned int attempt,
                                   double random01, perdure_retry_decision *out);

/* ---- completion policies (map / parallel) ------------------------------- */
typedef struct perdure_completion_config {
    unsigned int size;
    int min_successful;                /* -1: unset */
    int tolerated_failure_count;       /* -1: unset */
    double tolerated_failure_percentage; /* < 0: unset */
} perdure_completion_config;

typedef enum perdure_completion_reason {
    PERDURE_COMPLETION_NONE = 0,          /* not complete yet */
    PERDURE_COMPLETION_ALL_COMPLETED = 1,
    PERDURE_COMPLETION_MIN_SUCCESSFUL_REACHED = 2,
    PERDURE_COMPLETION_FAILURE_TOLERANCE_EXCEEDED = 3
} perdure_completion_reason;

/* All fields unset: fail-fast (the first failure completes the batch). */
perdure_status perdure_completion_config_init(perdure_completion_config *cfg);

/* Whether a batch of `total` items with these counts is complete, and why. */
perdure_status perdure_completion_check(const perdure_completion_config *cfg, unsigned int total,
                                        unsigned int succeeded, unsigned int failed,
                                        perdure_completion_reason *out);

/* ---- operation IDs ------------------------------------------------------ */
typedef enum perdure_id_scheme {
    PERDURE_IDS_BLAKE2B = 0,   /* the Python SDK's: blake2b-512 hex of "prefix-n", 64 chars */
    PERDURE_IDS_MD5_PATH = 1   /* the JS SDK's: md5 hex of the raw path "1-2-3", 16 chars */
} perdure_id_scheme;

/* Hashes a raw id path ("3", "<parent id>-2") into out (at least 65 bytes). */
perdure_status perdure_id_hash(perdure_id_scheme scheme, const char *raw, char *out, unsigned long long out_size);

/* ---- the replay VM ------------------------------------------------------ */
typedef struct perdure_vm perdure_vm;

/* Integer handles, owned by their VM. perdure_ctx is a context: the root, or
 * the handle of a child/map-item/parallel-branch/wait_for_callback operation. */
typedef unsigned int perdure_op;
typedef unsigned int perdure_ctx;
#define PERDURE_ROOT 0

typedef enum perdure_wire {
    PERDURE_WIRE_JSON = 0,     /* the Lambda durable execution API's JSON shapes */
    PERDURE_WIRE_MSGPACK = 1   /* the embedded service's msgpack records */
} perdure_wire;

typedef struct perdure_vm_options {
    unsigned int size;
    perdure_wire wire;                    /* format of input, batches, responses, output */
    perdure_id_scheme id_scheme;
    unsigned long long random_seed;       /* jitter; 0: seeded from the OS */
    unsigned long long max_batch_updates; /* 0: 250 */
    unsigned long long max_batch_bytes;   /* 0: 750 KiB of encoded updates */
    unsigned long long compress_threshold;/* msgpack payloads at least this long are zstd-compressed; 0: 4096 */
    unsigned long long max_inline_result; /* 0: 6 MiB - 50: larger results are checkpointed (§4.12) */
    /* Updates that need no answer (a context's or an at-least-once step's
     * START) ride with the next synchronous one, or are flushed once they
     * have waited this long by the VM's clock (perdure_vm_set_now), so that a
     * long step body does not hide its START. 0: 100 ms. A caller that never
     * moves the clock keeps them until the next synchronous update. */
    long long async_flush_ms;
} perdure_vm_options;

perdure_status perdure_vm_options_init(perdure_vm_options *opts);

perdure_status perdure_vm_new(const perdure_vm_options *opts /* NULL: defaults */, perdure_vm **out);
void perdure_vm_free(perdure_vm *vm);

/* The message of the last error on this VM, "" when none. Never NULL. */
const char *perdure_vm_errmsg(const perdure_vm *vm);

/* Non-determinism detail, valid after PERDURE_E_NONDETERMINISM. */
typedef struct perdure_nondeterminism {
    const char *operation_id;
    unsigned long long position;       /* its counter in its context (1-based); a map item's 0-based index */
    const char *context_id;            /* "" for the root */
    perdure_op_type expected_type, actual_type;
    const char *expected_sub_type, *actual_sub_type;
    const char *expected_name, *actual_name;   /* "" when unnamed */
} perdure_nondeterminism;

perdure_status perdure_vm_nondeterminism(const perdure_vm *vm, perdure_nondeterminism *out);

/* Loads the invocation input: the event a handler receives (§3.1) in the
 * VM's wire format. `now_ms` is the current time. */
perdure_status perdure_vm_start(perdure_vm *vm, const void *input, unsigned long long len, long long now_ms);

/* NULL when the state is complete; otherwise the marker of the next state
 * page to fetch (GetDurableExecutionState) and feed to perdure_vm_add_state. */
const char *perdure_vm_state_marker(const perdure_vm *vm);
perdure_status perdure_vm_add_state(perdure_vm *vm, const void *page, unsigned long long len);

/* Borrowed views of the execution. */
const char *perdure_vm_execution_arn(const perdure_vm *vm);
const char *perdure_vm_checkpoint_token(const perdure_vm *vm);
perdure_status perdure_vm_input(const perdure_vm *vm, const unsigned char **data, unsigned long long *len);

/* Whether user code is replaying: true until the first operation that has no
 * terminal record (the replay-aware logger stays silent while it is). */
int perdure_vm_is_replaying(const perdure_vm *vm);

/* Sets the time used for records made from now on (timers are the service's). */
perdure_status perdure_vm_set_now(perdure_vm *vm, long long now_ms);

/* ---- operations --------------------------------------------------------- */

typedef enum perdure_step_semantics {
    PERDURE_AT_LEAST_ONCE_PER_RETRY = 0,
    PERDURE_AT_MOST_ONCE_PER_RETRY = 1
} perdure_step_semantics;

typedef struct perdure_step_config {
    unsigned int size;
    perdure_step_semantics semantics;
    const perdure_retry_config *retry;   /* NULL: PERDURE_RETRY_DEFAULT */
    /* Non-zero: the caller runs a retry strategy of its own (a user-written
     * function) and reports every failure with perdure_vm_op_fail_decided,
     * including an interrupted at-most-once attempt, which perdure_vm_op_next
     * then hands back as PERDURE_NEXT_INTERRUPTED. */
    int caller_decides_retry;
} perdure_step_config;

typedef struct perdure_callback_config {
    unsigned int size;
    long long timeout_seconds;            /* 0: none */
    long long heartbeat_timeout_seconds;  /* 0: none */
} perdure_callback_config;

typedef enum perdure_nesting {
    PERDURE_NESTING_NESTED = 0,   /* one CONTEXT operation per item */
    PERDURE_NESTING_FLAT = 1      /* no item operation; items still prefix their ids */
} perdure_nesting;

typedef enum perdure_batch_kind {
    PERDURE_BATCH_MAP = 0,
    PERDURE_BATCH_PARALLEL = 1
} perdure_batch_kind;

typedef struct perdure_batch_config {
    unsigned int size;
    int max_concurrency;                       /* -1: unlimited; 0 is invalid */
    const perdure_completion_config *completion;  /* NULL: the kind's default
                                                  (map: fail-fast; parallel: all successful) */
    perdure_nesting nesting;
    const char *const *item_names;             /* NULL: "map-item-{i}" / "parallel-branch-{i}" */
} perdure_batch_config;

typedef struct perdure_condition_config {
    unsigned int size;
    const perdure_wait_config *wait;   /* NULL: decisions come from perdure_vm_op_condition_decided */
    const unsigned char *initial_state;
    unsigned long long initial_state_len;
} perdure_condition_config;

/* Each call below declares the next durable operation of context `ctx`. It
 * derives the operation's Id, checks it against the recorded operation
 * (PERDURE_E_NONDETERMINISM on a type, sub-type or name mismatch) and returns
 * its handle. Nothing runs until perdure_vm_op_next. `name` may be NULL. */
perdure_status perdure_vm_step(perdure_vm *vm, perdure_ctx ctx, const char *name,
                               const perdure_step_config *cfg, perdure_op *out);
/* seconds: 1..31622400 */
perdure_status perdure_vm_wait(perdure_vm *vm, perdure_ctx ctx, const char *name,
                               long long seconds, perdure_op *out);
perdure_status perdure_vm_callback(perdure_vm *vm, perdure_ctx ctx, const char *name,
                                   const perdure_callback_config *cfg, perdure_op *out);
/* sub_type NULL: "RunInChildContext". A virtual child writes no operation of
 * its own; its operations take the enclosing context as ParentId. */
perdure_status perdure_vm_child(perdure_vm *vm, perdure_ctx ctx, const char *name,
                                const char *sub_type, int is_virtual, perdure_op *out);
perdure_status perdure_vm_batch(perdure_vm *vm, perdure_ctx ctx, const char *name,
                                perdure_batch_kind kind, unsigned int item_count,
                                const perdure_batch_config *cfg, perdure_op *out);
perdure_status perdure_vm_wait_for_condition(perdure_vm *vm, perdure_ctx ctx, const char *name,
                                             const perdure_condition_config *cfg, perdure_op *out);
/* submitter_cfg: the submitter step's semantics and retry (NULL: defaults) */
perdure_status perdure_vm_wait_for_callback(perdure_vm *vm, perdure_ctx ctx, const char *name,
                                            const perdure_callback_config *cfg,
                                            const perdure_step_config *submitter_cfg, perdure_op *out);
perdure_status perdure_vm_invoke(perdure_vm *vm, perdure_ctx ctx, const char *name,
                                 const char *function_name, const char *tenant_id,
                                 const void *payload, unsigned long long payload_len, perdure_op *out);

typedef enum perdure_next {
    /* A synchronous update is queued: flush (perdure_vm_take_batch, send,
     * perdure_vm_apply_response) and ask again. */
    PERDURE_NEXT_CHECKPOINT = 1,
    /* Run the body: a step's function (perdure_vm_op_attempt), a child's or
     * item's function in the context of this op, a condition check over the
     * state in perdure_vm_op_result, or a wait_for_callback submitter with
     * perdure_vm_op_callback_id. Then report it (succeed / fail / suspended). */
    PERDURE_NEXT_EXECUTE = 2,
    /* Finished: the value is perdure_vm_op_result (for a callback created by
     * perdure_vm_callback: its answer). */
    PERDURE_NEXT_RESULT = 3,
    /* Finished with an error: raise perdure_vm_op_error. */
    PERDURE_NEXT_ERROR = 4,
    /* Only the service can move this on (timer, retry delay, callback,
     * invoke): unwind the calling context. */
    PERDURE_NEXT_SUSPEND = 5,
    /* An at-most-once step whose last attempt was interrupted (the process
     * died while it ran), declared with caller_decides_retry: it is not run
     * again. perdure_vm_op_error describes the interruption
     * (PERDURE_ERRK_STEP_INTERRUPTED); feed it to the retry strategy and
     * report with perdure_vm_op_fail_decided. */
    PERDURE_NEXT_INTERRUPTED = 6
} perdure_next;

perdure_status perdure_vm_op_next(perdure_vm *vm, perdure_op op, perdure_next *out);

/* Reports the body's outcome. For steps and checks this queues a synchronous
 * update (so the next perdure_vm_op_next says CHECKPOINT). perdure_vm_op_fail
 * consults the retry strategy of the step. */
perdure_status perdure_vm_op_succeed(perdure_vm *vm, perdure_op op, const void *payload, unsigned long long len);
perdure_status perdure_vm_op_fail(perdure_vm *vm, perdure_op op, const perdure_error_info *error);
/* For user-written retry strategies: the caller decided. */
perdure_status perdure_vm_op_fail_decided(perdure_vm *vm, perdure_op op, const perdure_error_info *error,
                                          int should_retry, long long delay_seconds);
/* The body of a child/item suspended (nothing is checkpointed). */
perdure_status perdure_vm_op_suspended(perdure_vm *vm, perdure_op op);
/* A child's summary, used instead of a result longer than
 * PERDURE_REPLAY_CHILDREN_THRESHOLD (then ReplayChildren is recorded). */
#define PERDURE_REPLAY_CHILDREN_THRESHOLD 262144
perdure_status perdure_vm_op_set_summary(perdure_vm *vm, perdure_op op, const void *summary, unsigned long long len);

/* wait_for_condition: the check returned `state`; continue polling or not.
 * With a wait config the VM picks the delay and stops on exhaustion. */
perdure_status perdure_vm_op_condition_checked(perdure_vm *vm, perdure_op op, const void *state,
                                               unsigned long long len, int should_continue);
perdure_status perdure_vm_op_condition_decided(perdure_vm *vm, perdure_op op, const void *state,
                                               unsigned long long len, int should_continue,
                                               long long delay_seconds);

/* Borrowed views of an operation. */
const char *perdure_vm_op_id(const perdure_vm *vm, perdure_op op);   /* NULL for a bad handle */
perdure_status perdure_vm_op_status(const perdure_vm *vm, perdure_op op, perdure_op_status *out);
/* 1-based attempt of the body about to run (StepDetails.Attempt + 1). */
perdure_status perdure_vm_op_attempt(const perdure_vm *vm, perdure_op op, unsigned int *out);
perdure_status perdure_vm_op_result(const perdure_vm *vm, perdure_op op, const unsigned char **data,
                                    unsigned long long *len);
perdure_status perdure_vm_op_error(const perdure_vm *vm, perdure_op op, perdure_error_view *out);
perdure_status perdure_vm_op_callback_id(const perdure_vm *vm, perdure_op op, const char **out);
/* The retry delay chosen when a step or check suspended for a retry. */
perdure_status perdure_vm_op_retry_delay(const perdure_vm *vm, perdure_op op, long long *seconds);

/* ---- the replay fast path for bindings ---------------------------------- */
/* One call where a binding replaying a step would make three: perdure_vm_step,
 * perdure_vm_op_next once, and perdure_vm_op_result when that says RESULT.
 * Optionally, the recorded result is also rewritten without the tagged
 * envelopes of the Python SDK's default serdes (protocol.md 3.6): when it is
 * an envelope whose tags are only n, s, i, f, b, m and l, written compactly
 * with each value of its tag's JSON type, `plain` receives the same value as
 * plain JSON, which a JSON parser reads into what that serdes would return
 * (m: object, l: array). Anything else leaves plain_len 0 and the binding
 * decodes `result` itself. */
typedef struct perdure_step_next_io {
    unsigned int size;                 /* sizeof(perdure_step_next_io) */
    /* In: the caller's buffer for the plain JSON (NULL: no rewriting). */
    unsigned char *plain;
    unsigned long long plain_cap;
    /* Out. */
    perdure_op op;                     /* the step, once declared */
    perdure_next next;                 /* what perdure_vm_op_next said */
    const unsigned char *result;       /* next RESULT: the recorded result, borrowed (NULL: none) */
    unsigned long long result_len;
    unsigned long long plain_len;      /* > 0: plain holds the rewritten result */
} perdure_step_next_io;

/* On an error from the declaration io->op is untouched; on one from
 * perdure_vm_op_next io->op is set. A result longer than plain_cap is not
 * rewritten. */
perdure_status perdure_vm_step_next(perdure_vm *vm, perdure_ctx ctx, const char *name,
                                    const perdure_step_config *cfg, perdure_step_next_io *io);

/* ---- map / parallel ----------------------------------------------------- */
typedef enum perdure_batch_action {
    PERDURE_BATCH_RUN_ITEM = 1,   /* start item `index`: drive `item` like a child context */
    PERDURE_BATCH_WAIT = 2,       /* items are running: report one, then poll again */
    PERDURE_BATCH_DONE = 3,       /* complete: read the outcome, then succeed the batch op */
    PERDURE_BATCH_SUSPEND = 4     /* nothing can run: suspend the calling context */
} perdure_batch_action;

typedef struct perdure_batch_poll {
    perdure_batch_action action;
    unsigned int index;
    perdure_op item;
} perdure_batch_poll;

perdure_status perdure_vm_batch_poll(perdure_vm *vm, perdure_op batch, perdure_batch_poll *out);

typedef struct perdure_batch_outcome {
    perdure_completion_reason reason;
    unsigned int total, succeeded, failed, started;
} perdure_batch_outcome;

perdure_status perdure_vm_batch_outcome(const perdure_vm *vm, perdure_op batch, perdure_batch_outcome *out);
/* SUCCEEDED, FAILED, STARTED (running or abandoned) or ABSENT (never started). */
perdure_status perdure_vm_batch_item(const perdure_vm *vm, perdure_op batch, unsigned int index,
                                     perdure_op_status *status, perdure_op *item);

/* ---- checkpoints ---------------------------------------------------------- */

/* Non-zero when a synchronous update waits to be flushed, or an update that
 * needs no answer has waited async_flush_ms. A binding whose user code runs
 * long (a step body) calls perdure_vm_set_now and this from a timer. */
int perdure_vm_wants_flush(const perdure_vm *vm);

/* Encodes the next batch of queued updates (FIFO, within the batch limits) as
 * a checkpoint request in the VM's wire format. out is empty when nothing is
 * queued. Each batch must be answered with perdure_vm_apply_response before
 * the next is taken. */
perdure_status perdure_vm_take_batch(perdure_vm *vm, perdure_buf *out);

/* Feeds the service's checkpoint response: the new token and the operations
 * that changed (the service's own completions included). */
perdure_status perdure_vm_apply_response(perdure_vm *vm, const void *response, unsigned long long len);

/* ---- ending the invocation ------------------------------------------------ */
typedef enum perdure_outcome {
    PERDURE_OUTCOME_SUCCEEDED = 0,
    PERDURE_OUTCOME_FAILED = 1,
    PERDURE_OUTCOME_PENDING = 2
} perdure_outcome;

/* Ends the invocation. payload is the handler's serialized result (SUCCEEDED),
 * error its error (FAILED). *next is PERDURE_NEXT_CHECKPOINT when updates must
 * be flushed first (an oversized result is checkpointed, §4.12), otherwise
 * PERDURE_NEXT_RESULT: the output is ready. PERDURE_OUTCOME_PENDING is refused
 * (PERDURE_E_MISUSE) unless an operation is waiting on the service. */
perdure_status perdure_vm_finish(perdure_vm *vm, perdure_outcome outcome, const void *payload,
                                 unsigned long long len, const perdure_error_info *error, perdure_next *next);

/* The invocation output (§3.2) in the VM's wire format. */
perdure_status perdure_vm_output(perdure_vm *vm, perdure_buf *out);

/* The output of an invocation that failed with `error`, encoded without a VM
 * (in opts->wire; opts NULL: defaults): for a binding whose VM is poisoned
 * (non-deterministic replay) or could not be created. */
perdure_status perdure_output_failed(const perdure_vm_options *opts, const perdure_error_info *error,
                                    perdure_buf *output);

/* ---- the embedded service: a store of executions ------------------------- */
/* A SQLite file (WAL, synchronous=FULL by default) holding executions, their
 * operations, histories and status-change events. Several processes may open
 * the same file; each applied checkpoint batch is one transaction. Workers
 * lease ready executions, run one invocation through the replay VM
 * (PERDURE_WIRE_MSGPACK) and hand its checkpoints and output back. Readers get
 * JSON in the AWS API's shapes. Statuses: PERDURE_E_NOT_FOUND (unknown
 * execution or callback), PERDURE_E_CONFLICT (already completed, timed out or
 * ended), PERDURE_E_BUSY (the file is locked), PERDURE_E_STORE (I/O or a
 * corrupt file), with the reason in perdure_store_errmsg. */
#define PERDURE_E_NOT_FOUND -10
#define PERDURE_E_CONFLICT -11
#define PERDURE_E_BUSY -12
#define PERDURE_E_STORE -13

typedef struct perdure_store perdure_store;

/* Epoch milliseconds; tests pass a clock they skip forward. */
typedef long long (*perdure_clock_fn)(void *user);

typedef struct perdure_store_options {
    unsigned int size;
    perdure_clock_fn clock;               /* NULL: the wall clock */
    void *clock_user;
    int synchronous_normal;               /* 0: synchronous=FULL; 1: NORMAL (faster, may lose the last commits on power loss) */
    long long lease_ms;                   /* 0: 60000; an invocation not finished by then is taken as crashed */
    long long busy_timeout_ms;            /* 0: 5000 */
} perdure_store_options;

/* path ":memory:" keeps everything in this process. *out is set even when
 * opening fails, so that perdure_store_errmsg can say why: close it anyway. */
perdure_status perdure_store_open(const char *path, const perdure_store_options *opts, perdure_store **out);
void perdure_store_close(perdure_store *store);
const char *perdure_store_errmsg(const perdure_store *store);

typedef struct perdure_start_options {
    unsigned int size;
    const char *function_name;            /* required */
    const char *version;                  /* NULL: "$LATEST"; only workers serving it resume the execution */
    const char *name;                     /* NULL: generated; an existing name returns that execution */
    const void *input;                    /* JSON text; NULL: null */
    unsigned long long input_len;
    long long execution_timeout_seconds;  /* 0: 31622400 */
} perdure_start_options;

/* Starts an execution, or finds the one already started under this name
 * (*existed = 1). *arn receives the DurableExecutionArn (NUL-terminated). */
perdure_status perdure_store_start(perdure_store *store, const perdure_start_options *opts, perdure_buf *arn,
                                   int *existed);

/* Readers, JSON out. describe: GetDurableExecution's shape. list:
 * {"DurableExecutions":[...]} filtered by function and status (NULL: all).
 * operations: {"Operations":[Operation...]} with timestamps in epoch seconds.
 * history: GetDurableExecutionHistory's {"Events":[...]}. */
perdure_status perdure_store_describe(perdure_store *store, const char *arn, perdure_buf *json);
perdure_status perdure_store_list(perdure_store *store, const char *function_name, const char *status,
                                  perdure_buf *json);
perdure_status perdure_store_operations(perdure_store *store, const char *arn, perdure_buf *json);
perdure_status perdure_store_history(perdure_store *store, const char *arn, int include_data, perdure_buf *json);
/* Status-change events after sequence number `after` (0: from the start), as
 * {"Events":[{"Sequence", "detail-type":"Durable Execution Status Change",
 * "time", "detail":{"durableExecutionArn","durableExecutionName","functionArn",
 * "status","startTimestamp","endTimestamp"?}}]}; *last is the newest sequence. */
perdure_status perdure_store_status_events(perdure_store *store, long long after, perdure_buf *json, long long *last);

/* The outside world. A callback is answered once; later answers are refused. */
perdure_status perdure_store_callback_succeed(perdure_store *store, const char *callback_id, const void *result,
                                              unsigned long long len);
perdure_status perdure_store_callback_fail(perdure_store *store, const char *callback_id,
                                           const perdure_error_info *error);
perdure_status perdure_store_callback_heartbeat(perdure_store *store, const char *callback_id);
perdure_status perdure_store_stop(perdure_store *store, const char *arn, const perdure_error_info *error);

/* Workers. A lease is one invocation of one execution. */
typedef struct perdure_lease perdure_lease;

typedef struct perdure_function_ref {
    const char *name;
    const char *version;                  /* NULL: "$LATEST" */
} perdure_function_ref;

/* Leases the next execution of one of `functions` that is ready now (new,
 * timer due, callback answered, retry due, previous invocation crashed or its
 * lease expired). *out is NULL when none is ready. */
perdure_status perdure_store_lease(perdure_store *store, const perdure_function_ref *functions, unsigned int n,
                                   const char *worker_id, perdure_lease **out);
/* The invocation input (PERDURE_WIRE_MSGPACK), borrowed from the lease. */
perdure_status perdure_lease_input(const perdure_lease *lease, const unsigned char **data, unsigned long long *len);
const char *perdure_lease_function(const perdure_lease *lease);
const char *perdure_lease_arn(const perdure_lease *lease);
/* A perdure_transport_fn-compatible call: applies one checkpoint request. */
perdure_status perdure_lease_checkpoint(void *lease, const unsigned char *request, unsigned long long len,
                                        perdure_buf *response);
/* Ends the invocation with its output and frees the lease. On failure the
 * reason is in perdure_store_errmsg (the lease is gone). */
perdure_status perdure_lease_complete(perdure_lease *lease, const void *output, unsigned long long len);
/* Ends the invocation as crashed (the handler could not finish) and frees it;
 * on failure the reason is in perdure_store_errmsg. */
perdure_status perdure_lease_abandon(perdure_lease *lease, const char *reason);
const char *perdure_lease_errmsg(const perdure_lease *lease);

/* Declares worker_id dead (its process exited while it held leases): its
 * leases expire now, so their executions are re-invoked from the last
 * checkpoint and the interrupted invocations are recorded as crashed, without
 * waiting for lease_ms. A supervisor calls this after reaping a worker.
 * *released (may be NULL) is the number of leases released. */
perdure_status perdure_store_release_worker(perdure_store *store, const char *worker_id, unsigned int *released);

/* When something of `functions` may next become ready, in epoch ms (-1:
 * nothing is scheduled). A worker sleeps until then or until
 * perdure_store_wait_change reports a change made by another process. */
perdure_status perdure_store_next_wakeup(perdure_store *store, const perdure_function_ref *functions, unsigned int n,
                                         long long *due_ms);
/* Blocks up to timeout_ms for a commit by any process on this store;
 * *changed = 1 if one happened. Uses no CPU while it waits. */
perdure_status perdure_store_wait_change(perdure_store *store, long long timeout_ms, int *changed);

/* The store's clock in epoch ms: perdure_store_options.clock when set, else
 * the wall clock (-1 for NULL). Workers pass it to perdure_invoke_handler as
 * now_ms, so that a test's skipped clock and the store agree. */
long long perdure_store_now(perdure_store *store);

/* perdure_store_lease, but when nothing is ready it blocks, using no CPU,
 * until something may be: it sleeps in perdure_store_wait_change until the
 * next scheduled wakeup (perdure_store_next_wakeup; a timer, a retry, an
 * expired lease) or a commit by another handle or process (a new execution, a
 * callback answer), then tries again. Returns with *out NULL when nothing was
 * leased within max_wait_ms (0: one try, < 0: wait forever). Waits are
 * measured on the monotonic clock; a store clock that is skipped forward while
 * the call sleeps is noticed at the next commit or timeout. This is the loop
 * of every worker, whatever its language. */
perdure_status perdure_store_lease_wait(perdure_store *store, const perdure_function_ref *functions, unsigned int n,
                                        const char *worker_id, long long max_wait_ms, perdure_lease **out);

/* ---- the C SDK: durable functions written in C ---------------------------- */
/* A durable C function drives the VM through a perdure_context and a transport
 * that carries batches to a service. Payloads are opaque bytes to the SDK. */

typedef struct perdure_context perdure_context;

/* Sends one checkpoint request; fills *response (allocated with malloc, freed
 * by the SDK). Returns PERDURE_OK or an error. */
typedef perdure_status (*perdure_transport_fn)(void *user, const unsigned char *request,
                                               unsigned long long request_len, perdure_buf *response);

/* A body that produces a result: writes *result (malloc'd bytes, owned by the
 * SDK afterwards) or fills *error and returns non-zero. */
typedef int (*perdure_step_fn)(void *user, unsigned int attempt, perdure_buf *result, perdure_error_info *error);
typedef int (*perdure_child_fn)(perdure_context *ctx, void *user, perdure_buf *result, perdure_error_info *error);
typedef int (*perdure_item_fn)(perdure_context *ctx, void *user, unsigned int index, perdure_buf *result,
                               perdure_error_info *error);
typedef int (*perdure_submit_fn)(void *user, const char *callback_id, perdure_error_info *error);
typedef int (*perdure_handler_fn)(perdure_context *ctx, void *user, const unsigned char *input,
                                  unsigned long long input_len, perdure_buf *result, perdure_error_info *error);

/* Runs one invocation: loads the input event, runs handler, flushes its
 * checkpoints through transport and writes the invocation output (§3.2) to
 * *output. A handler that returns non-zero with *error set fails the
 * execution; one that returns after an operation said PERDURE_SDK_SUSPEND
 * suspends it. Deterministic errors (non-deterministic replay, invalid
 * arguments, oversized payloads) also end the execution FAILED, with the
 * status name as ErrorType. Only a failing transport, NOMEM or INTERNAL make
 * this function return an error: the invocation should then be retried.
 * Paged state (a NextMarker in the input) is refused with PERDURE_E_PROTOCOL. */
perdure_status perdure_invoke_handler(const perdure_vm_options *opts, const void *input, unsigned long long input_len,
                                      long long now_ms, perdure_handler_fn handler, void *handler_user,
                                      perdure_transport_fn transport, void *transport_user, perdure_buf *output);

/* Operations inside a handler return PERDURE_OK and say in *outcome how the
 * operation ended. Result views are borrowed until the handler returns. */
typedef enum perdure_sdk_outcome {
    PERDURE_SDK_OK = 0,         /* finished: the result (if any) is in *result */
    PERDURE_SDK_ERROR = 1,      /* failed: perdure_context_last_error describes it */
    PERDURE_SDK_SUSPEND = 2     /* return from the body at once: the invocation suspends */
} perdure_sdk_outcome;

/* The VM under a context, e.g. for perdure_vm_is_replaying. */
perdure_vm *perdure_context_vm(perdure_context *ctx);
perdure_status perdure_context_step(perdure_context *ctx, const char *name, const perdure_step_config *cfg,
                                    perdure_step_fn fn, void *user, perdure_sdk_outcome *outcome,
                                    const unsigned char **result, unsigned long long *result_len);
perdure_status perdure_context_wait(perdure_context *ctx, const char *name, long long seconds,
                                    perdure_sdk_outcome *outcome);
perdure_status perdure_context_create_callback(perdure_context *ctx, const char *name,
                                               const perdure_callback_config *cfg, perdure_op *callback,
                                               const char **callback_id);
perdure_status perdure_context_callback_result(perdure_context *ctx, perdure_op callback,
                                               perdure_sdk_outcome *outcome, const unsigned char **result,
                                               unsigned long long *result_len);
perdure_status perdure_context_wait_for_callback(perdure_context *ctx, const char *name,
                                                 const perdure_callback_config *cfg, perdure_submit_fn submitter,
                                                 void *user, perdure_sdk_outcome *outcome,
                                                 const unsigned char **result, unsigned long long *result_len);
perdure_status perdure_context_run_child(perdure_context *ctx, const char *name, perdure_child_fn fn, void *user,
                                         perdure_sdk_outcome *outcome, const unsigned char **result,
                                         unsigned long long *result_len);
/* A chained invoke (protocol.md 4.10): starts function_name (a name, or an
 * ARN arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]) with
 * payload (JSON text, may be NULL) as its input, once: a replay never invokes
 * the target again. The caller suspends until the target ends; then
 * PERDURE_SDK_OK with the target's result, or PERDURE_SDK_ERROR with its
 * error (perdure_context_last_error) when it failed, timed out or stopped. */
perdure_status perdure_context_invoke(perdure_context *ctx, const char *name, const char *function_name,
                                      const void *payload, unsigned long long payload_len,
                                      perdure_sdk_outcome *outcome, const unsigned char **result,
                                      unsigned long long *result_len);
/* Item i runs fn(ctx, user, i). Read items afterwards with perdure_vm_batch_item
 * and perdure_vm_op_result on perdure_context_vm(ctx). */
perdure_status perdure_context_map(perdure_context *ctx, const char *name, unsigned int item_count,
                                   const perdure_batch_config *cfg, perdure_item_fn fn, void *user,
                                   perdure_sdk_outcome *outcome, perdure_op *batch);
/* Branch i runs fns[i] with users[i] (users may be NULL). The default
 * completion is all-successful, as the official SDKs'. */
perdure_status perdure_context_parallel(perdure_context *ctx, const char *name, unsigned int branch_count,
                                        const perdure_child_fn *fns, void *const *users,
                                        const perdure_batch_config *cfg, perdure_sdk_outcome *outcome,
                                        perdure_op *batch);
/* The error of the last operation that ended with PERDURE_SDK_ERROR. */
perdure_status perdure_context_last_error(perdure_context *ctx, perdure_error_view *out);

/* ---- the worker runtime: durable C functions served from a store ---------- */

/* A function a worker serves: name and version as in perdure_function_ref,
 * the handler and its user pointer. In an array, every entry's size is the
 * first entry's (sizeof the struct). */
typedef struct perdure_worker_function {
    unsigned int size;
    const char *name;                     /* required */
    const char *version;                  /* NULL: "$LATEST" */
    perdure_handler_fn handler;           /* required */
    void *user;                           /* handed to handler */
} perdure_worker_function;

/* One turn of a worker: leases the next ready execution of `functions`
 * (perdure_store_lease_wait, up to max_wait_ms), runs one invocation of its
 * handler in this thread (perdure_invoke_handler: msgpack wire, transport
 * perdure_lease_checkpoint, now_ms from perdure_store_now) and completes the
 * lease with the output. *ran is 1 when an invocation ran, 0 when nothing was
 * ready in time. If the invocation could not finish (a failing checkpoint,
 * NOMEM) the lease is abandoned, which records a crash: the execution is
 * re-invoked from its last checkpoint. Returns that error, or the lease's
 * (PERDURE_E_CONFLICT: the lease expired and another worker took the
 * execution over), with the reason in perdure_store_errmsg; such errors
 * concern one invocation and a worker carries on. A C worker is
 *
 *     while (!stop) perdure_worker_run_one(store, fns, n, "worker-1", 1000, &ran);
 */
perdure_status perdure_worker_run_one(perdure_store *store, const perdure_worker_function *functions, unsigned int n,
                                      const char *worker_id, long long max_wait_ms, int *ran);

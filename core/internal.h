/* Internal model shared by the core's modules. Not installed; not ABI. */
#ifndef PERDURE_INTERNAL_H
#define PERDURE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The public API is exported; everything else is hidden by -fvisibility=hidden
 * (and the linker version script). Internal names use the pd_ prefix. */
#pragma GCC visibility push(default)
#include "perdure.h"
#pragma GCC visibility pop

/* ---- protocol limits (protocol.md §8) ---- */
#define PD_MAX_PAYLOAD 6291456ULL          /* Payload, Result, InputPayload */
#define PD_MAX_STEP_RESULT 262144ULL       /* service limit on a STEP result */
#define PD_MAX_ERROR_JSON 32768ULL
#define PD_MAX_ID 64
#define PD_MAX_NAME 256
#define PD_MAX_SUBTYPE 32
#define PD_MAX_DURATION 31622400LL         /* WaitSeconds, NextAttemptDelaySeconds */
#define PD_LAMBDA_MAX_UPDATES 250ULL
#define PD_LAMBDA_MAX_BATCH_BYTES (750ULL * 1024)

/* Returns a failed status from the enclosing function. */
#define TRY(expr)                                                                                                      \
    do {                                                                                                               \
        perdure_status st_ = (expr);                                                                                   \
        if (st_)                                                                                                       \
            return st_;                                                                                                \
    } while (0)

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- an error slot: status plus message, kept on a handle ---- */
typedef struct pd_err {
    perdure_status code;
    char msg[512];
} pd_err;

/* Sets err (when not NULL) and returns code. printf-style. */
perdure_status pd_fail(pd_err *err, perdure_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- owned byte strings ---- */
/* data is NUL-terminated (data[len] == 0) so text can be used as a C string.
 * present == false means the field is absent (distinct from empty). */
typedef struct pd_bytes {
    char *data;
    size_t len;
    bool present;
} pd_bytes;

int pd_bytes_set(pd_bytes *b, const void *data, size_t len);   /* 0 ok, -1 nomem */
int pd_bytes_set_str(pd_bytes *b, const char *s);              /* NULL: absent */
void pd_bytes_clear(pd_bytes *b);

/* ---- growable output buffer ---- */
typedef struct pd_buf {
    unsigned char *data;
    size_t len, cap;
    bool oom;     /* sticky: set when an append failed */
} pd_buf;

void pd_buf_init(pd_buf *b);
void pd_buf_free(pd_buf *b);
int pd_buf_reserve(pd_buf *b, size_t extra);
int pd_buf_append(pd_buf *b, const void *data, size_t len);
int pd_buf_append_str(pd_buf *b, const char *s);
int pd_buf_printf(pd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Moves the contents into a public perdure_buf. */
void pd_buf_release(pd_buf *b, perdure_buf *out);

/* ---- compact JSON writer (json_writer.c) ---- */
bool pd_utf8_valid(const void *text, size_t len);

/* Commas come by themselves; a bad text, nomem or unbalanced nesting is
 * reported once, by pd_jw_finish, which then drops what was written. */
typedef struct pd_jw {
    pd_buf *out;
    size_t start;
    unsigned depth;
    uint32_t has_members;   /* bit d: the container at depth d is not empty */
    bool after_key, bad_text, too_deep;
} pd_jw;

void pd_jw_init(pd_jw *w, pd_buf *out);
void pd_jw_object(pd_jw *w);
void pd_jw_end_object(pd_jw *w);
void pd_jw_array(pd_jw *w);
void pd_jw_end_array(pd_jw *w);
void pd_jw_key(pd_jw *w, const char *key);   /* plain ASCII: written as is */
void pd_jw_string(pd_jw *w, const char *s, size_t len);
void pd_jw_int(pd_jw *w, int64_t v);
void pd_jw_real(pd_jw *w, double v);
void pd_jw_bool(pd_jw *w, bool v);
void pd_jw_raw(pd_jw *w, const void *json, size_t len);   /* a value already encoded */
perdure_status pd_jw_finish(pd_jw *w, const char *what, pd_err *err);

/* ---- ErrorObject ---- */
typedef struct pd_error {
    pd_bytes type, message, data;
    char **stack;          /* stack_len NUL-terminated lines */
    size_t stack_len;
} pd_error;

pd_error *pd_error_new(void);
pd_error *pd_error_from_info(const perdure_error_info *info);   /* NULL on nomem */
pd_error *pd_error_clone(const pd_error *e);
void pd_error_free(pd_error *e);

/* ---- Operation (service -> SDK, protocol.md §3.3) ---- */
typedef struct pd_operation {
    char id[PD_MAX_ID + 1];
    char parent_id[PD_MAX_ID + 1];        /* "" when absent */
    pd_bytes name;                        /* absent when unnamed */
    perdure_op_type type;
    char sub_type[PD_MAX_SUBTYPE + 1];    /* "" when absent */
    perdure_op_status status;
    int64_t start_ms, end_ms;             /* 0 when absent */
    /* details: which are meaningful depends on type */
    pd_bytes input_payload;               /* ExecutionDetails.InputPayload */
    bool replay_children;                 /* ContextDetails.ReplayChildren */
    pd_bytes result;                      /* *Details.Result */
    pd_error *error;                      /* *Details.Error, NULL when absent */
    uint32_t attempt;                     /* StepDetails.Attempt */
    int64_t next_attempt_ms;              /* StepDetails.NextAttemptTimestamp, 0 absent */
    int64_t scheduled_end_ms;             /* WaitDetails.ScheduledEndTimestamp, 0 absent */
    pd_bytes callback_id;                 /* CallbackDetails.CallbackId */
} pd_operation;

void pd_operation_init(pd_operation *op);
void pd_operation_clear(pd_operation *op);       /* frees owned fields, re-inits */
int pd_operation_copy(pd_operation *dst, const pd_operation *src);  /* dst must be clear; 0 ok */

/* ---- OperationUpdate (SDK -> service, §3.4) ---- */
typedef struct pd_update {
    char id[PD_MAX_ID + 1];
    char parent_id[PD_MAX_ID + 1];        /* "" when absent */
    pd_bytes name;
    perdure_op_type type;
    char sub_type[PD_MAX_SUBTYPE + 1];
    perdure_action action;
    pd_bytes payload;
    pd_error *error;
    bool has_context_options;             /* ContextOptions present */
    bool replay_children;
    int64_t next_attempt_delay_s;         /* StepOptions.NextAttemptDelaySeconds, 0 absent */
    int64_t wait_seconds;                 /* WaitOptions.WaitSeconds, 0 absent */
    bool has_callback_options;
    int64_t callback_timeout_s, callback_heartbeat_s;
    pd_bytes function_name, tenant_id;    /* ChainedInvokeOptions */
} pd_update;

void pd_update_init(pd_update *u);
void pd_update_clear(pd_update *u);

/* ---- invocation input / checkpoint response / state page ---- */
typedef struct pd_op_list {
    pd_operation *items;
    size_t len, cap;
} pd_op_list;

void pd_op_list_free(pd_op_list *l);
/* Appends a zeroed operation and returns it, NULL on nomem. */
pd_operation *pd_op_list_push(pd_op_list *l);

typedef struct pd_invocation {
    pd_bytes arn;               /* DurableExecutionArn */
    pd_bytes token;             /* CheckpointToken */
    pd_op_list ops;             /* InitialExecutionState.Operations */
    pd_bytes next_marker;       /* InitialExecutionState.NextMarker ("" or absent = done) */
} pd_invocation;

void pd_invocation_free(pd_invocation *inv);

typedef struct pd_checkpoint_response {
    pd_bytes token;             /* absent when the execution became terminal */
    pd_op_list ops;             /* NewExecutionState.Operations */
    pd_bytes next_marker;
} pd_checkpoint_response;

void pd_checkpoint_response_free(pd_checkpoint_response *r);

/* Invocation output (§3.2). */
typedef struct pd_output {
    perdure_outcome status;
    pd_bytes result;            /* SUCCEEDED */
    pd_error *error;            /* FAILED, optional */
} pd_output;

void pd_output_free(pd_output *o);

/* ---- enum <-> wire text ---- */
const char *pd_type_name(perdure_op_type t);          /* "STEP" */
int pd_type_parse(const char *s, perdure_op_type *out);        /* 0 ok, -1 unknown */
const char *pd_status_name(perdure_op_status s);      /* "SUCCEEDED"; ABSENT -> NULL */
int pd_status_parse(const char *s, perdure_op_status *out);
const char *pd_action_name(perdure_action a);
int pd_action_parse(const char *s, perdure_action *out);
const char *pd_outcome_name(perdure_outcome o);
int pd_outcome_parse(const char *s, perdure_outcome *out);

/* ---- JSON codec: the Lambda wire shapes (codec_json.c, jansson) ----
 * Invocation input timestamps are epoch milliseconds; checkpoint response and
 * state page timestamps are epoch seconds with a fraction (§3.6). All decoders
 * reject bad input with PERDURE_E_DECODE and a message naming the field. */
perdure_status pd_json_decode_invocation(const void *data, size_t len, pd_invocation *out, pd_err *err);
perdure_status pd_json_encode_invocation(const pd_invocation *inv, pd_buf *out, pd_err *err);
perdure_status pd_json_decode_checkpoint_response(const void *data, size_t len, pd_checkpoint_response *out, pd_err *err);
perdure_status pd_json_encode_checkpoint_response(const pd_checkpoint_response *r, pd_buf *out, pd_err *err);
/* GetDurableExecutionState response: {Operations, NextMarker} */
perdure_status pd_json_decode_state_page(const void *data, size_t len, pd_op_list *ops, pd_bytes *next_marker, pd_err *err);
/* The size in bytes of one update's JSON encoding (for the 750 KiB limit). */
size_t pd_json_update_size(const pd_update *u);
/* {"CheckpointToken":..., "Updates":[...], "ClientToken":...} (client_token may be NULL) */
perdure_status pd_json_encode_checkpoint_request(const char *token, const pd_update *updates, size_t n,
                                                 const char *client_token, pd_buf *out, pd_err *err);
perdure_status pd_json_decode_checkpoint_request(const void *data, size_t len, pd_bytes *token, pd_update **updates,
                                                 size_t *n, pd_bytes *client_token, pd_err *err);
perdure_status pd_json_encode_output(const pd_output *o, pd_buf *out, pd_err *err);
perdure_status pd_json_decode_output(const void *data, size_t len, pd_output *out, pd_err *err);
/* ErrorObject <-> JSON text (also used for callback failure bodies). */
perdure_status pd_json_encode_error(const pd_error *e, pd_buf *out, pd_err *err);
perdure_status pd_json_decode_error(const void *data, size_t len, pd_error **out, pd_err *err);

/* ---- msgpack codec: stored records and engine batches (codec_msgpack.c) ----
 * Layouts in schema/records.md. Payloads of at least `compress_threshold`
 * bytes are stored zstd-compressed (threshold 0 disables compression). */
perdure_status pd_mp_encode_operation(const pd_operation *op, size_t compress_threshold, pd_buf *out, pd_err *err);
perdure_status pd_mp_decode_operation(const void *data, size_t len, pd_operation *out, pd_err *err);
perdure_status pd_mp_encode_update(const pd_update *u, size_t compress_threshold, pd_buf *out, pd_err *err);
perdure_status pd_mp_decode_update(const void *data, size_t len, pd_update *out, pd_err *err);
perdure_status pd_mp_encode_invocation(const pd_invocation *inv, size_t compress_threshold, pd_buf *out, pd_err *err);
perdure_status pd_mp_decode_invocation(const void *data, size_t len, pd_invocation *out, pd_err *err);
perdure_status pd_mp_encode_checkpoint_request(const char *token, const pd_update *updates, size_t n,
                                               const char *client_token, size_t compress_threshold, pd_buf *out,
                                               pd_err *err);
perdure_status pd_mp_decode_checkpoint_request(const void *data, size_t len, pd_bytes *token, pd_update **updates,
                                               size_t *n, pd_bytes *client_token, pd_err *err);
perdure_status pd_mp_encode_checkpoint_response(const pd_checkpoint_response *r, size_t compress_threshold,
                                                pd_buf *out, pd_err *err);
perdure_status pd_mp_decode_checkpoint_response(const void *data, size_t len, pd_checkpoint_response *out, pd_err *err);
perdure_status pd_mp_encode_output(const pd_output *o, size_t compress_threshold, pd_buf *out, pd_err *err);
perdure_status pd_mp_decode_output(const void *data, size_t len, pd_output *out, pd_err *err);
/* The encoded size of one update without compression (batch limits). */
size_t pd_mp_update_size(const pd_update *u);
/* At least pd_mp_update_size and pd_json_update_size, without encoding: a
 * batch whose bounds fit the byte limit needs no exact sizes (codec_common.c). */
size_t pd_update_size_bound(const pd_update *u);
void pd_updates_free(pd_update *updates, size_t n);    /* frees an array from a decoder */

/* ---- zstd (compress.c) ---- */
perdure_status pd_zstd_compress(const void *src, size_t len, pd_buf *out, pd_err *err);
/* max_out bounds the decompressed size (zip bombs): PERDURE_E_TOO_LARGE past it. */
perdure_status pd_zstd_decompress(const void *src, size_t len, size_t max_out, pd_buf *out, pd_err *err);

/* ---- operation ids (ids.c) ---- */
/* raw = ctx_prefix ? "<prefix>-<n>" : "<n>"; hashed into out (65 bytes). */
perdure_status pd_id_for(perdure_id_scheme scheme, const char *prefix, uint64_t n, char out[PD_MAX_ID + 1]);

/* Writes n in decimal to out (at least 21 bytes, NUL-terminated); returns its length. */
size_t pd_u64_dec(uint64_t n, char out[21]);

/* ---- strategies (retry.c, completion.c) ---- */
/* Pure functions behind perdure_retry_decide / perdure_wait_decide /
 * perdure_completion_check; they validate their config. */
perdure_status pd_retry_decide(const perdure_retry_config *cfg, unsigned attempts_made, const pd_error *error,
                               double random01, perdure_retry_decision *out, pd_err *err);
perdure_status pd_wait_decide(const perdure_wait_config *cfg, unsigned attempt, double random01,
                              perdure_retry_decision *out, pd_err *err);
perdure_status pd_completion_validate(const perdure_completion_config *cfg, unsigned total, pd_err *err);
perdure_completion_reason pd_completion_check(const perdure_completion_config *cfg, unsigned total,
                                              unsigned succeeded, unsigned failed);

/* ---- an index from operation Id to a position in the caller's array ----
 * Open addressing over positions; the array holds the Ids (at id_offset in
 * elements of `stride` bytes) and may move between calls. */
typedef struct pd_id_array {
    const void *base;
    size_t stride, id_offset;
} pd_id_array;

typedef struct pd_id_index {
    uint32_t *slots;   /* position + 1; 0 is empty */
    size_t cap;
} pd_id_index;

/* The position of id, or SIZE_MAX. */
size_t pd_id_index_find(const pd_id_index *ix, pd_id_array arr, const char *id);
/* Indexes position pos (count: elements in the array, pos included); ids are
 * unique. 0 ok, -1 nomem (the index is unchanged). */
int pd_id_index_add(pd_id_index *ix, pd_id_array arr, size_t count, size_t pos);
void pd_id_index_free(pd_id_index *ix);

/* ---- a sorted set of positions (in an operation or event array) ----
 * What the per-checkpoint paths visit instead of the whole array. The caller
 * reserves room for every position it may add (pd_posset_reserve with the
 * array's capacity), so adding never fails. */
typedef struct pd_posset {
    size_t *at;   /* ascending */
    size_t len, cap;
} pd_posset;

int pd_posset_reserve(pd_posset *s, size_t cap);   /* 0 ok, -1 nomem (s unchanged) */
bool pd_posset_has(const pd_posset *s, size_t pos);
void pd_posset_add(pd_posset *s, size_t pos);      /* no-op when present */
void pd_posset_del(pd_posset *s, size_t pos);      /* no-op when absent */
void pd_posset_set(pd_posset *s, size_t pos, bool member);
void pd_posset_free(pd_posset *s);

/* ---- deterministic PRNG for jitter (splitmix64 seeded xoshiro256**) ---- */
typedef struct pd_rng {
    uint64_t s[4];
} pd_rng;

void pd_rng_seed(pd_rng *r, uint64_t seed);
double pd_rng_next01(pd_rng *r);   /* uniform in [0,1) */

#endif

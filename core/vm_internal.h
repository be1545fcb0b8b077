/* The replay VM's private state (vm.c). */
#ifndef PERDURE_VM_INTERNAL_H
#define PERDURE_VM_INTERNAL_H

#include "internal.h"

typedef enum pd_kind {
    K_ROOT,
    K_STEP,
    K_WAIT,
    K_CALLBACK,
    K_CHILD,
    K_BATCH,
    K_ITEM,
    K_CONDITION,
    K_WFC,
    K_INVOKE
} pd_kind;

typedef enum pd_phase {
    PH_NEW,
    PH_WAIT_START,
    PH_RUNNING,
    PH_CREATED,
    PH_WAIT_DONE,
    PH_RESULT,
    PH_ERROR,
    PH_SUSPEND,
    PH_INTERRUPTED   /* waits for the caller's decision on an interrupted attempt */
} pd_phase;

typedef enum pd_item_state {
    ITEM_NOT_STARTED,
    ITEM_RUNNING,
    ITEM_SUSPENDED,
    ITEM_SUCCEEDED,
    ITEM_FAILED
} pd_item_state;

typedef struct pd_item {
    pd_item_state state;
    uint32_t op;          /* index of the item's vm_op once started */
    pd_bytes name;        /* custom name, absent for the default */
} pd_item;

typedef struct vm_op {
    pd_kind kind;
    pd_phase phase;
    perdure_op_type type;
    char sub_type[PD_MAX_SUBTYPE + 1];
    char id[PD_MAX_ID + 1];
    pd_bytes name;
    pd_bytes prefix;          /* js ids: the raw path child ids extend (py ones hash from id) */
    uint32_t ctx;             /* index of the enclosing context */
    uint64_t counter;         /* contexts: operations declared so far */
    uint64_t position;        /* this op's number in its context */
    bool is_virtual;
    bool orphaned;
    bool replay_body;         /* a context re-run over ReplayChildren records */
    uint64_t wait_seq;        /* the sync update this op waits for */
    perdure_next pending_next;   /* contexts: the answer once wait_seq is acked */
    perdure_error_kind error_kind;
    pd_error *error;          /* a local error (virtual contexts) */
    pd_bytes value;           /* a context's full result (the record may hold a summary) */
    pd_bytes summary;
    /* steps and condition checks */
    unsigned attempt;
    long long retry_delay;
    /* waits, callbacks */
    long long wait_seconds;
    long long callback_timeout_s, callback_heartbeat_s;
    /* What only one kind needs shares the space (op_free frees by kind):
     * a replay of 100,000 operations holds 100,000 of these. */
    union {
        struct {   /* K_STEP, and K_WFC for its submitter step */
            perdure_step_semantics semantics;
            bool caller_decides_retry;
            perdure_retry_config retry;
            void *retry_strings;   /* owned copies of the retry filters */
        };
        struct {   /* K_CONDITION */
            bool has_wait;
            perdure_wait_config wait;
            pd_bytes initial_state;
        };
        struct {   /* K_INVOKE */
            pd_bytes invoke_payload, function_name, tenant_id;
        };
        struct {   /* K_BATCH */
            perdure_batch_kind batch_kind;
            perdure_completion_config completion;
            unsigned max_concurrency;
            perdure_nesting nesting;
            unsigned item_count, next_item, running, succeeded, failed;
            pd_item *items;
            bool batch_done;
            perdure_completion_reason reason;
        };
        unsigned item_index;   /* K_ITEM: index in the batch */
    };
    /* wait_for_callback: its two children */
    uint32_t callback, submitter;
} vm_op;

typedef struct pd_queued {
    pd_update u;
    uint64_t seq;
    bool sync;
    long long queued_ms;   /* the VM's clock when queued */
} pd_queued;

struct perdure_vm {
    perdure_vm_options opts;
    pd_err err;
    perdure_status poisoned;
    perdure_nondeterminism nd;
    char *nd_strings;
    pd_rng rng;
    uint16_t tag;             /* stamped into handles: a foreign handle is refused */
    uint16_t client_tag;      /* in ClientTokens: depends on the seed only */
    long long now_ms;
    bool started, finishing, terminal, replaying, execution;
    /* Replay lasts until every completed record has been visited (declared,
     * or inside a context replayed as a whole): visited[i] for records.items[i]
     * as loaded at the start, replay_left of them still to visit. */
    unsigned char *visited;
    size_t visited_len, replay_left;
    pd_bytes arn, token, marker, execution_id;
    /* recorded operations: a list plus an open-addressing index over it */
    pd_op_list records;
    pd_id_index index;
    /* declared operations; ops[0] is the root context */
    vm_op *ops;
    size_t ops_len, ops_cap;
    /* updates: queue[0..inflight) were taken and await their response */
    pd_queued *queue;
    size_t queue_len, queue_cap, inflight;
    bool awaiting_response;
    uint64_t next_seq, acked_seq, batches;
    pd_output output;
};

/* Fills buf from the OS CSPRNG; 0 on success. The core's only system call:
 * seeding jitter when the caller gave no seed. */
int pd_os_random(void *buf, size_t len);

#endif

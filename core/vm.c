/* The replay VM: one per invocation, no I/O.
 *
 * It keeps the recorded operations (an Id -> record table), the operations the
 * handler declares (vm_op, addressed by integer handles), and a FIFO queue of
 * OperationUpdates. Each vm_op is a small state machine driven by
 * perdure_vm_op_next(); the phases are:
 *
 *   NEW        declared, nothing decided yet
 *   WAIT_START its START is queued synchronously and must be acknowledged first
 *   RUNNING    the caller runs the body (steps, checks, contexts, items)
 *   CREATED    a callback exists; its answer is awaited
 *   WAIT_DONE  its outcome (SUCCEED / FAIL / RETRY) is queued synchronously
 *   RESULT / ERROR / SUSPEND   final answers, repeated on every later call
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vm_internal.h"

/* ---- handles ---- */

#define INDEX_BITS 20u
#define INDEX_MASK ((1u << INDEX_BITS) - 1)

static perdure_op handle_of(const perdure_vm *vm, uint32_t index)
{
    return index == 0 ? PERDURE_ROOT : ((uint32_t)vm->tag << INDEX_BITS) | index;
}

static vm_op *op_at(const perdure_vm *vm, perdure_op handle)
{
    if (handle == PERDURE_ROOT)
        return &vm->ops[0];
    if ((handle >> INDEX_BITS) != vm->tag)
        return NULL;
    uint32_t index = handle & INDEX_MASK;
    return index < vm->ops_len ? &vm->ops[index] : NULL;
}

/* ---- errors ---- */

static perdure_status poison(perdure_vm *vm, perdure_status code)
{
    vm->poisoned = code;
    return code;
}

/* Entry check of every VM call: a poisoned VM repeats its error. */
static perdure_status vm_usable(perdure_vm *vm)
{
    if (!vm)
        return PERDURE_E_MISUSE;
    if (vm->poisoned)
        return vm->err.code = vm->poisoned;
    return PERDURE_OK;
}

static perdure_status misuse(perdure_vm *vm, const char *fmt, const char *what)
{
    return pd_fail(&vm->err, PERDURE_E_MISUSE, fmt, what);
}

static perdure_status nomem(perdure_vm *vm) { return pd_fail(&vm->err, PERDURE_E_NOMEM, "out of memory"); }

/* ---- the record table ---- */

static pd_id_array records_array(const perdure_vm *vm)
{
    return (pd_id_array){vm->records.items, sizeof(pd_operation), offsetof(pd_operation, id)};
}

static pd_operation *record_find(const perdure_vm *vm, const char *id)
{
    size_t pos = pd_id_index_find(&vm->index, records_array(vm), id);
    return pos == SIZE_MAX ? NULL : &vm->records.items[pos];
}

/* Appends the record of a new Id (src is moved: left cleared). */
static int record_add(perdure_vm *vm, pd_operation *src)
{
    pd_operation *slot = pd_op_list_push(&vm->records);
    if (!slot)
        return -1;
    *slot = *src;
    if (pd_id_index_add(&vm->index, records_array(vm), vm->records.len, vm->records.len - 1)) {
        pd_operation_init(slot);   /* src keeps ownership */
        vm->records.len--;
        return -1;
    }
    pd_operation_init(src);
    return 0;
}

/* Inserts or replaces the record for src->id (src is moved: left cleared). */
static int record_put(perdure_vm *vm, pd_operation *src)
{
    pd_operation *existing = record_find(vm, src->id);
    if (!existing)
        return record_add(vm, src);
    pd_operation_clear(existing);
    *existing = *src;
    pd_operation_init(src);
    return 0;
}

/* Moves ops into the record table, a later record replacing an earlier one
 * with the same Id. The invocation's records arrive in an empty table: that
 * list is adopted and indexed in place (a copy would double the peak memory
 * of a long history). */
static int records_merge(perdure_vm *vm, pd_op_list *ops)
{
    if (vm->records.len) {
        for (size_t i = 0; i < ops->len; i++)
            if (record_put(vm, &ops->items[i]))
                return -1;
        return 0;
    }
    pd_op_list empty = vm->records;
    vm->records = *ops;
    *ops = empty;
    size_t n = vm->records.len;
    vm->records.len = 0;   /* grows as records are indexed; duplicates close up */
    for (size_t i = 0; i < n; i++) {
        pd_operation *src = &vm->records.items[i];
        pd_operation *existing = record_find(vm, src->id);
        if (existing) {
            pd_operation_clear(existing);
            *existing = *src;
            continue;
        }
        size_t pos = vm->records.len;
        vm->records.items[pos] = *src;
        if (pd_id_index_add(&vm->index, records_array(vm), pos + 1, pos)) {
            for (size_t j = i; j < n; j++)   /* not in the table yet (slot pos only aliases i) */
                pd_operation_clear(&vm->records.items[j]);
            return -1;
        }
        vm->records.len++;
    }
    return 0;
}

/* The record of an op, looked up each time: merges may move records. */
static pd_operation *op_record(const perdure_vm *vm, const vm_op *op)
{
    return op->is_virtual ? NULL : record_find(vm, op->id);
}

static perdure_op_status record_status(const pd_operation *rec) { return rec ? rec->status : PERDURE_STATUS_ABSENT; }

static bool status_terminal(perdure_op_status s)
{
    return s == PERDURE_STATUS_SUCCEEDED || s == PERDURE_STATUS_FAILED || s == PERDURE_STATUS_CANCELLED ||
           s == PERDURE_STATUS_TIMED_OUT || s == PERDURE_STATUS_STOPPED;
}

/* ---- lifecycle ---- */

perdure_status perdure_vm_options_init(perdure_vm_options *opts)
{
    if (!opts || opts->size < sizeof(unsigned int))
        return PERDURE_E_MISUSE;
    unsigned int size = opts->size;
    memset(opts, 0, size < sizeof *opts ? size : sizeof *opts);
    opts->size = size;
    return PERDURE_OK;
}

/* Options of an older, shorter layout keep the defaults for missing fields. */
static void options_read(perdure_vm_options *dst, const perdure_vm_options *src)
{
    memset(dst, 0, sizeof *dst);
    if (src)
        memcpy(dst, src, src->size < sizeof *dst ? src->size : sizeof *dst);
    if (!dst->max_batch_updates)
        dst->max_batch_updates = PD_LAMBDA_MAX_UPDATES;
    if (!dst->max_batch_bytes)
        dst->max_batch_bytes = PD_LAMBDA_MAX_BATCH_BYTES;
    if (!dst->compress_threshold)
        dst->compress_threshold = 4096;
    if (!dst->max_inline_result)
        dst->max_inline_result = 6ULL * 1024 * 1024 - 50;
    if (dst->async_flush_ms <= 0)
        dst->async_flush_ms = 100;
}

perdure_status perdure_vm_new(const perdure_vm_options *opts, perdure_vm **out)
{
    if (!out || (opts && opts->size < sizeof(unsigned int) * 2))
        return PERDURE_E_MISUSE;
    *out = NULL;
    perdure_vm *vm = calloc(1, sizeof *vm);
    if (!vm)
        return PERDURE_E_NOMEM;
    options_read(&vm->opts, opts);
    if (vm->opts.wire > PERDURE_WIRE_MSGPACK || vm->opts.id_scheme > PERDURE_IDS_MD5_PATH) {
        free(vm);
        return PERDURE_E_INVALID;
    }
    uint64_t seed = vm->opts.random_seed;
    if (!seed && pd_os_random(&seed, sizeof seed)) {
        free(vm);
        return PERDURE_E_INTERNAL;
    }
    pd_rng_seed(&vm->rng, seed);
    uint64_t draw = (uint64_t)(pd_rng_next01(&vm->rng) * 4095);
    vm->client_tag = (uint16_t)(1 + draw);
    /* Handles must tell VMs apart even when they share a seed: the handle tag
     * also mixes in the VM's address (it never reaches the wire). */
    uint64_t x = (uint64_t)(uintptr_t)vm ^ draw;
    x = (x ^ (x >> 33)) * 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    vm->tag = (uint16_t)(1 + x % 4095);
    vm->ops = calloc(16, sizeof *vm->ops);
    if (!vm->ops) {
        free(vm);
        return PERDURE_E_NOMEM;
    }
    vm->ops_cap = 16;
    vm->ops_len = 1;   /* ops[0] is the root context */
    vm->ops[0].kind = K_ROOT;
    vm->ops[0].phase = PH_RUNNING;
    *out = vm;
    return PERDURE_OK;
}

static void op_free(vm_op *op)
{
    pd_bytes_clear(&op->name);
    pd_bytes_clear(&op->prefix);
    pd_bytes_clear(&op->value);
    pd_bytes_clear(&op->summary);
    pd_error_free(op->error);
    switch (op->kind) {
    case K_STEP:
    case K_WFC:
        free(op->retry_strings);
        break;
    case K_CONDITION:
        pd_bytes_clear(&op->initial_state);
        break;
    case K_INVOKE:
        pd_bytes_clear(&op->invoke_payload);
        pd_bytes_clear(&op->function_name);
        pd_bytes_clear(&op->tenant_id);
        break;
    case K_BATCH:
        for (unsigned i = 0; op->items && i < op->item_count; i++)
            pd_bytes_clear(&op->items[i].name);
        free(op->items);
        break;
    default:
        break;
    }
}

void perdure_vm_free(perdure_vm *vm)
{
    if (!vm)
        return;
    for (size_t i = 0; i < vm->ops_len; i++)
        op_free(&vm->ops[i]);
    free(vm->ops);
    for (size_t i = 0; i < vm->queue_len; i++)
        pd_update_clear(&vm->queue[i].u);
    free(vm->queue);
    pd_op_list_free(&vm->records);
    pd_id_index_free(&vm->index);
    pd_bytes_clear(&vm->arn);
    pd_bytes_clear(&vm->token);
    pd_bytes_clear(&vm->marker);
    pd_bytes_clear(&vm->execution_id);
    pd_output_free(&vm->output);
    free(vm->nd_strings);
    free(vm->visited);
    free(vm);
}

const char *perdure_vm_errmsg(const perdure_vm *vm)
{
    if (!vm)
        return "NULL perdure_vm";
    return vm->err.code ? vm->err.msg : "";
}

perdure_status perdure_vm_nondeterminism(const perdure_vm *vm, perdure_nondeterminism *out)
{
    if (!vm || !out)
        return PERDURE_E_MISUSE;
    if (vm->poisoned != PERDURE_E_NONDETERMINISM)
        return PERDURE_E_MISUSE;
    *out = vm->nd;
    return PERDURE_OK;
}

perdure_status perdure_vm_set_now(perdure_vm *vm, long long now_ms)
{
    perdure_status st = vm_usable(vm);
    if (st)
        return st;
    vm->now_ms = now_ms;
    return PERDURE_OK;
}

/* ---- loading the invocation ---- */

static perdure_status decode_invocation(perdure_vm *vm, const void *input, size_t len, pd_invocation *inv)
{
    return vm->opts.wire == PERDURE_WIRE_JSON ? pd_json_decode_invocation(input, len, inv, &vm->err)
                                              : pd_mp_decode_invocation(input, len, inv, &vm->err);
}

static int set_marker(perdure_vm *vm, const pd_bytes *marker)
{
    if (marker->present && marker->len)
        return pd_bytes_set(&vm->marker, marker->data, marker->len);
    pd_bytes_clear(&vm->marker);
    return 0;
}

/* The execution's input lives in the EXECUTION record, which may arrive on a
 * later state page (large input). */
static void note_execution_record(perdure_vm *vm)
{
    if (vm->execution)
        return;
    for (size_t i = 0; i < vm->records.len; i++) {
        if (vm->records.items[i].type == PERDURE_TYPE_EXECUTION) {
            vm->execution = true;
            return;
        }
    }
}

static bool replayable(const pd_operation *rec)
{
    return rec->type != PERDURE_TYPE_EXECUTION && status_terminal(rec->status);
}

/* Counts the completed records user code will replay (the loaded state is
 * complete: nothing is visited before the handler runs). */
static perdure_status count_replay(perdure_vm *vm)
{
    free(vm->visited);
    vm->visited = calloc(vm->records.len ? vm->records.len : 1, 1);
    if (!vm->visited)
        return nomem(vm);
    vm->visited_len = vm->records.len;
    vm->replay_left = 0;
    for (size_t i = 0; i < vm->records.len; i++)
        vm->replay_left += replayable(&vm->records.items[i]);
    vm->replaying = vm->replay_left > 0;
    return PERDURE_OK;
}

static void visit(perdure_vm *vm, const pd_operation *rec)
{
    size_t i = (size_t)(rec - vm->records.items);
    if (i >= vm->visited_len || vm->visited[i] || !replayable(rec))
        return;
    vm->visited[i] = 1;
    if (--vm->replay_left == 0)
        vm->replaying = false;
}

static bool descends_from(const perdure_vm *vm, const pd_operation *rec, const char *ancestor)
{
    for (int depth = 0; rec && rec->parent_id[0] && depth < 1000; depth++) {
        if (strcmp(rec->parent_id, ancestor) == 0)
            return true;
        rec = record_find(vm, rec->parent_id);
    }
    return false;
}

/* An operation was declared over its record: it is replayed, and so is
 * everything inside a context answered from its record without re-running. */
static void note_declared(perdure_vm *vm, bool is_step, const pd_operation *rec)
{
    if (!vm->replaying)
        return;
    if (!rec || (is_step && !status_terminal(rec->status))) {
        vm->replaying = false;   /* new code, or a step body about to run again */
        return;
    }
    visit(vm, rec);
    bool whole = rec->type == PERDURE_TYPE_CONTEXT && status_terminal(rec->status) && !rec->replay_children;
    for (size_t i = 0; whole && vm->replaying && i < vm->visited_len; i++)
        if (!vm->visited[i] && descends_from(vm, &vm->records.items[i], rec->id))
            visit(vm, &vm->records.items[i]);
}

perdure_status perdure_vm_start(perdure_vm *vm, const void *input, unsigned long long len, long long now_ms)
{
    perdure_status st = vm_usable(vm);
    if (st)
        return st;
    if (vm->started)
        return misuse(vm, "%s: the invocation is already loaded", "perdure_vm_start");
    if (!input && len)
        return misuse(vm, "%s: NULL input", "perdure_vm_start");
    pd_invocation inv = {0};
    st = decode_invocation(vm, input, len, &inv);
    if (st) {
        pd_invocation_free(&inv);
        return st;
    }
    const char *slash = inv.arn.present ? strrchr(inv.arn.data, '/') : NULL;
    if (!slash || !slash[1] || !inv.token.present || !inv.token.len) {
        pd_invocation_free(&inv);
        return pd_fail(&vm->err, PERDURE_E_DECODE,
                       "invocation input: DurableExecutionArn and CheckpointToken are required");
    }
    vm->arn = inv.arn;
    vm->token = inv.token;
    inv.arn = inv.token = (pd_bytes){0};
    if (pd_bytes_set_str(&vm->execution_id, slash + 1) || records_merge(vm, &inv.ops) ||
        set_marker(vm, &inv.next_marker)) {
        pd_invocation_free(&inv);
        return nomem(vm);
    }
    pd_invocation_free(&inv);
    vm->now_ms = now_ms;
    vm->started = true;
    note_execution_record(vm);
    return count_replay(vm);
}

const char *perdure_vm_state_marker(const perdure_vm *vm)
{
    return vm && vm->marker.present ? vm->marker.data : NULL;
}

perdure_status perdure_vm_add_state(perdure_vm *vm, const void *page, unsigned long long len)
{
    perdure_status st = vm_usable(vm);
    if (st)
        return st;
    if (!vm->started || !vm->marker.present)
        return misuse(vm, "%s: no state page is expected", "perdure_vm_add_state");
    if (!page && len)
        return misuse(vm, "%s: NULL page with a length", "perdure_vm_add_state");
    pd_checkpoint_response r = {0};
    st = vm->opts.wire == PERDURE_WIRE_JSON ? pd_json_decode_state_page(page, len, &r.ops, &r.next_marker, &vm->err)
                                            : pd_mp_decode_checkpoint_response(page, len, &r, &vm->err);
    if (!st && (records_merge(vm, &r.ops) || set_marker(vm, &r.next_marker)))
        st = nomem(vm);
    pd_checkpoint_response_free(&r);
    if (st)
        return st;
    note_execution_record(vm);
    return count_replay(vm);
}

const char *perdure_vm_execution_arn(const perdure_vm *vm) { return vm && vm->started ? vm->arn.data : NULL; }

const char *perdure_vm_checkpoint_token(const perdure_vm *vm)
{
    return vm && vm->token.present ? vm->token.data : NULL;
}

perdure_status perdure_vm_input(const perdure_vm *vm, const unsigned char **data, unsigned long long *len)
{
    if (!vm || !data || !len || !vm->started)
        return PERDURE_E_MISUSE;
    for (size_t i = 0; i < vm->records.len; i++) {
        const pd_operation *rec = &vm->records.items[i];
        if (rec->type == PERDURE_TYPE_EXECUTION) {
            *data = (const unsigned char *)rec->input_payload.data;
            *len = rec->input_payload.len;
            return PERDURE_OK;
        }
    }
    return PERDURE_E_PROTOCOL;   /* the EXECUTION operation was not delivered */
}

int perdure_vm_is_replaying(const perdure_vm *vm) { return vm && vm->replaying; }

/* ---- the update queue ---- */

static bool seq_acked(const perdure_vm *vm, uint64_t seq) { return seq <= vm->acked_seq; }

/* Queues u (moved) and returns its sequence number, 0 on nomem. */
static uint64_t enqueue(perdure_vm *vm, pd_update *u, bool sync)
{
    if (vm->queue_len == vm->queue_cap) {
        size_t cap = vm->queue_cap ? vm->queue_cap * 2 : 32;
        pd_queued *q = realloc(vm->queue, cap * sizeof *q);
        if (!q) {
            pd_update_clear(u);
            return 0;
        }
        vm->queue = q;
        vm->queue_cap = cap;
    }
    pd_queued *slot = &vm->queue[vm->queue_len++];
    slot->u = *u;
    slot->seq = ++vm->next_seq;
    slot->sync = sync;
    slot->queued_ms = vm->now_ms;
    pd_update_init(u);
    return slot->seq;
}

int perdure_vm_wants_flush(const perdure_vm *vm)
{
    if (!vm || vm->poisoned || vm->terminal)
        return 0;
    for (size_t i = vm->inflight; i < vm->queue_len; i++)
        if (vm->queue[i].sync)
            return 1;
    if (vm->queue_len > vm->inflight && vm->now_ms - vm->queue[vm->inflight].queued_ms >= vm->opts.async_flush_ms)
        return !vm->awaiting_response;
    return vm->finishing && vm->queue_len > vm->inflight;
}

static size_t update_size(const perdure_vm *vm, const pd_update *u)
{
    return vm->opts.wire == PERDURE_WIRE_JSON ? pd_json_update_size(u) : pd_mp_update_size(u);
}

perdure_status perdure_vm_take_batch(perdure_vm *vm, perdure_buf *out)
{
    perdure_status st = vm_usable(vm);
    if (st)
        return st;
    if (!out)
        return misuse(vm, "%s: NULL out", "perdure_vm_take_batch");
    out->data = NULL;
    out->len = 0;
    if (vm->awaiting_response)
        return misuse(vm, "%s: the previous batch has not been answered (perdure_vm_apply_response)",
                      "perdure_vm_take_batch");
    if (vm->terminal)
        return misuse(vm, "%s: the execution has ended; nothing more can be checkpointed", "perdure_vm_take_batch");
    if (!vm->started)
        return misuse(vm, "%s: no invocation loaded (perdure_vm_start)", "perdure_vm_take_batch");
    size_t most = vm->queue_len < vm->opts.max_batch_updates ? vm->queue_len : vm->opts.max_batch_updates;
    size_t n = 0, bytes = 0;
    /* Usually the whole batch is far below the byte limit: bounds show it
     * without encoding every update a second time to size it. */
    for (size_t i = 0; i < most && bytes <= vm->opts.max_batch_bytes; i++)
        bytes += pd_update_size_bound(&vm->queue[i].u);
    if (bytes <= vm->opts.max_batch_bytes)
        n = most;
    for (bytes = 0; n < most; n++) {
        size_t size = update_size(vm, &vm->queue[n].u);
        if (n && bytes + size > vm->opts.max_batch_bytes)
            break;
        bytes += size;
    }
    /* Nothing queued: out stays empty and no response is expected. */
    if (!n)
        return PERDURE_OK;
    /* "pd-%04x-%llu" of the tag and the batch number, without printf's cost */
    static const char hex[] = "0123456789abcdef";
    char client_token[40] = "pd-";
    for (int i = 0; i < 4; i++)
        client_token[3 + i] = hex[(vm->client_tag >> (12 - 4 * i)) & 15];
    client_token[7] = '-';
    pd_u64_dec(++vm->batches, client_token + 8);
    pd_update *updates = malloc(n * sizeof *updates);
    if (!updates)
        return nomem(vm);
    for (size_t i = 0; i < n; i++)
        updates[i] = vm->queue[i].u;   /* shallow: the encoders only read */
    pd_buf buf;
    pd_buf_init(&buf);
    st = vm->opts.wire == PERDURE_WIRE_JSON
             ? pd_json_encode_checkpoint_request(vm->token.data, updates, n, client_token, &buf, &vm->err)
             : pd_mp_encode_checkpoint_request(vm->token.data, updates, n, client_token,
                                               vm->opts.compress_threshold, &buf, &vm->err);
    free(updates);
    if (st) {
        pd_buf_free(&buf);
        return st;
    }
    vm->inflight = n;
    vm->awaiting_response = true;
    pd_buf_release(&buf, out);
    return PERDURE_OK;
}

/* What the service does to a record when it accepts an update (protocol.md
 * §4.1), applied locally so the VM does not depend on the response echoing
 * our own changes. The response's operations are merged afterwards and win.
 * The record is changed in place (on nomem the caller poisons the VM), and
 * takes the update's name, payload and error: the acknowledged update is
 * dropped next. */
static int apply_local(perdure_vm *vm, pd_update *u)
{
    if (u->type == PERDURE_TYPE_EXECUTION)
        return 0;
    pd_operation *rec = record_find(vm, u->id);
    if (!rec) {
        pd_operation fresh;
        pd_operation_init(&fresh);
        memcpy(fresh.id, u->id, sizeof fresh.id);
        memcpy(fresh.parent_id, u->parent_id, sizeof fresh.parent_id);
        memcpy(fresh.sub_type, u->sub_type, sizeof fresh.sub_type);
        fresh.type = u->type;
        fresh.start_ms = vm->now_ms;
        fresh.name = u->name;
        u->name = (pd_bytes){0};
        if (record_add(vm, &fresh)) {
            pd_operation_clear(&fresh);
            return -1;
        }
        rec = &vm->records.items[vm->records.len - 1];
    }
    bool counts_attempt = u->type == PERDURE_TYPE_STEP && u->action != PERDURE_ACTION_START;
    switch (u->action) {
    case PERDURE_ACTION_START:
        rec->status = PERDURE_STATUS_STARTED;
        if (u->type == PERDURE_TYPE_WAIT)
            rec->scheduled_end_ms = vm->now_ms + u->wait_seconds * 1000;
        break;
    case PERDURE_ACTION_SUCCEED:
        rec->status = PERDURE_STATUS_SUCCEEDED;
        rec->replay_children = u->has_context_options && u->replay_children;
        break;
    case PERDURE_ACTION_FAIL:
        rec->status = PERDURE_STATUS_FAILED;
        break;
    case PERDURE_ACTION_RETRY:
        rec->status = PERDURE_STATUS_PENDING;
        rec->next_attempt_ms = vm->now_ms + u->next_attempt_delay_s * 1000;
        break;
    case PERDURE_ACTION_CANCEL:
        rec->status = PERDURE_STATUS_CANCELLED;
        break;
    }
    if (counts_attempt)
        rec->attempt++;
    if (u->action != PERDURE_ACTION_START && u->type != PERDURE_TYPE_CHAINED_INVOKE) {
        pd_bytes_clear(&rec->result);
        rec->result = u->payload;
        u->payload = (pd_bytes){0};
        pd_error_free(rec->error);
        rec->error = u->error;
        u->error = NULL;
    }
    if (status_terminal(rec->status))
        rec->end_ms = vm->now_ms;
    return 0;
}

static perdure_status decode_response(perdure_vm *vm, const void *data, size_t len, pd_checkpoint_response *r)
{
    return vm->opts.wire == PERDURE_WIRE_JSON ? pd_json_decode_checkpoint_response(data, len, r, &vm->err)
                                              : pd_mp_decode_checkpoint_response(data, len, r, &vm->err);
}

perdure_status perdure_vm_apply_response(perdure_vm *vm, const void *response, unsigned long long len)
{
    perdure_status st = vm_usable(vm);
    if (st)
        return st;
    if (!vm->awaiting_response)
        return misuse(vm, "%s: no batch is in flight (perdure_vm_take_batch)", "perdure_vm_apply_response");
    if (!response && len)
        return misuse(vm, "%s: NULL response with a length", "perdure_vm_apply_response");
    pd_checkpoint_response r = {0};
    st = decode_response(vm, response, len, &r);
    if (st) {
        pd_checkpoint_response_free(&r);
        return st;   /* the batch stays in flight: it may be sent again */
    }
    uint64_t last_seq = vm->acked_seq;
    for (size_t i = 0; i < vm->inflight; i++) {
        if (apply_local(vm, &vm->queue[i].u)) {
            pd_checkpoint_response_free(&r);
            return poison(vm, nomem(vm));
        }
        last_seq = vm->queue[i].seq;
        pd_update_clear(&vm->queue[i].u);
    }
    memmove(vm->queue, vm->queue + vm->inflight, (vm->queue_len - vm->inflight) * sizeof *vm->queue);
    vm->queue_len -= vm->inflight;
    vm->inflight = 0;
    vm->awaiting_response = false;
    vm->acked_seq = last_seq;
    if (r.token.present) {
        pd_bytes_clear(&vm->token);
        vm->token = r.token;
        r.token = (pd_bytes){0};
    } else {
        vm->terminal = true;
    }
    if (records_merge(vm, &r.ops) || set_marker(vm, &r.next_marker)) {
        pd_checkpoint_response_free(&r);
        return poison(vm, nomem(vm));
    }
    pd_checkpoint_response_free(&r);
    return PERDURE_OK;
}

/* ---- declaring operations ---- */

static vm_op *op_new(perdure_vm *vm, uint32_t *index)
{
    if (vm->ops_len > INDEX_MASK)
        return NULL;
    if (vm->ops_len == vm->ops_cap) {
        vm_op *p = realloc(vm->ops, vm->ops_cap * 2 * sizeof *p);
        if (!p)
            return NULL;
        vm->ops = p;
        vm->ops_cap *= 2;
    }
    *index = (uint32_t)vm->ops_len++;
    vm_op *op = &vm->ops[*index];
    memset(op, 0, sizeof *op);
    return op;
}

/* Orphaned: the op or an enclosing context was abandoned by a finished batch. */
static bool op_orphaned(const perdure_vm *vm, const vm_op *op)
{
    for (;;) {
        if (op->orphaned)
            return true;
        if (op->kind == K_ROOT)
            return false;
        op = &vm->ops[op->ctx];
    }
}

static perdure_status check_name(perdure_vm *vm, const char *name)
{
    if (!name)
        return PERDURE_OK;
    size_t n = strlen(name);
    if (n < 1 || n > PD_MAX_NAME)
        return pd_fail(&vm->err, PERDURE_E_INVALID, "operation name must be 1..256 characters, got %zu", n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || (unsigned char)name[i] > 0x7e)
            return pd_fail(&vm->err, PERDURE_E_INVALID,
                           "operation name \"%s\" has a character outside printable ASCII at %zu", name, i);
    return PERDURE_OK;
}

static perdure_status check_sub_type(perdure_vm *vm, const char *sub_type)
{
    size_t n = strlen(sub_type);
    if (n < 1 || n > PD_MAX_SUBTYPE)
        return pd_fail(&vm->err, PERDURE_E_INVALID, "sub-type must be 1..32 characters, got %zu", n);
    for (size_t i = 0; i < n; i++) {
        char c = sub_type[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return pd_fail(&vm->err, PERDURE_E_INVALID, "sub-type \"%s\" may hold only [a-zA-Z0-9-_]", sub_type);
    }
    return PERDURE_OK;
}

/* The nearest non-virtual context: the ParentId of operations inside ctx. */
static const char *parent_id_of(const perdure_vm *vm, const vm_op *ctx)
{
    while (ctx->kind != K_ROOT && ctx->is_virtual)
        ctx = &vm->ops[ctx->ctx];
    return ctx->kind == K_ROOT ? "" : ctx->id;
}

static perdure_status nondeterminism(perdure_vm *vm, const vm_op *op, const pd_operation *rec)
{
    const vm_op *ctx = &vm->ops[op->ctx];
    /* Copy the strings: the record and op may move before the caller reads them. */
    const char *strs[] = {op->id,       ctx->kind == K_ROOT ? "" : ctx->id,
                          rec->sub_type, op->sub_type,
                          rec->name.present ? rec->name.data : "",
                          op->name.present ? op->name.data : ""};
    size_t total = 0;
    for (size_t i = 0; i < 6; i++)
        total += strlen(strs[i]) + 1;
    free(vm->nd_strings);
    char *p = vm->nd_strings = malloc(total);
    if (!p)
        return poison(vm, nomem(vm));
    const char *copies[6];
    for (size_t i = 0; i < 6; i++) {
        copies[i] = p;
        p = stpcpy(p, strs[i]) + 1;
    }
    vm->nd = (perdure_nondeterminism){
        .operation_id = copies[0], .position = op->position, .context_id = copies[1],
        .expected_type = rec->type, .actual_type = op->type,
        .expected_sub_type = copies[2], .actual_sub_type = copies[3],
        .expected_name = copies[4], .actual_name = copies[5]};
    pd_fail(&vm->err, PERDURE_E_NONDETERMINISM,
            "non-deterministic replay: operation #%llu in context \"%s\" (Id %s) was recorded as %s/%s \"%s\" "
            "but this run declared %s/%s \"%s\"",
            (unsigned long long)op->position, copies[1], copies[0], pd_type_name(rec->type), copies[2], copies[4],
            pd_type_name(op->type), copies[3], copies[5]);
    return poison(vm, PERDURE_E_NONDETERMINISM);
}

static bool names_equal(const pd_bytes *recorded, const pd_bytes *declared)
{
    if (recorded->present != declared->present)
        return false;
    return !recorded->present ||
           (recorded->len == declared->len && memcmp(recorded->data, declared->data, recorded->len) == 0);
}

/* What the Ids of op's children derive from: its Id (py) or its raw path (js). */
static const char *id_prefix(const perdure_vm *vm, const vm_op *op)
{
    return vm->opts.id_scheme == PERDURE_IDS_BLAKE2B ? op->id : op->prefix.data;
}

/* Derives the op's Id from its context (or, for batch items, from the item
 * index) and checks it against the record. */
static perdure_status op_identify(perdure_vm *vm, vm_op *op, const vm_op *ctx, uint64_t n)
{
    const char *prefix = ctx->kind == K_ROOT ? "" : id_prefix(vm, ctx);
    const char *dash = *prefix ? "-" : "";
    perdure_status st = pd_id_for(vm->opts.id_scheme, prefix, n, op->id);
    if (st)
        return pd_fail(&vm->err, st, "cannot derive an operation id from \"%.180s%s%llu\"", prefix, dash,
                       (unsigned long long)n);
    if (vm->opts.id_scheme != PERDURE_IDS_BLAKE2B) {   /* js raw paths grow with the nesting depth */
        pd_buf raw;
        pd_buf_init(&raw);
        int failed = pd_buf_printf(&raw, "%s%s%llu", prefix, dash, (unsigned long long)n) ||
                     pd_bytes_set(&op->prefix, raw.data, raw.len);
        pd_buf_free(&raw);
        if (failed)
            return nomem(vm);
    }
    op->position = n;
    if (op->is_virtual)
        return PERDURE_OK;
    const pd_operation *rec = record_find(vm, op->id);
    if (!rec)
        return PERDURE_OK;
    if (rec->type != op->type || strcmp(rec->sub_type, op->sub_type) != 0 || !names_equal(&rec->name, &op->name))
        return nondeterminism(vm, op, rec);
    return PERDURE_OK;
}

/* Declares an operation in the context ops[ctx_index], which must be running. */
static perdure_status declare_in(perdure_vm *vm, uint32_t ctx_index, const char *name, pd_kind kind,
                                 perdure_op_type type, const char *sub_type, bool is_virtual, perdure_op *out,
                                 vm_op **op_out)
{
    vm_op *ctx = &vm->ops[ctx_index];
    if (op_orphaned(vm, ctx))
        return pd_fail(&vm->err, PERDURE_E_ORPHANED,
                       "the map/parallel that owns this context has completed; its operations are abandoned");
    if (ctx->phase != PH_RUNNING)
        return misuse(vm, "%s: the context has finished (its body already returned)", "declaring an operation");
    perdure_status st;
    if ((st = check_name(vm, name)) || (st = check_sub_type(vm, sub_type)))
        return st;
    uint32_t index;
    vm_op *op = op_new(vm, &index);
    if (!op)
        return nomem(vm);
    ctx = &vm->ops[ctx_index];   /* op_new may move the table */
    op->kind = kind;
    op->type = type;
    op->ctx = ctx_index;
    op->is_virtual = is_virtual;
    memcpy(op->sub_type, sub_type, strlen(sub_type) + 1);   /* checked: at most 32 characters */
    if (pd_bytes_set_str(&op->name, name))
        return nomem(vm);
    if ((st = op_identify(vm, op, ctx, ++ctx->counter)))
        return st;
    if (!is_virtual)
        note_declared(vm, kind == K_STEP || kind == K_CONDITION, op_record(vm, op));
    *out = handle_of(vm, index);
    *op_out = op;
    return PERDURE_OK;
}

/* Common part of every perdure_vm_<operation>() call. wait_for_callback
 * contexts are not accepted: their two children are the VM's own. */
static perdure_status declare(perdure_vm *vm, perdure_ctx ctx_handle, const char *name, pd_kind kind,
                              perdure_op_type type, const char *sub_type, bool is_virtual, perdure_op *out,
                              vm_op **op_out)
{
    perdure_status st = vm_usable(vm);
    if (st)
        return st;
    if (!out)
        return misuse(vm, "%s: NULL out", "declaring an operation");
    if (!vm->started || vm->finishing)
        return misuse(vm, "%s", vm->finishing ? "operation declared after the invocation finished"
                                              : "operation declared before perdure_vm_start");
    vm_op *ctx = op_at(vm, ctx_handle);
    if (!ctx || !(ctx->kind == K_ROOT || ctx->kind == K_CHILD || ctx->kind == K_ITEM))
        return misuse(vm, "%s: not a context handle", "declaring an operation");
    return declare_in(vm, (uint32_t)(ctx - vm->ops), name, kind, type, sub_type, is_virtual, out, op_out);
}

/* An update pre-filled with the op's identity. */
static void update_for(const perdure_vm *vm, const vm_op *op, perdure_action action, pd_update *u)
{
    pd_update_init(u);
    memcpy(u->id, op->id, sizeof u->id);
    const char *parent = parent_id_of(vm, &vm->ops[op->ctx]);
    memcpy(u->parent_id, parent, strlen(parent) + 1);   /* an Id: at most 64 characters */
    u->type = op->type;
    memcpy(u->sub_type, op->sub_type, sizeof u->sub_type);
    u->action = action;
    if (op->name.present)
        pd_bytes_set(&u->name, op->name.data, op->name.len);   /* checked by the caller via u->name.present */
}

/* Queues an update for op; `sync` ones gate the op until acknowledged. */
static perdure_status queue_update(perdure_vm *vm, vm_op *op, pd_update *u, bool sync)
{
    if (op->name.present && !u->name.present) {
        pd_update_clear(u);
        return nomem(vm);
    }
    uint64_t seq = enqueue(vm, u, sync);
    if (!seq)
        return nomem(vm);
    if (sync)
        op->wait_seq = seq;
    return PERDURE_OK;
}

static perdure_status queue_simple(perdure_vm *vm, vm_op *op, perdure_action action, bool sync)
{
    pd_update u;
    update_for(vm, op, action, &u);
    return queue_update(vm, op, &u, sync);
}

static perdure_status copy_retry(perdure_vm *vm, vm_op *op, const perdure_step_config *cfg)
{
    op->semantics = PERDURE_AT_LEAST_ONCE_PER_RETRY;
    perdure_retry_config preset = {.size = sizeof preset};
    perdure_retry_config_preset(&preset, PERDURE_RETRY_DEFAULT);
    op->retry = preset;
    if (!cfg)
        return PERDURE_OK;
    if (cfg->size < offsetof(perdure_step_config, retry) + sizeof cfg->retry)
        return misuse(vm, "%s: size field not set", "perdure_step_config");
    if (cfg->semantics > PERDURE_AT_MOST_ONCE_PER_RETRY)
        return pd_fail(&vm->err, PERDURE_E_INVALID, "unknown step semantics %d", (int)cfg->semantics);
    op->semantics = cfg->semantics;
    op->caller_decides_retry = cfg->size >= offsetof(perdure_step_config, caller_decides_retry) +
                                                sizeof cfg->caller_decides_retry &&
                               cfg->caller_decides_retry;
    if (!cfg->retry)
        return PERDURE_OK;
    const perdure_retry_config *r = cfg->retry;
    if (r->size != sizeof *r)
        return misuse(vm, "%s: size field not set", "perdure_retry_config");
    /* Validate now, with a throwaway decision, so a bad config fails at
     * declaration rather than on the first failure. */
    perdure_retry_decision d;
    perdure_status st = pd_retry_decide(r, 1, NULL, 0.0, &d, &vm->err);
    if (st)
        return st;
    memcpy(&op->retry, r, r->size);
    /* Filters are borrowed by the caller: keep our own copy. */
    size_t total = 0, n_err = r->retryable_errors ? r->retryable_errors_len : 0,
           n_types = r->retryable_error_types ? r->retryable_error_types_len : 0;
    for (size_t i = 0; i < n_err; i++)
        total += strlen(r->retryable_errors[i]) + 1;
    for (size_t i = 0; i < n_types; i++)
        total += strlen(r->retryable_error_types[i]) + 1;
    size_t ptrs = (n_err + n_types) * sizeof(char *);
    op->retry_strings = malloc(ptrs + n_err + total + 1);
    if (!op->retry_strings)
        return nomem(vm);
    const char **list = (const char **)op->retry_strings;
    unsigned char *is_regex = (unsigned char *)op->retry_strings + ptrs;
    char *p = (char *)is_regex + n_err;
    for (size_t i = 0; i < n_err; i++) {
        list[i] = p;
        p = stpcpy(p, r->retryable_errors[i]) + 1;
        is_regex[i] = r->retryable_errors_is_regex ? r->retryable_errors_is_regex[i] : 0;
    }
    for (size_t i = 0; i < n_types; i++) {
        list[n_err + i] = p;
        p = stpcpy(p, r->retryable_error_types[i]) + 1;
    }
    op->retry.retryable_errors = n_err ? list : NULL;
    op->retry.retryable_errors_is_regex = n_err ? is_regex : NULL;
    op->retry.retryable_error_types = n_types ? list + n_err : NULL;
    return PERDURE_OK;
}

/* Moves the retry settings that copy_retry put on a scratch op. */
static void move_retry(vm_op *dst, vm_op *src)
{
    dst->semantics = src->semantics;
    dst->caller_decides_retry = src->caller_decides_retry;
    dst->retry = src->retry;
    dst->retry_strings = src->retry_strings;
    src->retry_strings = NULL;
}

perdure_status perdure_vm_step(perdure_vm *vm, perdure_ctx ctx, const char *name, const perdure_step_config *cfg,
                               perdure_op *out)
{
    /* Configs are checked before the operation takes its position: a refused
     * call has no effect. */
    vm_op scratch = {0}, *op;
    perdure_status st = vm_usable(vm);
    if (st || (st = copy_retry(vm, &scratch, cfg)) ||
        (st = declare(vm, ctx, name, K_STEP, PERDURE_TYPE_STEP, "Step", false, out, &op))) {
        free(scratch.retry_strings);
        return st;
    }
    move_retry(op, &scratch);
    return PERDURE_OK;
}

static perdure_status check_duration(perdure_vm *vm, const char *what, long long seconds, long long min)
{
    if (seconds < min || seconds > PD_MAX_DURATION)
        return pd_fail(&vm->err, PERDURE_E_INVALID, "%s must be %lld..%lld seconds, got %lld", what, min,
                       (long long)PD_MAX_DURATION, seconds);
    return PERDURE_OK;
}

perdure_status perdure_vm_wait(perdure_vm *vm, perdure_ctx ctx, const char *name, long long seconds, perdure_op *out)
{
    perdure_status st = vm_usable(vm);
    if (st || (st = check_duration(vm, "wait duration", seconds, 1)))
        return st;
    vm_op *op;
    if ((st = declare(vm, ctx, name, K_WAIT, PERDURE_TYPE_WAIT, "Wait", false, out, &op)))
        return st;
    op->wait_seconds = seconds;
    return PERDURE_OK;
}

static perdure_status copy_callback_config(perdure_vm *vm, vm_op *op, const perdure_callback_config *cfg)
{
    if (!cfg)
        return PERDURE_OK;
    if (cfg->size < sizeof *cfg)
        return misuse(vm, "%s: size field not set", "perdure_callback_config");
    perdure_status st;
    if ((st = check_duration(vm, "callback timeout", cfg->timeout_seconds, 0)) ||
        (st = check_duration(vm, "callback heartbeat timeout", cfg->heartbeat_timeout_seconds, 0)))
        return st;
    op->callback_timeout_s = cfg->timeout_seconds;
    op->callback_heartbeat_s = cfg->heartbeat_timeout_seconds;
    return PERDURE_OK;
}

perdure_status perdure_vm_callback(perdure_vm *vm, perdure_ctx ctx, const char *name,
                                   const perdure_callback_config *cfg, perdure_op *out)
{
    vm_op scratch = {0}, *op;
    perdure_status st = vm_usable(vm);
    if (st || (st = copy_callback_config(vm, &scratch, cfg)) ||
        (st = declare(vm, ctx, name, K_CALLBACK, PERDURE_TYPE_CALLBACK, "Callback", false, out, &op)))
        return st;
    op->callback_timeout_s = scratch.callback_timeout_s;
    op->callback_heartbeat_s = scratch.callback_heartbeat_s;
    return PERDURE_OK;
}

perdure_status perdure_vm_child(perdure_vm *vm, perdure_ctx ctx, const char *name, const char *sub_type,
                                int is_virtual, perdure_op *out)
{
    vm_op *op;
    return declare(vm, ctx, name, K_CHILD, PERDURE_TYPE_CONTEXT, sub_type ? sub_type : "RunInChildContext",
                   is_virtual != 0, out, &op);
}

perdure_status perdure_vm_invoke(perdure_vm *vm, perdure_ctx ctx, const char *name, const char *function_name,
                                 const char *tenant_id, const void *payload, unsigned long long payload_len,
                                 perdure_op *out)
{
    perdure_status st = vm_usable(vm);
    if (st)
        return st;
    size_t fn_len = function_name ? strlen(function_name) : 0;
    if (fn_len < 1 || fn_len > 256)
        return pd_fail(&vm->err, PERDURE_E_INVALID, "invoke: function name must be 1..256 characters");
    if (tenant_id && (strlen(tenant_id) < 1 || strlen(tenant_id) > 256))
        return pd_fail(&vm->err, PERDURE_E_INVALID, "invoke: tenant id must be 1..256 characters");
    if (payload_len > PD_MAX_PAYLOAD)
        return pd_fail(&vm->err, PERDURE_E_TOO_LARGE, "invoke payload is %llu bytes; the limit is %llu",
                       payload_len, PD_MAX_PAYLOAD);
    if (!payload && payload_len)
        return misuse(vm, "%s: NULL payload with a length", "perdure_vm_invoke");
    vm_op *op;
    if ((st = declare(vm, ctx, name, K_INVOKE, PERDURE_TYPE_CHAINED_INVOKE, "ChainedInvoke", false, out, &op)))
        return st;
    if (pd_bytes_set_str(&op->function_name, function_name) || pd_bytes_set_str(&op->tenant_id, tenant_id) ||
        (payload && pd_bytes_set(&op->invoke_payload, payload, payload_len)))
        return nomem(vm);
    return PERDURE_OK;
}

perdure_status perdure_vm_wait_for_condition(perdure_vm *vm, perdure_ctx ctx, const char *name,
                                             const perdure_condition_config *cfg, perdure_op *out)
{
    perdure_status st = vm_usable(vm);
    if (st)
        return st;
    if (!cfg || cfg->size < sizeof *cfg)
        return misuse(vm, "%s: config missing or size field not set", "perdure_vm_wait_for_condition");
    if (!cfg->initial_state && cfg->initial_state_len)
        return misuse(vm, "%s: NULL initial_state with a length", "perdure_vm_wait_for_condition");
    if (cfg->initial_state_len > PD_MAX_PAYLOAD)
        return pd_fail(&vm->err, PERDURE_E_TOO_LARGE, "initial state is %llu bytes; the limit is %llu",
                       cfg->initial_state_len, PD_MAX_PAYLOAD);
    perdure_retry_decision probe;
    if (cfg->wait && (cfg->wait->size < sizeof *cfg->wait ||
                      (st = pd_wait_decide(cfg->wait, 1, 0.0, &probe, &vm->err))))
        return st ? st : misuse(vm, "%s: size field not set", "perdure_wait_config");
    vm_op *op;
    if ((st = declare(vm, ctx, name, K_CONDITION, PERDURE_TYPE_STEP, "WaitForCondition", false, out, &op)))
        return st;
    op->has_wait = cfg->wait != NULL;
    if (cfg->wait)
        op->wait = *cfg->wait;
    if (cfg->initial_state && pd_bytes_set(&op->initial_state, cfg->initial_state, cfg->initial_state_len))
        return nomem(vm);
    return PERDURE_OK;
}

perdure_status perdure_vm_wait_for_callback(perdure_vm *vm, perdure_ctx ctx, const char *name,
                                            const perdure_callback_config *cfg,
                                            const perdure_step_config *submitter_cfg, perdure_op *out)
{
    vm_op scratch = {0}, *op;
    perdure_status st = vm_usable(vm);
    if (st || (st = copy_callback_config(vm, &scratch, cfg)) || (st = copy_retry(vm, &scratch, submitter_cfg)) ||
        (st = declare(vm, ctx, name, K_WFC, PERDURE_TYPE_CONTEXT, "WaitForCallback", false, out, &op))) {
        free(scratch.retry_strings);
        return st;
    }
    op->callback_timeout_s = scratch.callback_timeout_s;
    op->callback_heartbeat_s = scratch.callback_heartbeat_s;
    /* The submitter's config is applied when its step is declared; keep it on
     * the context meanwhile. */
    move_retry(op, &scratch);
    return PERDURE_OK;
}

perdure_status perdure_vm_batch(perdure_vm *vm, perdure_ctx ctx, const char *name, perdure_batch_kind kind,
                                unsigned int item_count, const perdure_batch_config *cfg, perdure_op *out)
{
    perdure_status st = vm_usable(vm);
    if (st)
        return st;
    if (kind > PERDURE_BATCH_PARALLEL)
        return pd_fail(&vm->err, PERDURE_E_INVALID, "unknown batch kind %d", (int)kind);
    if (cfg && cfg->size < sizeof *cfg)
        return misuse(vm, "%s: size field not set", "perdure_batch_config");
    perdure_batch_config c = {.size = sizeof c, .max_concurrency = -1};
    if (cfg)
        c = *cfg;
    if (c.max_concurrency == 0 || c.max_concurrency < -1)
        return pd_fail(&vm->err, PERDURE_E_INVALID, "max_concurrency must be at least 1 (or unset), got %d",
                       c.max_concurrency);
    if (c.nesting > PERDURE_NESTING_FLAT)
        return pd_fail(&vm->err, PERDURE_E_INVALID, "unknown nesting type %d", (int)c.nesting);
    perdure_completion_config completion = {.size = sizeof completion};
    perdure_completion_config_init(&completion);
    if (c.completion) {
        if (c.completion->size < sizeof completion)
            return misuse(vm, "%s: size field not set", "perdure_completion_config");
        completion = *c.completion;
    } else if (kind == PERDURE_BATCH_PARALLEL) {
        completion.tolerated_failure_count = 0;      /* all_successful() */
        completion.tolerated_failure_percentage = 0;
    }
    if ((st = pd_completion_validate(&completion, item_count, &vm->err)))
        return st;
    for (unsigned i = 0; c.item_names && i < item_count; i++)
        if (c.item_names[i] && (st = check_name(vm, c.item_names[i])))
            return st;
    vm_op *op;
    const char *sub_type = kind == PERDURE_BATCH_MAP ? "Map" : "Parallel";
    if ((st = declare(vm, ctx, name, K_BATCH, PERDURE_TYPE_CONTEXT, sub_type, false, out, &op)))
        return st;
    op->batch_kind = kind;
    op->completion = completion;
    op->max_concurrency = c.max_concurrency < 0 ? UINT_MAX : (unsigned)c.max_concurrency;
    op->nesting = c.nesting;
    op->item_count = item_count;
    op->items = calloc(item_count ? item_count : 1, sizeof *op->items);
    if (!op->items)
        return nomem(vm);
    /* Keep our own copies of the names: item ops are created later. */
    for (unsigned i = 0; c.item_names && i < item_count; i++)
        if (c.item_names[i] && pd_bytes_set_str(&op->items[i].name, c.item_names[i]))
            return nomem(vm);
    return PERDURE_OK;
}

/* ---- running operations ---- */

static perdure_status set_phase(vm_op *op, pd_phase phase, perdure_next next, perdure_next *out)
{
    op->phase = phase;
    *out = next;
    return PERDURE_OK;
}

static perdure_status finish_with(vm_op *op, perdure_next next, perdure_next *out)
{
    pd_phase phase = next == PERDURE_NEXT_RESULT ? PH_RESULT : next == PERDURE_NEXT_ERROR ? PH_ERROR : PH_SUSPEND;
    return set_phase(op, phase, next, out);
}

static void batch_item_settled(perdure_vm *vm, vm_op *item);
static perdure_status next_wait_for_callback(perdure_vm *vm, vm_op *op, perdure_next *out);
static perdure_error_kind wfc_error_kind(const perdure_vm *vm, const vm_op *op);
static perdure_status wfc_running_submitter(perdure_vm *vm, vm_op *op, const char *fn, vm_op **out);

/* A step (or check) reached a final answer from its record. */
static perdure_status step_answer(perdure_vm *vm, vm_op *op, const pd_operation *rec, perdure_next *out)
{
    (void)vm;
    switch (record_status(rec)) {
    case PERDURE_STATUS_SUCCEEDED:
        return finish_with(op, PERDURE_NEXT_RESULT, out);
    case PERDURE_STATUS_PENDING:
    case PERDURE_STATUS_READY:   /* after a RETRY: the next attempt is a new invocation */
        return finish_with(op, PERDURE_NEXT_SUSPEND, out);
    default:
        op->error_kind = op->kind == K_CONDITION ? PERDURE_ERRK_WAIT_FOR_CONDITION : PERDURE_ERRK_STEP;
        return finish_with(op, PERDURE_NEXT_ERROR, out);
    }
}

/* Queues RETRY or FAIL for a failed attempt. */
static perdure_status queue_failure(perdure_vm *vm, vm_op *op, pd_error *error, bool retry, long long delay)
{
    pd_update u;
    update_for(vm, op, retry ? PERDURE_ACTION_RETRY : PERDURE_ACTION_FAIL, &u);
    u.error = error;
    if (retry)
        u.next_attempt_delay_s = op->retry_delay = delay;
    op->phase = PH_WAIT_DONE;
    return queue_update(vm, op, &u, true);
}

static perdure_status decide_and_queue_failure(perdure_vm *vm, vm_op *op, pd_error *error)
{
    perdure_retry_decision d;
    unsigned attempts_made = op->attempt;
    perdure_status st = pd_retry_decide(&op->retry, attempts_made, error, pd_rng_next01(&vm->rng), &d, &vm->err);
    if (st) {
        pd_error_free(error);
        return st;
    }
    return queue_failure(vm, op, error, d.should_retry != 0, d.delay_seconds);
}

static pd_error *interrupted_error(const vm_op *op)
{
    pd_error *e = pd_error_new();
    char msg[128];
    snprintf(msg, sizeof msg, "step attempt %u was interrupted before it completed", op->attempt);
    if (e && (pd_bytes_set_str(&e->type, "StepInterruptedError") || pd_bytes_set_str(&e->message, msg))) {
        pd_error_free(e);
        return NULL;
    }
    return e;
}

/* START (if needed) then run the body. At-most-once steps must have START
 * durable before the body runs. */
static perdure_status step_begin_attempt(perdure_vm *vm, vm_op *op, const pd_operation *rec, perdure_next *out)
{
    op->attempt = (rec ? rec->attempt : 0) + 1;
    bool sync = op->kind == K_STEP && op->semantics == PERDURE_AT_MOST_ONCE_PER_RETRY;
    perdure_status st = queue_simple(vm, op, PERDURE_ACTION_START, sync);
    if (st)
        return st;
    if (sync)
        return set_phase(op, PH_WAIT_START, PERDURE_NEXT_CHECKPOINT, out);
    return set_phase(op, PH_RUNNING, PERDURE_NEXT_EXECUTE, out);
}

static perdure_status next_step(perdure_vm *vm, vm_op *op, perdure_next *out)
{
    const pd_operation *rec = op_record(vm, op);
    switch (op->phase) {
    case PH_NEW:
        switch (record_status(rec)) {
        case PERDURE_STATUS_SUCCEEDED:
        case PERDURE_STATUS_FAILED:
        case PERDURE_STATUS_PENDING:
        case PERDURE_STATUS_CANCELLED:
        case PERDURE_STATUS_TIMED_OUT:
        case PERDURE_STATUS_STOPPED:
            return step_answer(vm, op, rec, out);
        case PERDURE_STATUS_STARTED:
            op->attempt = rec->attempt + 1;
            if (op->kind == K_STEP && op->semantics == PERDURE_AT_MOST_ONCE_PER_RETRY) {
                /* The attempt may have had effects: never run it again; the
                 * interruption counts as its failure. */
                pd_error *e = interrupted_error(op);
                if (!e)
                    return nomem(vm);
                if (op->caller_decides_retry) {
                    pd_error_free(op->error);
                    op->error = e;
                    op->error_kind = PERDURE_ERRK_STEP_INTERRUPTED;
                    return set_phase(op, PH_INTERRUPTED, PERDURE_NEXT_INTERRUPTED, out);
                }
                perdure_status st = decide_and_queue_failure(vm, op, e);
                return st ? st : (*out = PERDURE_NEXT_CHECKPOINT, PERDURE_OK);
            }
            /* At-least-once: re-run the body without a second START. */
            return set_phase(op, PH_RUNNING, PERDURE_NEXT_EXECUTE, out);
        default:   /* absent or READY */
            return step_begin_attempt(vm, op, rec, out);
        }
    case PH_WAIT_START:
        if (!seq_acked(vm, op->wait_seq))
            return (*out = PERDURE_NEXT_CHECKPOINT, PERDURE_OK);
        return set_phase(op, PH_RUNNING, PERDURE_NEXT_EXECUTE, out);
    case PH_RUNNING:
        *out = PERDURE_NEXT_EXECUTE;
        return PERDURE_OK;
    case PH_INTERRUPTED:
        *out = PERDURE_NEXT_INTERRUPTED;
        return PERDURE_OK;
    case PH_WAIT_DONE:
        if (!seq_acked(vm, op->wait_seq))
            return (*out = PERDURE_NEXT_CHECKPOINT, PERDURE_OK);
        return step_answer(vm, op, rec, out);
    default:
        return PERDURE_E_INTERNAL;
    }
}

/* Queues the START an operation must see acknowledged before it goes on. */
static perdure_status queue_start_and_wait(perdure_vm *vm, vm_op *op, pd_update *u, perdure_next *out)
{
    perdure_status st = queue_update(vm, op, u, true);
    return st ? st : set_phase(op, PH_WAIT_START, PERDURE_NEXT_CHECKPOINT, out);
}

static bool start_unacked(const perdure_vm *vm, const vm_op *op)
{
    return op->phase == PH_WAIT_START && !seq_acked(vm, op->wait_seq);
}

static perdure_status next_wait(perdure_vm *vm, vm_op *op, perdure_next *out)
{
    const pd_operation *rec = op_record(vm, op);
    if (op->phase == PH_NEW && !rec) {
        pd_update u;
        update_for(vm, op, PERDURE_ACTION_START, &u);
        u.wait_seconds = op->wait_seconds;
        return queue_start_and_wait(vm, op, &u, out);
    }
    if (start_unacked(vm, op))
        return (*out = PERDURE_NEXT_CHECKPOINT, PERDURE_OK);
    /* A wait ends only by its timer (or a cancel); until then, suspend. Not a
     * final phase: a later response may report the timer fired. */
    op->phase = PH_CREATED;
    *out = status_terminal(record_status(rec)) ? PERDURE_NEXT_RESULT : PERDURE_NEXT_SUSPEND;
    return PERDURE_OK;
}

/* The answer of a callback, from its record. Not final while STARTED. */
static perdure_next callback_answer(vm_op *op, const pd_operation *rec)
{
    switch (record_status(rec)) {
    case PERDURE_STATUS_SUCCEEDED:
        return PERDURE_NEXT_RESULT;
    case PERDURE_STATUS_TIMED_OUT:
        op->error_kind = PERDURE_ERRK_CALLBACK_TIMEOUT;
        return PERDURE_NEXT_ERROR;
    case PERDURE_STATUS_FAILED:
    case PERDURE_STATUS_CANCELLED:
    case PERDURE_STATUS_STOPPED:
        op->error_kind = PERDURE_ERRK_CALLBACK_FAILED;
        return PERDURE_NEXT_ERROR;
    default:
        return PERDURE_NEXT_SUSPEND;
    }
}

static perdure_status next_callback(perdure_vm *vm, vm_op *op, perdure_next *out)
{
    const pd_operation *rec = op_record(vm, op);
    if (op->phase == PH_NEW && !rec) {
        pd_update u;
        update_for(vm, op, PERDURE_ACTION_START, &u);
        u.has_callback_options = op->callback_timeout_s || op->callback_heartbeat_s;
        u.callback_timeout_s = op->callback_timeout_s;
        u.callback_heartbeat_s = op->callback_heartbeat_s;
        return queue_start_and_wait(vm, op, &u, out);
    }
    if (start_unacked(vm, op))
        return (*out = PERDURE_NEXT_CHECKPOINT, PERDURE_OK);
    if (!rec || !rec->callback_id.present || !rec->callback_id.len)
        return poison(vm, pd_fail(&vm->err, PERDURE_E_PROTOCOL,
                                  "callback %s has no CallbackId after its START was acknowledged", op->id));
    op->phase = PH_CREATED;
    *out = callback_answer(op, rec);
    return PERDURE_OK;
}

static perdure_status next_invoke(perdure_vm *vm, vm_op *op, perdure_next *out)
{
    const pd_operation *rec = op_record(vm, op);
    if (op->phase == PH_NEW && !rec) {
        pd_update u;
        update_for(vm, op, PERDURE_ACTION_START, &u);
        if (pd_bytes_set(&u.function_name, op->function_name.data, op->function_name.len) ||
            (op->tenant_id.present && pd_bytes_set(&u.tenant_id, op->tenant_id.data, op->tenant_id.len)) ||
            (op->invoke_payload.present &&
             pd_bytes_set(&u.payload, op->invoke_payload.data, op->invoke_payload.len))) {
            pd_update_clear(&u);
            return nomem(vm);
        }
        return queue_start_and_wait(vm, op, &u, out);
    }
    if (start_unacked(vm, op))
        return (*out = PERDURE_NEXT_CHECKPOINT, PERDURE_OK);
    op->phase = PH_CREATED;
    perdure_op_status s = record_status(rec);
    if (s == PERDURE_STATUS_SUCCEEDED)
        *out = PERDURE_NEXT_RESULT;
    else if (status_terminal(s))
        *out = (op->error_kind = PERDURE_ERRK_INVOKE, PERDURE_NEXT_ERROR);
    else
        *out = PERDURE_NEXT_SUSPEND;
    return PERDURE_OK;
}

/* Contexts: child, map/parallel, batch item, wait_for_callback (outer part). */
static perdure_status context_answer(vm_op *op, const pd_operation *rec, perdure_next *out)
{
    if (record_status(rec) == PERDURE_STATUS_SUCCEEDED)
        return finish_with(op, PERDURE_NEXT_RESULT, out);
    if (!op->error_kind)
        op->error_kind = PERDURE_ERRK_CHILD;
    return finish_with(op, PERDURE_NEXT_ERROR, out);
}

static perdure_status context_enter(perdure_vm *vm, vm_op *op, perdure_next *out)
{
    const pd_operation *rec = op_record(vm, op);
    perdure_op_status s = record_status(rec);
    if (s == PERDURE_STATUS_FAILED || (s == PERDURE_STATUS_SUCCEEDED && !rec->replay_children)) {
        if (op->kind == K_WFC && s == PERDURE_STATUS_FAILED)
            op->error_kind = wfc_error_kind(vm, op);
        return context_answer(op, rec, out);
    }
    if (status_terminal(s) && s != PERDURE_STATUS_SUCCEEDED)
        return context_answer(op, rec, out);
    op->replay_body = s == PERDURE_STATUS_SUCCEEDED;   /* ReplayChildren: rebuild the value */
    if (!rec && !op->is_virtual) {
        perdure_status st = queue_simple(vm, op, PERDURE_ACTION_START, false);
        if (st)
            return st;
    }
    return set_phase(op, PH_RUNNING, PERDURE_NEXT_EXECUTE, out);
}

static perdure_status next_context(perdure_vm *vm, vm_op *op, perdure_next *out)
{
    switch (op->phase) {
    case PH_NEW:
        return context_enter(vm, op, out);
    case PH_RUNNING:
        *out = PERDURE_NEXT_EXECUTE;
        return PERDURE_OK;
    case PH_WAIT_DONE:
        if (!seq_acked(vm, op->wait_seq))
            return (*out = PERDURE_NEXT_CHECKPOINT, PERDURE_OK);
        return finish_with(op, op->pending_next, out);
    default:
        return PERDURE_E_INTERNAL;
    }
}

perdure_status perdure_vm_op_next(perdure_vm *vm, perdure_op handle, perdure_next *out)
{
    perdure_status st = vm_usable(vm);
    if (st)
        return st;
    vm_op *op = op_at(vm, handle);
    if (!out || !op || op->kind == K_ROOT)
        return misuse(vm, "%s: bad operation handle or NULL out", "perdure_vm_op_next");
    if (op_orphaned(vm, op))
        return pd_fail(&vm->err, PERDURE_E_ORPHANED,
                       "operation %s belongs to a map/parallel item that was abandoned when the batch completed",
                       op->id);
    uint32_t index = (uint32_t)(op - vm->ops);
    if (op->phase == PH_RESULT || op->phase == PH_ERROR || op->phase == PH_SUSPEND) {
        /* Also reached by virtual items, which end when they are reported. */
        *out = op->phase == PH_RESULT ? PERDURE_NEXT_RESULT
               : op->phase == PH_ERROR ? PERDURE_NEXT_ERROR
                                       : PERDURE_NEXT_SUSPEND;
        if (op->kind == K_ITEM)
            batch_item_settled(vm, op);
        return PERDURE_OK;
    }
    switch (op->kind) {
    case K_STEP:
    case K_CONDITION:
        st = next_step(vm, op, out);
        break;
    case K_WAIT:
        st = next_wait(vm, op, out);
        break;
    case K_CALLBACK:
        st = next_callback(vm, op, out);
        break;
    case K_INVOKE:
        st = next_invoke(vm, op, out);
        break;
    case K_WFC:
        st = next_wait_for_callback(vm, op, out);
        break;
    default:
        st = next_context(vm, op, out);
        break;
    }
    op = &vm->ops[index];   /* wait_for_callback declares its children: the table may move */
    if (!st && op->kind == K_ITEM)
        batch_item_settled(vm, op);
    if (!st && *out == PERDURE_NEXT_CHECKPOINT && vm->terminal)
        return poison(vm, pd_fail(&vm->err, PERDURE_E_PROTOCOL,
                                  "the execution has ended (completed, stopped or timed out): "
                                  "operation %s cannot be checkpointed", op->id));
    return st;
}

/* ---- wait_for_callback: a context holding a callback (#1) and a submitter
 * step (#2) that hands the callback id to the outside world ---- */

static perdure_status context_succeed(perdure_vm *vm, vm_op *op, const void *payload, size_t len);
static perdure_status context_fail(perdure_vm *vm, vm_op *op, pd_error *error);

/* Declares one of the two children, named after the context. */
static perdure_status wfc_child(perdure_vm *vm, vm_op *op, bool is_callback, uint32_t *out)
{
    uint32_t wfc_index = (uint32_t)(op - vm->ops);
    const char *suffix = is_callback ? "create callback id" : "submitter";
    char name[PD_MAX_NAME + 32];
    if (op->name.present)
        snprintf(name, sizeof name, "%s %s", op->name.data, suffix);
    else
        snprintf(name, sizeof name, "%s", suffix);
    name[PD_MAX_NAME] = 0;
    perdure_op handle;
    vm_op *child;
    perdure_status st =
        is_callback ? declare_in(vm, wfc_index, name, K_CALLBACK, PERDURE_TYPE_CALLBACK, "Callback", false, &handle,
                                 &child)
                    : declare_in(vm, wfc_index, name, K_STEP, PERDURE_TYPE_STEP, "Step", false, &handle, &child);
    if (st)
        return st;
    op = &vm->ops[wfc_index];
    if (is_callback) {
        child->callback_timeout_s = op->callback_timeout_s;
        child->callback_heartbeat_s = op->callback_heartbeat_s;
    } else {
        /* Filters stay owned by the context, which outlives the step. */
        child->semantics = op->semantics;
        child->retry = op->retry;
    }
    *out = (uint32_t)(child - vm->ops);
    return PERDURE_OK;
}

static perdure_status wfc_drive(perdure_vm *vm, vm_op *op, perdure_next *out)
{
    uint32_t wfc_index = (uint32_t)(op - vm->ops);
    perdure_status st;
    perdure_next n;
    uint32_t child;
    if (!op->callback) {
        if ((st = wfc_child(vm, op, true, &child)))
            return st;
        vm->ops[wfc_index].callback = child;   /* not through a pointer taken before the table moved */
    }
    op = &vm->ops[wfc_index];
    if ((st = perdure_vm_op_next(vm, handle_of(vm, op->callback), &n)))
        return st;
    if (n == PERDURE_NEXT_CHECKPOINT)
        return (*out = n, PERDURE_OK);
    op = &vm->ops[wfc_index];
    if (!op->submitter) {
        if ((st = wfc_child(vm, op, false, &child)))
            return st;
        vm->ops[wfc_index].submitter = child;
    }
    op = &vm->ops[wfc_index];
    if ((st = perdure_vm_op_next(vm, handle_of(vm, op->submitter), &n)))
        return st;
    op = &vm->ops[wfc_index];
    vm_op *sub = &vm->ops[op->submitter];
    if (n == PERDURE_NEXT_CHECKPOINT || n == PERDURE_NEXT_EXECUTE || n == PERDURE_NEXT_SUSPEND)
        return (*out = n, PERDURE_OK);
    if (n == PERDURE_NEXT_ERROR) {
        const pd_operation *rec = op_record(vm, sub);
        pd_error *e = rec && rec->error ? pd_error_clone(rec->error) : pd_error_new();
        if (!e)
            return nomem(vm);
        op->error_kind = PERDURE_ERRK_CALLBACK_SUBMITTER;
        st = context_fail(vm, op, e);
        return st ? st : (*out = PERDURE_NEXT_CHECKPOINT, PERDURE_OK);
    }
    vm_op *cb = &vm->ops[op->callback];
    const pd_operation *rec = op_record(vm, cb);
    n = callback_answer(cb, rec);
    if (n == PERDURE_NEXT_SUSPEND)
        return (*out = n, PERDURE_OK);
    if (n == PERDURE_NEXT_RESULT)
        st = context_succeed(vm, op, rec->result.data, rec->result.len);
    else {
        pd_error *e = rec->error ? pd_error_clone(rec->error) : pd_error_new();
        if (!e)
            return nomem(vm);
        op->error_kind = cb->error_kind;
        st = context_fail(vm, op, e);
    }
    if (st)
        return st;
    op = &vm->ops[wfc_index];
    if (op->phase == PH_WAIT_DONE)
        return (*out = PERDURE_NEXT_CHECKPOINT, PERDURE_OK);
    return finish_with(op, op->phase == PH_RESULT ? PERDURE_NEXT_RESULT : PERDURE_NEXT_ERROR, out);
}

static perdure_status next_wait_for_callback(perdure_vm *vm, vm_op *op, perdure_next *out)
{
    switch (op->phase) {
    case PH_NEW: {
        perdure_status st = context_enter(vm, op, out);
        if (st || op->phase != PH_RUNNING)
            return st;
        return wfc_drive(vm, op, out);
    }
    case PH_RUNNING:
        return wfc_drive(vm, op, out);
    default:
        return next_context(vm, op, out);
    }
}

/* Replaying a failed wait_for_callback: tell which part failed from the
 * callback's record, or from the error type when children were pruned. */
static perdure_error_kind wfc_error_kind(const perdure_vm *vm, const vm_op *op)
{
    char id[PD_MAX_ID + 1];   /* the callback is child #1 */
    const pd_operation *cb = pd_id_for(vm->opts.id_scheme, id_prefix(vm, op), 1, id) ? NULL : record_find(vm, id);
    switch (record_status(cb)) {
    case PERDURE_STATUS_TIMED_OUT:
        return PERDURE_ERRK_CALLBACK_TIMEOUT;
    case PERDURE_STATUS_FAILED:
    case PERDURE_STATUS_CANCELLED:
    case PERDURE_STATUS_STOPPED:
        return PERDURE_ERRK_CALLBACK_FAILED;
    case PERDURE_STATUS_ABSENT: {
        const pd_operation *rec = op_record(vm, op);
        const char *type = rec && rec->error && rec->error->type.present ? rec->error->type.data : "";
        return strncmp(type, "Callback.", 9) == 0 ? PERDURE_ERRK_CALLBACK_TIMEOUT : PERDURE_ERRK_CALLBACK_FAILED;
    }
    default:
        return PERDURE_ERRK_CALLBACK_SUBMITTER;
    }
}

/* Outcomes reported on a wait_for_callback belong to its submitter step. */
static perdure_status wfc_running_submitter(perdure_vm *vm, vm_op *op, const char *fn, vm_op **out)
{
    vm_op *sub = op->submitter ? &vm->ops[op->submitter] : NULL;
    if (op->phase != PH_RUNNING || !sub || sub->phase != PH_RUNNING)
        return misuse(vm, "%s: the wait_for_callback submitter is not running", fn);
    *out = sub;
    return PERDURE_OK;
}

/* ---- reporting outcomes ---- */

static perdure_status running_op(perdure_vm *vm, perdure_op handle, const char *fn, vm_op **out)
{
    perdure_status st = vm_usable(vm);
    if (st)
        return st;
    if (vm->finishing)
        return misuse(vm, "%s: the invocation has finished (perdure_vm_finish)", fn);
    vm_op *op = op_at(vm, handle);
    if (!op || op->kind == K_ROOT)
        return misuse(vm, "%s: bad operation handle", fn);
    if (op_orphaned(vm, op))
        return pd_fail(&vm->err, PERDURE_E_ORPHANED, "%s: operation %s was abandoned by its map/parallel", fn,
                       op->id);
    if (op->kind == K_WFC)
        return wfc_running_submitter(vm, op, fn, out);
    if (op->phase != PH_RUNNING)
        return misuse(vm, "%s: the operation is not running a body (ask perdure_vm_op_next first)", fn);
    *out = op;
    return PERDURE_OK;
}

static perdure_status check_payload(perdure_vm *vm, const void *payload, unsigned long long len, size_t limit,
                                    const char *what)
{
    if (!payload && len)
        return misuse(vm, "%s: NULL payload with a length", what);
    if (len > limit)
        return pd_fail(&vm->err, PERDURE_E_TOO_LARGE, "%s is %llu bytes; the limit is %zu bytes", what, len, limit);
    return PERDURE_OK;
}

/* Large batch results are replaced by a summary envelope the VM writes. */
static int batch_summary(const perdure_vm *vm, const vm_op *op, pd_bytes *out)
{
    perdure_batch_outcome o;
    perdure_vm_batch_outcome(vm, handle_of(vm, (uint32_t)(op - vm->ops)), &o);
    static const char *const reasons[] = {"", "ALL_COMPLETED", "MIN_SUCCESSFUL_REACHED", "FAILURE_TOLERANCE_EXCEEDED"};
    char text[512];
    snprintf(text, sizeof text,
             "{\"type\":\"%s\",\"totalCount\":%u,\"completionReason\":\"%s\",\"startedCount\":%u,"
             "\"successCount\":%u,\"failureCount\":%u,\"status\":\"%s\"}",
             op->batch_kind == PERDURE_BATCH_MAP ? "MapResult" : "ParallelResult", o.total, reasons[o.reason],
             o.started, o.succeeded, o.failed, o.failed ? "FAILED" : "SUCCEEDED");
    return pd_bytes_set_str(out, text);
}

static perdure_status context_succeed(perdure_vm *vm, vm_op *op, const void *payload, size_t len)
{
    if (pd_bytes_set(&op->value, payload ? payload : "", len))
        return nomem(vm);
    const pd_operation *rec = op_record(vm, op);
    if (op->is_virtual || status_terminal(record_status(rec))) {
        op->phase = PH_RESULT;   /* nothing to record: virtual, or replaying children */
        return PERDURE_OK;
    }
    pd_update u;
    update_for(vm, op, PERDURE_ACTION_SUCCEED, &u);
    u.has_context_options = true;
    if (len > PERDURE_REPLAY_CHILDREN_THRESHOLD) {
        u.replay_children = true;
        int failed = op->summary.present ? pd_bytes_set(&u.payload, op->summary.data, op->summary.len)
                     : op->kind == K_BATCH ? batch_summary(vm, op, &u.payload)
                                           : pd_bytes_set(&u.payload, "", 0);
        if (failed) {
            pd_update_clear(&u);
            return nomem(vm);
        }
    } else if (pd_bytes_set(&u.payload, payload ? payload : "", len)) {
        pd_update_clear(&u);
        return nomem(vm);
    }
    op->pending_next = PERDURE_NEXT_RESULT;
    op->phase = PH_WAIT_DONE;
    return queue_update(vm, op, &u, true);
}

static perdure_status context_fail(perdure_vm *vm, vm_op *op, pd_error *error)
{
    op->error_kind = op->kind == K_WFC ? op->error_kind : PERDURE_ERRK_CHILD;
    const pd_operation *rec = op_record(vm, op);
    if (op->is_virtual || status_terminal(record_status(rec))) {
        pd_error_free(op->error);
        op->error = error;
        op->phase = PH_ERROR;
        return PERDURE_OK;
    }
    pd_update u;
    update_for(vm, op, PERDURE_ACTION_FAIL, &u);
    u.error = error;
    op->pending_next = PERDURE_NEXT_ERROR;
    op->phase = PH_WAIT_DONE;
    return queue_update(vm, op, &u, true);
}

perdure_status perdure_vm_op_succeed(perdure_vm *vm, perdure_op handle, const void *payload, unsigned long long len)
{
    vm_op *op;
    perdure_status st = running_op(vm, handle, "perdure_vm_op_succeed", &op);
    if (st)
        return st;
    switch (op->kind) {
    case K_STEP: {
        if ((st = check_payload(vm, payload, len, PD_MAX_STEP_RESULT, "step result")))
            return st;
        pd_update u;
        update_for(vm, op, PERDURE_ACTION_SUCCEED, &u);
        if (pd_bytes_set(&u.payload, payload ? payload : "", len)) {
            pd_update_clear(&u);
            return nomem(vm);
        }
        op->phase = PH_WAIT_DONE;
        return queue_update(vm, op, &u, true);
    }
    case K_CONDITION:
        return misuse(vm, "%s: report a condition check with perdure_vm_op_condition_checked",
                      "perdure_vm_op_succeed");
    case K_CHILD:
    case K_ITEM:
    case K_BATCH:
        if ((st = check_payload(vm, payload, len, PD_MAX_PAYLOAD, "context result")))
            return st;
        if (op->kind == K_BATCH && !op->batch_done)
            return misuse(vm, "%s: the batch is not complete (poll until PERDURE_BATCH_DONE)",
                          "perdure_vm_op_succeed");
        if ((st = context_succeed(vm, op, payload, len)))
            return st;
        if (op->kind == K_ITEM)
            batch_item_settled(vm, op);   /* a virtual item ends here */
        return PERDURE_OK;
    default:
        return misuse(vm, "%s: this operation has no body to report", "perdure_vm_op_succeed");
    }
}

static perdure_status fail_common(perdure_vm *vm, perdure_op handle, const perdure_error_info *info,
                                  const perdure_retry_decision *decided, const char *fn)
{
    vm_op *op = vm ? op_at(vm, handle) : NULL;
    perdure_status st;
    if (op && op->phase == PH_INTERRUPTED) {
        /* Only the caller's decision moves an interrupted attempt on. */
        if ((st = vm_usable(vm)))
            return st;
        if (!decided)
            return misuse(vm, "%s: an interrupted attempt is reported with perdure_vm_op_fail_decided", fn);
        pd_error_free(op->error);
        op->error = NULL;
    } else if ((st = running_op(vm, handle, fn, &op))) {
        return st;
    }
    pd_error *e = pd_error_from_info(info);
    if (!e)
        return nomem(vm);
    pd_buf json;
    pd_buf_init(&json);
    st = pd_json_encode_error(e, &json, &vm->err);
    size_t size = json.len;
    pd_buf_free(&json);
    if (st || size > PD_MAX_ERROR_JSON) {
        pd_error_free(e);
        return st ? st
                  : pd_fail(&vm->err, PERDURE_E_TOO_LARGE, "error object is %zu bytes of JSON; the limit is %llu",
                            size, PD_MAX_ERROR_JSON);
    }
    switch (op->kind) {
    case K_STEP:
        if (decided) {
            if (decided->should_retry && (st = check_duration(vm, "retry delay", decided->delay_seconds, 1))) {
                pd_error_free(e);
                return st;
            }
            return queue_failure(vm, op, e, decided->should_retry != 0, decided->delay_seconds);
        }
        return decide_and_queue_failure(vm, op, e);
    case K_CONDITION:   /* a check that raised is not retried */
        return queue_failure(vm, op, e, false, 0);
    case K_CHILD:
    case K_ITEM:
    case K_BATCH:
        if ((st = context_fail(vm, op, e)))
            return st;
        if (op->kind == K_ITEM)
            batch_item_settled(vm, op);   /* a virtual item ends here */
        return PERDURE_OK;
    default:
        pd_error_free(e);
        return misuse(vm, "%s: this operation has no body to report", fn);
    }
}

perdure_status perdure_vm_op_fail(perdure_vm *vm, perdure_op op, const perdure_error_info *error)
{
    return fail_common(vm, op, error, NULL, "perdure_vm_op_fail");
}

perdure_status perdure_vm_op_fail_decided(perdure_vm *vm, perdure_op op, const perdure_error_info *error,
                                          int should_retry, long long delay_seconds)
{
    perdure_retry_decision d = {should_retry, delay_seconds};
    return fail_common(vm, op, error, &d, "perdure_vm_op_fail_decided");
}

perdure_status perdure_vm_op_suspended(perdure_vm *vm, perdure_op handle)
{
    vm_op *op;
    perdure_status st = running_op(vm, handle, "perdure_vm_op_suspended", &op);
    if (st)
        return st;
    if (op->kind != K_CHILD && op->kind != K_ITEM && op->kind != K_BATCH)
        return misuse(vm, "%s: only a context body suspends", "perdure_vm_op_suspended");
    op->phase = PH_SUSPEND;
    if (op->kind == K_ITEM)
        batch_item_settled(vm, op);
    return PERDURE_OK;
}

perdure_status perdure_vm_op_set_summary(perdure_vm *vm, perdure_op handle, const void *summary,
                                         unsigned long long len)
{
    vm_op *op;
    perdure_status st = running_op(vm, handle, "perdure_vm_op_set_summary", &op);
    if (st || (st = check_payload(vm, summary, len, PD_MAX_PAYLOAD, "summary")))
        return st;
    if (op->kind != K_CHILD && op->kind != K_ITEM && op->kind != K_BATCH)
        return misuse(vm, "%s: only contexts have summaries", "perdure_vm_op_set_summary");
    return pd_bytes_set(&op->summary, summary ? summary : "", len) ? nomem(vm) : PERDURE_OK;
}

static perdure_status condition_report(perdure_vm *vm, perdure_op handle, const void *state, size_t len,
                                       int should_continue, const long long *delay, const char *fn)
{
    vm_op *op;
    perdure_status st = running_op(vm, handle, fn, &op);
    if (st || (st = check_payload(vm, state, len, PD_MAX_STEP_RESULT, "condition state")))
        return st;
    if (op->kind != K_CONDITION)
        return misuse(vm, "%s: not a wait_for_condition operation", fn);
    if (!delay && !op->has_wait && should_continue)
        return misuse(vm, "%s: no wait strategy was configured; report with perdure_vm_op_condition_decided", fn);
    pd_update u;
    if (!should_continue) {
        update_for(vm, op, PERDURE_ACTION_SUCCEED, &u);
    } else {
        perdure_retry_decision d = {1, delay ? *delay : 0};
        if (!delay && (st = pd_wait_decide(&op->wait, op->attempt, pd_rng_next01(&vm->rng), &d, &vm->err)))
            return st;
        if (!d.should_retry) {
            char msg[128];
            snprintf(msg, sizeof msg, "wait_for_condition gave up after %u attempts", op->attempt);
            perdure_error_info info = {.error_type = "WaitForConditionError", .error_message = msg};
            return queue_failure(vm, op, pd_error_from_info(&info), false, 0);
        }
        if ((st = check_duration(vm, "condition delay", d.delay_seconds, 1)))
            return st;
        update_for(vm, op, PERDURE_ACTION_RETRY, &u);
        u.next_attempt_delay_s = op->retry_delay = d.delay_seconds;
    }
    if (pd_bytes_set(&u.payload, state ? state : "", len)) {
        pd_update_clear(&u);
        return nomem(vm);
    }
    op->phase = PH_WAIT_DONE;
    return queue_update(vm, op, &u, true);
}

perdure_status perdure_vm_op_condition_checked(perdure_vm *vm, perdure_op op, const void *state,
                                               unsigned long long len, int should_continue)
{
    return condition_report(vm, op, state, len, should_continue, NULL, "perdure_vm_op_condition_checked");
}

perdure_status perdure_vm_op_condition_decided(perdure_vm *vm, perdure_op op, const void *state,
                                               unsigned long long len, int should_continue, long long delay_seconds)
{
    return condition_report(vm, op, state, len, should_continue, &delay_seconds, "perdure_vm_op_condition_decided");
}

/* ---- views ---- */

static const vm_op *view_op(const perdure_vm *vm, perdure_op handle)
{
    if (!vm)
        return NULL;
    const vm_op *op = op_at(vm, handle);
    return op && op->kind != K_ROOT ? op : NULL;
}

const char *perdure_vm_op_id(const perdure_vm *vm, perdure_op handle)
{
    const vm_op *op = view_op(vm, handle);
    return op ? op->id : NULL;
}

perdure_status perdure_vm_op_status(const perdure_vm *vm, perdure_op handle, perdure_op_status *out)
{
    const vm_op *op = view_op(vm, handle);
    if (!op || !out)
        return PERDURE_E_MISUSE;
    *out = record_status(op_record(vm, op));
    return PERDURE_OK;
}

perdure_status perdure_vm_op_attempt(const perdure_vm *vm, perdure_op handle, unsigned int *out)
{
    const vm_op *op = view_op(vm, handle);
    if (!op || !out)
        return PERDURE_E_MISUSE;
    if (op->kind == K_WFC)
        return perdure_vm_op_attempt(vm, handle_of(vm, op->submitter), out);
    if (op->kind != K_STEP && op->kind != K_CONDITION)
        return PERDURE_E_MISUSE;
    const pd_operation *rec = op_record(vm, op);
    *out = op->attempt ? op->attempt : (rec ? rec->attempt : 0) + 1;
    return PERDURE_OK;
}

perdure_status perdure_vm_op_result(const perdure_vm *vm, perdure_op handle, const unsigned char **data,
                                    unsigned long long *len)
{
    const vm_op *op = view_op(vm, handle);
    if (!op || !data || !len)
        return PERDURE_E_MISUSE;
    const pd_operation *rec = op_record(vm, op);
    const pd_bytes *src = NULL;
    if (op->kind == K_CONDITION && op->phase == PH_RUNNING)
        src = rec && rec->result.present ? &rec->result : &op->initial_state;   /* the state to check */
    else if (op->phase == PH_RESULT && op->value.present)
        src = &op->value;   /* a context's value, not its recorded summary */
    else if (op->phase == PH_RESULT || (op->phase == PH_CREATED && record_status(rec) == PERDURE_STATUS_SUCCEEDED))
        src = rec ? &rec->result : NULL;
    else
        return PERDURE_E_MISUSE;
    *data = src && src->present ? (const unsigned char *)src->data : NULL;
    *len = src && src->present ? src->len : 0;
    return PERDURE_OK;
}

perdure_status perdure_vm_op_error(const perdure_vm *vm, perdure_op handle, perdure_error_view *out)
{
    const vm_op *op = view_op(vm, handle);
    if (!op || !out || !op->error_kind)
        return PERDURE_E_MISUSE;
    const pd_operation *rec = op_record(vm, op);
    const pd_error *e = op->error ? op->error : rec ? rec->error : NULL;
    *out = (perdure_error_view){.kind = op->error_kind};
    if (e) {
        out->error_type = e->type.present ? e->type.data : NULL;
        out->error_message = e->message.present ? e->message.data : NULL;
        out->error_data = e->data.present ? e->data.data : NULL;
        out->stack_trace = (const char *const *)e->stack;
        out->stack_trace_len = e->stack_len;
    }
    return PERDURE_OK;
}

perdure_status perdure_vm_op_callback_id(const perdure_vm *vm, perdure_op handle, const char **out)
{
    const vm_op *op = view_op(vm, handle);
    if (!op || !out)
        return PERDURE_E_MISUSE;
    if (op->kind == K_WFC)
        op = op->callback ? &vm->ops[op->callback] : NULL;
    const pd_operation *rec = op && op->kind == K_CALLBACK ? op_record(vm, op) : NULL;
    if (!rec || !rec->callback_id.present || op->phase == PH_NEW ||
        start_unacked(vm, op))
        return PERDURE_E_MISUSE;
    *out = rec->callback_id.data;
    return PERDURE_OK;
}

perdure_status perdure_vm_op_retry_delay(const perdure_vm *vm, perdure_op handle, long long *seconds)
{
    const vm_op *op = view_op(vm, handle);
    if (!op || !seconds || !op->retry_delay)
        return PERDURE_E_MISUSE;
    *seconds = op->retry_delay;
    return PERDURE_OK;
}

/* ---- map / parallel ---- */

static void orphan_running_items(perdure_vm *vm, vm_op *batch)
{
    for (unsigned i = 0; i < batch->item_count; i++) {
        pd_item *it = &batch->items[i];
        if (it->state == ITEM_RUNNING || it->state == ITEM_SUSPENDED)
            vm->ops[it->op].orphaned = true;
    }
}

/* Called after each item transition: counts it once when it settles. */
static void batch_item_settled(perdure_vm *vm, vm_op *item)
{
    vm_op *batch = &vm->ops[item->ctx];
    pd_item *it = &batch->items[item->item_index];
    if (it->state != ITEM_RUNNING)
        return;
    switch (item->phase) {
    case PH_RESULT:
        it->state = ITEM_SUCCEEDED;
        batch->succeeded++;
        break;
    case PH_ERROR:
        it->state = ITEM_FAILED;
        batch->failed++;
        break;
    case PH_SUSPEND:
        it->state = ITEM_SUSPENDED;
        break;
    default:
        return;
    }
    batch->running--;
}

static perdure_status start_item(perdure_vm *vm, vm_op *batch, unsigned index, perdure_batch_poll *out)
{
    uint32_t batch_index = (uint32_t)(batch - vm->ops);
    uint32_t item_index;
    vm_op *item = op_new(vm, &item_index);
    if (!item)
        return nomem(vm);
    batch = &vm->ops[batch_index];
    pd_item *it = &batch->items[index];
    item->kind = K_ITEM;
    item->type = PERDURE_TYPE_CONTEXT;
    item->ctx = batch_index;
    item->item_index = index;
    item->is_virtual = batch->nesting == PERDURE_NESTING_FLAT;
    snprintf(item->sub_type, sizeof item->sub_type, "%s",
             batch->batch_kind == PERDURE_BATCH_MAP ? "MapIteration" : "ParallelBranch");
    char default_name[48];
    snprintf(default_name, sizeof default_name, "%s-%u",
             batch->batch_kind == PERDURE_BATCH_MAP ? "map-item" : "parallel-branch", index);
    if (pd_bytes_set_str(&item->name, it->name.present ? it->name.data : default_name))
        return nomem(vm);
    /* Items take their Id from the 0-based index, not from a counter. */
    perdure_status st = op_identify(vm, item, batch, index);
    if (st)
        return st;
    if (!item->is_virtual)
        note_declared(vm, false, op_record(vm, item));   /* as for any declared operation */
    it->op = item_index;
    it->state = ITEM_RUNNING;
    batch->running++;
    batch->next_item = index + 1;
    *out = (perdure_batch_poll){PERDURE_BATCH_RUN_ITEM, index, handle_of(vm, item_index)};
    return PERDURE_OK;
}

perdure_status perdure_vm_batch_poll(perdure_vm *vm, perdure_op handle, perdure_batch_poll *out)
{
    perdure_status st = vm_usable(vm);
    if (st)
        return st;
    vm_op *batch = op_at(vm, handle);
    if (!batch || batch->kind != K_BATCH || !out)
        return misuse(vm, "%s: not a map/parallel handle, or NULL out", "perdure_vm_batch_poll");
    if (op_orphaned(vm, batch))
        return pd_fail(&vm->err, PERDURE_E_ORPHANED, "%s: map/parallel %s was abandoned by an enclosing batch",
                       "perdure_vm_batch_poll", batch->id);
    if (batch->phase != PH_RUNNING)
        return misuse(vm, "%s: the batch is not running (ask perdure_vm_op_next first)", "perdure_vm_batch_poll");
    *out = (perdure_batch_poll){0};
    if (!batch->batch_done) {
        perdure_completion_reason reason =
            pd_completion_check(&batch->completion, batch->item_count, batch->succeeded, batch->failed);
        if (reason != PERDURE_COMPLETION_NONE) {
            batch->batch_done = true;
            batch->reason = reason;
            orphan_running_items(vm, batch);
        }
    }
    if (batch->batch_done) {
        out->action = PERDURE_BATCH_DONE;
        return PERDURE_OK;
    }
    if (batch->next_item < batch->item_count && batch->running < batch->max_concurrency)
        return start_item(vm, batch, batch->next_item, out);
    out->action = batch->running ? PERDURE_BATCH_WAIT : PERDURE_BATCH_SUSPEND;
    return PERDURE_OK;
}

perdure_status perdure_vm_batch_outcome(const perdure_vm *vm, perdure_op handle, perdure_batch_outcome *out)
{
    const vm_op *batch = view_op(vm, handle);
    if (!batch || batch->kind != K_BATCH || !out)
        return PERDURE_E_MISUSE;
    *out = (perdure_batch_outcome){.reason = batch->reason, .total = batch->item_count,
                                   .succeeded = batch->succeeded, .failed = batch->failed};
    for (unsigned i = 0; i < batch->item_count; i++)
        if (batch->items[i].state == ITEM_RUNNING || batch->items[i].state == ITEM_SUSPENDED)
            out->started++;
    return PERDURE_OK;
}

perdure_status perdure_vm_batch_item(const perdure_vm *vm, perdure_op handle, unsigned int index,
                                     perdure_op_status *status, perdure_op *item)
{
    const vm_op *batch = view_op(vm, handle);
    if (!batch || batch->kind != K_BATCH || index >= batch->item_count || !status)
        return PERDURE_E_MISUSE;
    static const perdure_op_status by_state[] = {
        [ITEM_NOT_STARTED] = PERDURE_STATUS_ABSENT, [ITEM_RUNNING] = PERDURE_STATUS_STARTED,
        [ITEM_SUSPENDED] = PERDURE_STATUS_STARTED, [ITEM_SUCCEEDED] = PERDURE_STATUS_SUCCEEDED,
        [ITEM_FAILED] = PERDURE_STATUS_FAILED};
    const pd_item *it = &batch->items[index];
    *status = by_state[it->state];
    if (item)
        *item = it->state == ITEM_NOT_STARTED ? 0 : handle_of(vm, it->op);
    return PERDURE_OK;
}

/* ---- ending the invocation ---- */

/* A READY step counts: its retry came due after the code suspended on it,
 * and the service invokes again for it. */
static bool something_awaits_service(const perdure_vm *vm)
{
    for (size_t i = 0; i < vm->records.len; i++) {
        const pd_operation *r = &vm->records.items[i];
        if ((r->type == PERDURE_TYPE_STEP &&
             (r->status == PERDURE_STATUS_PENDING || r->status == PERDURE_STATUS_READY)) ||
            ((r->type == PERDURE_TYPE_WAIT || r->type == PERDURE_TYPE_CALLBACK ||
              r->type == PERDURE_TYPE_CHAINED_INVOKE) &&
             r->status == PERDURE_STATUS_STARTED))
            return true;
    }
    return false;
}

perdure_status perdure_vm_finish(perdure_vm *vm, perdure_outcome outcome, const void *payload,
                                 unsigned long long len, const perdure_error_info *error, perdure_next *next)
{
    perdure_status st = vm_usable(vm);
    if (st)
        return st;
    if (!next || outcome > PERDURE_OUTCOME_PENDING)
        return misuse(vm, "%s: NULL next or unknown outcome", "perdure_vm_finish");
    if (!vm->started || vm->finishing)
        return misuse(vm, "%s", vm->finishing ? "perdure_vm_finish called twice" : "perdure_vm_finish before start");
    if ((st = check_payload(vm, payload, len, PD_MAX_PAYLOAD, "execution result")))
        return st;
    if (outcome == PERDURE_OUTCOME_PENDING && !something_awaits_service(vm))
        return misuse(vm, "%s: no operation is waiting on the service (a wait, retry, callback or invoke)",
                      "cannot suspend");
    pd_output *o = &vm->output;
    o->status = outcome;
    if (outcome == PERDURE_OUTCOME_FAILED && !(o->error = pd_error_from_info(error)))
        return nomem(vm);
    size_t size = len;
    if (outcome == PERDURE_OUTCOME_FAILED) {
        pd_buf json;
        pd_buf_init(&json);
        st = pd_json_encode_error(o->error, &json, &vm->err);
        size = json.len;
        pd_buf_free(&json);
        if (st)
            return st;
    }
    if (outcome != PERDURE_OUTCOME_PENDING && size > vm->opts.max_inline_result) {
        /* Too large for the response: checkpoint it on the EXECUTION (§4.12). */
        pd_update u;
        pd_update_init(&u);
        snprintf(u.id, sizeof u.id, "execution-result-%lld", vm->now_ms);
        u.type = PERDURE_TYPE_EXECUTION;
        if (outcome == PERDURE_OUTCOME_SUCCEEDED) {
            u.action = PERDURE_ACTION_SUCCEED;
            if (pd_bytes_set(&u.payload, payload, len))
                return nomem(vm);
            if (pd_bytes_set(&o->result, "", 0))
                return nomem(vm);
        } else {
            u.action = PERDURE_ACTION_FAIL;
            u.error = o->error;
            o->error = NULL;
        }
        if (!enqueue(vm, &u, true))
            return nomem(vm);
    } else if (outcome == PERDURE_OUTCOME_SUCCEEDED && pd_bytes_set(&o->result, payload ? payload : "", len)) {
        return nomem(vm);
    }
    vm->finishing = true;
    /* Everything still queued is flushed: durable progress is never dropped. */
    *next = vm->queue_len ? PERDURE_NEXT_CHECKPOINT : PERDURE_NEXT_RESULT;
    return PERDURE_OK;
}

perdure_status perdure_vm_output(perdure_vm *vm, perdure_buf *out)
{
    perdure_status st = vm_usable(vm);
    if (st)
        return st;
    if (!out || !vm->finishing || vm->queue_len)
        return misuse(vm, "%s: finish the invocation and flush its checkpoints first", "perdure_vm_output");
    pd_buf buf;
    pd_buf_init(&buf);
    st = vm->opts.wire == PERDURE_WIRE_JSON
             ? pd_json_encode_output(&vm->output, &buf, &vm->err)
             : pd_mp_encode_output(&vm->output, vm->opts.compress_threshold, &buf, &vm->err);
    if (st) {
        pd_buf_free(&buf);
        return st;
    }
    pd_buf_release(&buf, out);
    return PERDURE_OK;
}

/* Small shared pieces: error slots, owned bytes, growable buffers, the model's
 * constructors and destructors, enum names, and the jitter PRNG. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vm_internal.h"

perdure_status pd_fail(pd_err *err, perdure_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

/* ---- pd_bytes ---- */

int pd_bytes_set(pd_bytes *b, const void *data, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    if (len)
        memcpy(copy, data, len);
    copy[len] = 0;
    free(b->data);
    b->data = copy;
    b->len = len;
    b->present = true;
    return 0;
}

int pd_bytes_set_str(pd_bytes *b, const char *s)
{
    if (!s) {
        pd_bytes_clear(b);
        return 0;
    }
    return pd_bytes_set(b, s, strlen(s));
}

void pd_bytes_clear(pd_bytes *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->present = false;
}

/* ---- pd_buf ---- */

void pd_buf_init(pd_buf *b) { memset(b, 0, sizeof *b); }

void pd_buf_free(pd_buf *b)
{
    free(b->data);
    pd_buf_init(b);
}

int pd_buf_reserve(pd_buf *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (b->cap - b->len >= extra)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return -1;
        }
        cap *= 2;
    }
    unsigned char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int pd_buf_append(pd_buf *b, const void *data, size_t len)
{
    if (pd_buf_reserve(b, len))
        return -1;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int pd_buf_append_str(pd_buf *b, const char *s) { return pd_buf_append(b, s, strlen(s)); }

int pd_buf_printf(pd_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || pd_buf_reserve(b, (size_t)n + 1))
        return -1;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void pd_buf_release(pd_buf *b, perdure_buf *out)
{
    out->data = b->len ? b->data : NULL;
    out->len = b->len;
    if (!b->len)
        free(b->data);
    pd_buf_init(b);
}

void perdure_buf_free(perdure_buf *buf)
{
    if (!buf)
        return;
    free(buf->data);
    buf->data = NULL;
    buf->len = 0;
}

/* ---- ErrorObject ---- */

pd_error *pd_error_new(void) { return calloc(1, sizeof(pd_error)); }

void pd_error_free(pd_error *e)
{
    if (!e)
        return;
    pd_bytes_clear(&e->type);
    pd_bytes_clear(&e->message);
    pd_bytes_clear(&e->data);
    for (size_t i = 0; i < e->stack_len; i++)
        free(e->stack[i]);
    free(e->stack);
    free(e);
}

static int error_set_stack(pd_error *e, const char *const *lines, size_t n)
{
    if (!n)
        return 0;
    e->stack = calloc(n, sizeof(char *));
    if (!e->stack)
        return -1;
    for (size_t i = 0; i < n; i++) {
        e->stack[i] = strdup(lines[i] ? lines[i] : "");
        if (!e->stack[i])
            return -1;
        e->stack_len = i + 1;
    }
    return 0;
}

pd_error *pd_error_from_info(const perdure_error_info *info)
{
    pd_error *e = pd_error_new();
    if (!e)
        return NULL;
    if (info && (pd_bytes_set_str(&e->type, info->error_type) || pd_bytes_set_str(&e->message, info->error_message) ||
                 pd_bytes_set_str(&e->data, info->error_data) ||
                 (info->stack_trace && error_set_stack(e, info->stack_trace, info->stack_trace_len)))) {
        pd_error_free(e);
        return NULL;
    }
    return e;
}

static int bytes_copy(pd_bytes *dst, const pd_bytes *src)
{
    if (!src->present)
        return 0;
    return pd_bytes_set(dst, src->data, src->len);
}

pd_error *pd_error_clone(const pd_error *src)
{
    if (!src)
        return NULL;
    pd_error *e = pd_error_new();
    if (!e)
        return NULL;
    if (bytes_copy(&e->type, &src->type) || bytes_copy(&e->message, &src->message) ||
        bytes_copy(&e->data, &src->data) || error_set_stack(e, (const char *const *)src->stack, src->stack_len)) {
        pd_error_free(e);
        return NULL;
    }
    return e;
}

/* ---- Operation / OperationUpdate ---- */

void pd_operation_init(pd_operation *op) { memset(op, 0, sizeof *op); }

void pd_operation_clear(pd_operation *op)
{
    pd_bytes_clear(&op->name);
    pd_bytes_clear(&op->input_payload);
    pd_bytes_clear(&op->result);
    pd_bytes_clear(&op->callback_id);
    pd_error_free(op->error);
    pd_operation_init(op);
}

int pd_operation_copy(pd_operation *dst, const pd_operation *src)
{
    *dst = *src;
    dst->name = dst->input_payload = dst->result = dst->callback_id = (pd_bytes){0};
    dst->error = NULL;
    if (bytes_copy(&dst->name, &src->name) || bytes_copy(&dst->input_payload, &src->input_payload) ||
        bytes_copy(&dst->result, &src->result) || bytes_copy(&dst->callback_id, &src->callback_id) ||
        (src->error && !(dst->error = pd_error_clone(src->error)))) {
        pd_operation_clear(dst);
        return -1;
    }
    return 0;
}

void pd_update_init(pd_update *u) { memset(u, 0, sizeof *u); }

void pd_update_clear(pd_update *u)
{
    pd_bytes_clear(&u->name);
    pd_bytes_clear(&u->payload);
    pd_bytes_clear(&u->function_name);
    pd_bytes_clear(&u->tenant_id);
    pd_error_free(u->error);
    pd_update_init(u);
}

void pd_updates_free(pd_update *updates, size_t n)
{
    for (size_t i = 0; i < n && updates; i++)
        pd_update_clear(&updates[i]);
    free(updates);
}

/* ---- lists and envelopes ---- */

void pd_op_list_free(pd_op_list *l)
{
    for (size_t i = 0; i < l->len; i++)
        pd_operation_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

pd_operation *pd_op_list_push(pd_op_list *l)
{
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        pd_operation *p = realloc(l->items, cap * sizeof *p);
        if (!p)
            return NULL;
        l->items = p;
        l->cap = cap;
    }
    pd_operation *op = &l->items[l->len++];
    pd_operation_init(op);
    return op;
}

void pd_invocation_free(pd_invocation *inv)
{
    pd_bytes_clear(&inv->arn);
    pd_bytes_clear(&inv->token);
    pd_bytes_clear(&inv->next_marker);
    pd_op_list_free(&inv->ops);
}

void pd_checkpoint_response_free(pd_checkpoint_response *r)
{
    pd_bytes_clear(&r->token);
    pd_bytes_clear(&r->next_marker);
    pd_op_list_free(&r->ops);
}

void pd_output_free(pd_output *o)
{
    pd_bytes_clear(&o->result);
    pd_error_free(o->error);
    o->error = NULL;
}

/* ---- Id index ---- */

static const char *id_at(pd_id_array arr, size_t pos)
{
    return (const char *)arr.base + pos * arr.stride + arr.id_offset;
}

/* Eight bytes per multiply: ids are mostly 64 or 16 hex characters, and
 * hashing them byte by byte was a good part of every lookup. */
static uint64_t hash_id(const char *id)
{
    size_t len = strlen(id);
    uint64_t h = len * 0x9e3779b97f4a7c15ULL, w;
    for (; len >= 8; len -= 8, id += 8) {
        memcpy(&w, id, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, id, len);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 29);
}

static void id_place(uint32_t *slots, size_t cap, const char *id, size_t pos)
{
    size_t s = hash_id(id) & (cap - 1);
    while (slots[s])
        s = (s + 1) & (cap - 1);
    slots[s] = (uint32_t)(pos + 1);
}

size_t pd_id_index_find(const pd_id_index *ix, pd_id_array arr, const char *id)
{
    if (!ix->cap || !id)
        return SIZE_MAX;
    for (size_t s = hash_id(id) & (ix->cap - 1); ix->slots[s]; s = (s + 1) & (ix->cap - 1))
        if (strcmp(id_at(arr, ix->slots[s] - 1), id) == 0)
            return ix->slots[s] - 1;
    return SIZE_MAX;
}

int pd_id_index_add(pd_id_index *ix, pd_id_array arr, size_t count, size_t pos)
{
    if (count * 2 > ix->cap) {   /* at most half full: probes stay short */
        size_t cap = ix->cap ? ix->cap * 2 : 64;
        while (count * 2 > cap)
            cap *= 2;
        uint32_t *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return -1;
        for (size_t i = 0; i < count; i++)
            if (i != pos)
                id_place(slots, cap, id_at(arr, i), i);
        free(ix->slots);
        ix->slots = slots;
        ix->cap = cap;
    }
    id_place(ix->slots, ix->cap, id_at(arr, pos), pos);
    return 0;
}

void pd_id_index_free(pd_id_index *ix)
{
    free(ix->slots);
    ix->slots = NULL;
    ix->cap = 0;
}

/* ---- sorted position sets ---- */

int pd_posset_reserve(pd_posset *s, size_t cap)
{
    if (cap <= s->cap)
        return 0;
    size_t *at = realloc(s->at, cap * sizeof *at);
    if (!at)
        return -1;
    s->at = at;
    s->cap = cap;
    return 0;
}

/* The index of the first element >= pos. */
static size_t posset_lower(const pd_posset *s, size_t pos)
{
    if (s->len && s->at[s->len - 1] < pos)   /* the common case: appending */
        return s->len;
    size_t lo = 0, hi = s->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->at[mid] < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool pd_posset_has(const pd_posset *s, size_t pos)
{
    size_t i = posset_lower(s, pos);
    return i < s->len && s->at[i] == pos;
}

void pd_posset_add(pd_posset *s, size_t pos)
{
    size_t i = posset_lower(s, pos);
    if (i < s->len && s->at[i] == pos)
        return;
    memmove(s->at + i + 1, s->at + i, (s->len - i) * sizeof *s->at);
    s->at[i] = pos;
    s->len++;
}

void pd_posset_del(pd_posset *s, size_t pos)
{
    size_t i = posset_lower(s, pos);
    if (i == s->len || s->at[i] != pos)
        return;
    memmove(s->at + i, s->at + i + 1, (s->len - i - 1) * sizeof *s->at);
    s->len--;
}

void pd_posset_set(pd_posset *s, size_t pos, bool member)
{
    if (member)
        pd_posset_add(s, pos);
    else
        pd_posset_del(s, pos);
}

void pd_posset_free(pd_posset *s)
{
    free(s->at);
    *s = (pd_posset){0};
}

/* ---- enum names: one table per enum, indexed by value ---- */

static const char *const type_names[] = {"EXECUTION", "STEP", "WAIT", "CALLBACK", "CONTEXT", "CHAINED_INVOKE"};
static const char *const status_names[] = {NULL,     "STARTED",   "PENDING",   "READY",  "SUCCEEDED",
                                           "FAILED", "CANCELLED", "TIMED_OUT", "STOPPED"};
static const char *const action_names[] = {"START", "SUCCEED", "FAIL", "RETRY", "CANCEL"};
static const char *const outcome_names[] = {"SUCCEEDED", "FAILED", "PENDING"};

static const char *name_of(const char *const *names, size_t n, unsigned v) { return v < n ? names[v] : NULL; }

static int parse_name(const char *const *names, size_t n, const char *s, int *out)
{
    for (size_t i = 0; s && i < n; i++) {
        if (names[i] && strcmp(names[i], s) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    return -1;
}

const char *pd_type_name(perdure_op_type t) { return name_of(type_names, COUNT(type_names), t); }
const char *pd_status_name(perdure_op_status s) { return name_of(status_names, COUNT(status_names), s); }
const char *pd_action_name(perdure_action a) { return name_of(action_names, COUNT(action_names), a); }
const char *pd_outcome_name(perdure_outcome o) { return name_of(outcome_names, COUNT(outcome_names), o); }

#define DEFINE_PARSE(fn, type, names)                                                                                \
    int fn(const char *s, type *out)                                                                                 \
    {                                                                                                                \
        int v;                                                                                                       \
        if (parse_name(names, COUNT(names), s, &v))                                                                  \
            return -1;                                                                                               \
        *out = (type)v;                                                                                              \
        return 0;                                                                                                    \
    }

DEFINE_PARSE(pd_type_parse, perdure_op_type, type_names)
DEFINE_PARSE(pd_status_parse, perdure_op_status, status_names)
DEFINE_PARSE(pd_action_parse, perdure_action, action_names)
DEFINE_PARSE(pd_outcome_parse, perdure_outcome, outcome_names)

/* ---- PRNG: xoshiro256** seeded through splitmix64 (public algorithms) ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void pd_rng_seed(pd_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

double pd_rng_next01(pd_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return (double)(result >> 11) * 0x1.0p-53;
}

/* ---- public status names and version ---- */

const char *perdure_status_name(perdure_status status)
{
    static const char *const names[] = {"PERDURE_OK",          "PERDURE_E_MISUSE",   "PERDURE_E_INVALID",
                                        "PERDURE_E_DECODE",    "PERDURE_E_TOO_LARGE", "PERDURE_E_NONDETERMINISM",
                                        "PERDURE_E_NOMEM",     "PERDURE_E_PROTOCOL", "PERDURE_E_ORPHANED",
                                        "PERDURE_E_INTERNAL",  "PERDURE_E_NOT_FOUND", "PERDURE_E_CONFLICT",
                                        "PERDURE_E_BUSY",      "PERDURE_E_STORE"};
    if (status > 0 || (size_t)-status >= COUNT(names))
        return "PERDURE_E_UNKNOWN";
    return names[-status];
}

#define STR2(x) #x
#define STR(x) STR2(x)
const char *perdure_version(void)
{
    return STR(PERDURE_VERSION_MAJOR) "." STR(PERDURE_VERSION_MINOR) "." STR(PERDURE_VERSION_PATCH);
}

#include <sys/random.h>

int pd_os_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

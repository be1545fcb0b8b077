/* Stored records and engine batches as msgpack (layouts: schema/records.md).
 *
 * Encoding uses msgpack-c's packer. Decoding uses the bounds-checked pull
 * reader below instead of msgpack_unpack: that one allocates count * 24 bytes
 * for a container header before reading any element, so five input bytes
 * could demand gigabytes. Here every count is checked against the bytes left
 * and nothing is allocated ahead of the data that fills it. */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* Unknown values are skipped recursively; bounding their nesting keeps a
 * hostile record from exhausting the stack. */
#define PD_MP_MAX_DEPTH 32

/* ---- record layouts: one key enum and name table per record ---- */

enum { OP_ID = 1, OP_PARENT_ID, OP_NAME, OP_TYPE, OP_SUB_TYPE, OP_STATUS, OP_START, OP_END, OP_INPUT,
       OP_REPLAY_CHILDREN, OP_RESULT, OP_ERROR, OP_ATTEMPT, OP_NEXT_ATTEMPT, OP_SCHEDULED_END, OP_CALLBACK_ID,
       OP_COUNT };
static const char *const op_names[OP_COUNT] = {
    [OP_ID] = "Id", [OP_PARENT_ID] = "ParentId", [OP_NAME] = "Name", [OP_TYPE] = "Type",
    [OP_SUB_TYPE] = "SubType", [OP_STATUS] = "Status", [OP_START] = "StartTimestamp",
    [OP_END] = "EndTimestamp", [OP_INPUT] = "InputPayload", [OP_REPLAY_CHILDREN] = "ReplayChildren",
    [OP_RESULT] = "Result", [OP_ERROR] = "Error", [OP_ATTEMPT] = "Attempt",
    [OP_NEXT_ATTEMPT] = "NextAttemptTimestamp", [OP_SCHEDULED_END] = "ScheduledEndTimestamp",
    [OP_CALLBACK_ID] = "CallbackId",
};

enum { UP_ID = 1, UP_PARENT_ID, UP_NAME, UP_TYPE, UP_SUB_TYPE, UP_ACTION, UP_PAYLOAD, UP_ERROR, UP_REPLAY_CHILDREN,
       UP_NEXT_ATTEMPT_DELAY, UP_WAIT_SECONDS, UP_CALLBACK_TIMEOUT, UP_CALLBACK_HEARTBEAT, UP_FUNCTION_NAME,
       UP_TENANT_ID, UP_COUNT };
static const char *const up_names[UP_COUNT] = {
    [UP_ID] = "Id", [UP_PARENT_ID] = "ParentId", [UP_NAME] = "Name", [UP_TYPE] = "Type",
    [UP_SUB_TYPE] = "SubType", [UP_ACTION] = "Action", [UP_PAYLOAD] = "Payload", [UP_ERROR] = "Error",
    [UP_REPLAY_CHILDREN] = "ReplayChildren", [UP_NEXT_ATTEMPT_DELAY] = "NextAttemptDelaySeconds",
    [UP_WAIT_SECONDS] = "WaitSeconds", [UP_CALLBACK_TIMEOUT] = "TimeoutSeconds",
    [UP_CALLBACK_HEARTBEAT] = "HeartbeatTimeoutSeconds", [UP_FUNCTION_NAME] = "FunctionName",
    [UP_TENANT_ID] = "TenantId",
};

enum { ER_TYPE = 1, ER_MESSAGE, ER_DATA, ER_STACK, ER_COUNT };
static const char *const er_names[ER_COUNT] = {
    [ER_TYPE] = "ErrorType", [ER_MESSAGE] = "ErrorMessage", [ER_DATA] = "ErrorData", [ER_STACK] = "StackTrace",
};

enum { INV_ARN = 1, INV_TOKEN, INV_OPS, INV_NEXT_MARKER, INV_COUNT };
static const char *const inv_names[INV_COUNT] = {
    [INV_ARN] = "DurableExecutionArn", [INV_TOKEN] = "CheckpointToken", [INV_OPS] = "Operations",
    [INV_NEXT_MARKER] = "NextMarker",
};

enum { REQ_TOKEN = 1, REQ_UPDATES, REQ_CLIENT_TOKEN, REQ_COUNT };
static const char *const req_names[REQ_COUNT] = {
    [REQ_TOKEN] = "CheckpointToken", [REQ_UPDATES] = "Updates", [REQ_CLIENT_TOKEN] = "ClientToken",
};

enum { RESP_TOKEN = 1, RESP_OPS, RESP_NEXT_MARKER, RESP_COUNT };
static const char *const resp_names[RESP_COUNT] = {
    [RESP_TOKEN] = "CheckpointToken", [RESP_OPS] = "Operations", [RESP_NEXT_MARKER] = "NextMarker",
};

enum { OUT_STATUS = 1, OUT_RESULT, OUT_ERROR, OUT_COUNT };
static const char *const out_names[OUT_COUNT] = {
    [OUT_STATUS] = "Status", [OUT_RESULT] = "Result", [OUT_ERROR] = "Error",
};

/* Key 0 of a top-level record holds the schema version. */
#define KEY_VERSION 0
#define BIT(key) (1u << (key))

typedef struct mrd mrd;
typedef perdure_status (*mfield_fn)(mrd *r, unsigned key, void *obj);

/* A record layout: key names (NULL: unknown key), required keys, and the
 * decoder of one field. Keys stay below 32 so that a bit mask tracks them. */
typedef struct mschema {
    const char *const *names;
    unsigned count;
    uint32_t required;
    mfield_fn field;
} mschema;

_Static_assert(OP_COUNT <= 32 && UP_COUNT <= 32, "record keys must fit a 32-bit mask");

static perdure_status op_field(mrd *r, unsigned key, void *obj);
static perdure_status up_field(mrd *r, unsigned key, void *obj);
static perdure_status er_field(mrd *r, unsigned key, void *obj);
static perdure_status inv_field(mrd *r, unsigned key, void *obj);
static perdure_status req_field(mrd *r, unsigned key, void *obj);
static perdure_status resp_field(mrd *r, unsigned key, void *obj);
static perdure_status out_field(mrd *r, unsigned key, void *obj);

static const mschema op_schema = {op_names, OP_COUNT, BIT(OP_ID) | BIT(OP_TYPE) | BIT(OP_STATUS), op_field};
static const mschema up_schema = {up_names, UP_COUNT, BIT(UP_ID) | BIT(UP_TYPE) | BIT(UP_ACTION), up_field};
static const mschema er_schema = {er_names, ER_COUNT, 0, er_field};
static const mschema inv_schema = {inv_names, INV_COUNT, BIT(INV_ARN) | BIT(INV_TOKEN), inv_field};
static const mschema req_schema = {req_names, REQ_COUNT, BIT(REQ_TOKEN), req_field};
static const mschema resp_schema = {resp_names, RESP_COUNT, 0, resp_field};
static const mschema out_schema = {out_names, OUT_COUNT, BIT(OUT_STATUS), out_field};

/* ======================================================================
 * encoding: a record is first listed as fields (so the map header knows
 * its size), then packed
 * ====================================================================== */

typedef enum mkind { MK_TEXT, MK_PAYLOAD, MK_INT, MK_BOOL, MK_ERROR, MK_STACK, MK_OPS, MK_UPDATES } mkind;

typedef struct mfield {
    unsigned key;
    mkind kind;
    const char *s;   /* TEXT, PAYLOAD */
    size_t len;      /* TEXT, PAYLOAD; element count of STACK, OPS, UPDATES */
    int64_t i;       /* INT, BOOL */
    const void *p;   /* ERROR, STACK, OPS, UPDATES */
} mfield;

typedef struct mrec {
    mfield f[OP_COUNT];   /* the widest record */
    size_t n;
} mrec;

typedef struct menc {
    msgpack_packer pk;
    size_t threshold;   /* payloads this long are compressed; 0: never */
    pd_buf scratch;     /* compressed payload before it is packed */
    pd_err *err;
    pd_path path;
} menc;

static void mr_text(mrec *r, unsigned key, const char *s, size_t len)
{
    r->f[r->n++] = (mfield){.key = key, .kind = MK_TEXT, .s = s, .len = len};
}

/* A fixed field or C string: absent when empty. */
static void mr_cstr(mrec *r, unsigned key, const char *s)
{
    if (*s)
        mr_text(r, key, s, strlen(s));
}

static void mr_bytes(mrec *r, unsigned key, mkind kind, const pd_bytes *b)
{
    if (b->present)
        r->f[r->n++] = (mfield){.key = key, .kind = kind, .s = b->data ? b->data : "", .len = b->len};
}

static void mr_int(mrec *r, unsigned key, mkind kind, int64_t v)
{
    r->f[r->n++] = (mfield){.key = key, .kind = kind, .i = v};
}

/* A nested record or list: absent when NULL or empty. */
static void mr_nested(mrec *r, unsigned key, mkind kind, const void *p, size_t n)
{
    if (p && n)
        r->f[r->n++] = (mfield){.key = key, .kind = kind, .p = p, .len = n};
}

/* The packer writes a few bytes at a time: copy in place while they fit. */
static int mp_append(void *data, const char *buf, size_t len)
{
    pd_buf *b = data;
    if (!len || b->cap - b->len < len)
        return pd_buf_append(b, buf, len);
    unsigned char *d = b->data + b->len;
    b->len += len;
    /* Most writes are a 1-9 byte header: a byte loop beats a memcpy call. */
    if (len > 16) {
        memcpy(d, buf, len);
        return 0;
    }
    while (len--)
        *d++ = (unsigned char)*buf++;
    return 0;
}

static int mp_count(void *data, const char *buf, size_t len)
{
    (void)buf;
    *(size_t *)data += len;
    return 0;
}

/* Packing failures are not checked call by call: the output pd_buf's sticky
 * oom flag is checked once per record. */
static perdure_status me_payload(menc *e, const char *s, size_t len)
{
    if (e->threshold && len >= e->threshold) {
        e->scratch.len = 0;
        TRY(pd_zstd_compress(s, len, &e->scratch, e->err));
        /* Incompressible data stays raw: the frame would only add bytes. */
        if (e->scratch.len < len) {
            msgpack_pack_ext_with_body(&e->pk, e->scratch.data, e->scratch.len, PD_MP_EXT_ZSTD);
            return PERDURE_OK;
        }
    }
    msgpack_pack_bin_with_body(&e->pk, s, len);
    return PERDURE_OK;
}

static perdure_status me_op(menc *e, const pd_operation *op, bool top);
static perdure_status me_update(menc *e, const pd_update *u, bool top);
static perdure_status me_error(menc *e, const pd_error *err);

/* Packs the elements of a list field; path names them "Operations[3]". */
static perdure_status me_list(menc *e, const mfield *f)
{
    perdure_status st = PERDURE_OK;
    msgpack_pack_array(&e->pk, f->len);
    for (size_t i = 0; i < f->len && !st; i++) {
        size_t mark = pd_path_index(&e->path, i);
        if (f->kind == MK_OPS)
            st = me_op(e, (const pd_operation *)f->p + i, false);
        else if (f->kind == MK_UPDATES)
            st = me_update(e, (const pd_update *)f->p + i, false);
        else {
            const char *line = ((char *const *)f->p)[i];
            msgpack_pack_str_with_body(&e->pk, line, strlen(line));
        }
        pd_path_pop(&e->path, mark);
    }
    return st;
}

static perdure_status me_field(menc *e, const mfield *f)
{
    switch (f->kind) {
    case MK_TEXT:
        msgpack_pack_str_with_body(&e->pk, f->s, f->len);
        return PERDURE_OK;
    case MK_PAYLOAD:
        return me_payload(e, f->s, f->len);
    case MK_INT:
        msgpack_pack_int64(&e->pk, f->i);
        return PERDURE_OK;
    case MK_BOOL:
        if (f->i)
            msgpack_pack_true(&e->pk);
        else
            msgpack_pack_false(&e->pk);
        return PERDURE_OK;
    case MK_ERROR:
        return me_error(e, f->p);
    case MK_STACK:
    case MK_OPS:
    case MK_UPDATES:
        return me_list(e, f);
    }
    return pd_fail(e->err, PERDURE_E_INTERNAL, "unknown field kind %d", (int)f->kind);
}

static perdure_status me_record(menc *e, const mschema *s, const mrec *r, bool top)
{
    msgpack_pack_map(&e->pk, r->n + top);
    if (top) {
        msgpack_pack_uint8(&e->pk, KEY_VERSION);
        msgpack_pack_uint8(&e->pk, PERDURE_SCHEMA_VERSION);
    }
    for (size_t i = 0; i < r->n; i++) {
        msgpack_pack_uint8(&e->pk, (uint8_t)r->f[i].key);
        size_t mark = pd_path_key(&e->path, s->names[r->f[i].key]);
        perdure_status st = me_field(e, &r->f[i]);
        pd_path_pop(&e->path, mark);
        if (st)
            return st;
    }
    return PERDURE_OK;
}

static perdure_status me_error(menc *e, const pd_error *err)
{
    mrec r = {.n = 0};
    mr_bytes(&r, ER_TYPE, MK_TEXT, &err->type);
    mr_bytes(&r, ER_MESSAGE, MK_TEXT, &err->message);
    mr_bytes(&r, ER_DATA, MK_TEXT, &err->data);
    mr_nested(&r, ER_STACK, MK_STACK, err->stack, err->stack_len);
    return me_record(e, &er_schema, &r, false);
}

static perdure_status me_op(menc *e, const pd_operation *op, bool top)
{
    mrec r = {.n = 0};
    TRY(pd_codec_check_operation(op, &e->path, e->err));
    mr_cstr(&r, OP_ID, op->id);
    mr_cstr(&r, OP_PARENT_ID, op->parent_id);
    mr_bytes(&r, OP_NAME, MK_TEXT, &op->name);
    mr_int(&r, OP_TYPE, MK_INT, op->type);
    mr_cstr(&r, OP_SUB_TYPE, op->sub_type);
    mr_int(&r, OP_STATUS, MK_INT, op->status);
    if (op->start_ms)
        mr_int(&r, OP_START, MK_INT, op->start_ms);
    if (op->end_ms)
        mr_int(&r, OP_END, MK_INT, op->end_ms);
    mr_bytes(&r, OP_INPUT, MK_PAYLOAD, &op->input_payload);
    if (op->replay_children)
        mr_int(&r, OP_REPLAY_CHILDREN, MK_BOOL, 1);
    mr_bytes(&r, OP_RESULT, MK_PAYLOAD, &op->result);
    mr_nested(&r, OP_ERROR, MK_ERROR, op->error, 1);
    if (op->attempt)
        mr_int(&r, OP_ATTEMPT, MK_INT, op->attempt);
    if (op->next_attempt_ms)
        mr_int(&r, OP_NEXT_ATTEMPT, MK_INT, op->next_attempt_ms);
    if (op->scheduled_end_ms)
        mr_int(&r, OP_SCHEDULED_END, MK_INT, op->scheduled_end_ms);
    mr_bytes(&r, OP_CALLBACK_ID, MK_TEXT, &op->callback_id);
    return me_record(e, &op_schema, &r, top);
}

static perdure_status me_update(menc *e, const pd_update *u, bool top)
{
    mrec r = {.n = 0};
    TRY(pd_codec_check_update(u, &e->path, e->err));
    mr_cstr(&r, UP_ID, u->id);
    mr_cstr(&r, UP_PARENT_ID, u->parent_id);
    mr_bytes(&r, UP_NAME, MK_TEXT, &u->name);
    mr_int(&r, UP_TYPE, MK_INT, u->type);
    mr_cstr(&r, UP_SUB_TYPE, u->sub_type);
    mr_int(&r, UP_ACTION, MK_INT, u->action);
    mr_bytes(&r, UP_PAYLOAD, MK_PAYLOAD, &u->payload);
    mr_nested(&r, UP_ERROR, MK_ERROR, u->error, 1);
    /* ContextOptions and CallbackOptions exist even with default values, so
     * their keys are written whenever the options are. */
    if (u->has_context_options)
        mr_int(&r, UP_REPLAY_CHILDREN, MK_BOOL, u->replay_children);
    if (u->next_attempt_delay_s)
        mr_int(&r, UP_NEXT_ATTEMPT_DELAY, MK_INT, u->next_attempt_delay_s);
    if (u->wait_seconds)
        mr_int(&r, UP_WAIT_SECONDS, MK_INT, u->wait_seconds);
    if (u->has_callback_options) {
        mr_int(&r, UP_CALLBACK_TIMEOUT, MK_INT, u->callback_timeout_s);
        mr_int(&r, UP_CALLBACK_HEARTBEAT, MK_INT, u->callback_heartbeat_s);
    }
    mr_bytes(&r, UP_FUNCTION_NAME, MK_TEXT, &u->function_name);
    mr_bytes(&r, UP_TENANT_ID, MK_TEXT, &u->tenant_id);
    return me_record(e, &up_schema, &r, top);
}

typedef perdure_status (*mbuild_fn)(menc *e, const void *in);

/* Appends one top-level record to out; on failure out is left as it was. */
static perdure_status mencode(mbuild_fn build, const void *in, size_t threshold, pd_buf *out, pd_err *err)
{
    menc e = {.threshold = threshold, .err = err};
    size_t start = out->len;
    msgpack_packer_init(&e.pk, out, mp_append);
    perdure_status st = build(&e, in);
    if (!st && out->oom)
        st = pd_fail(err, PERDURE_E_NOMEM, "out of memory");
    if (st)
        out->len = start;
    pd_buf_free(&e.scratch);
    return st;
}

static perdure_status mb_op(menc *e, const void *in) { return me_op(e, in, true); }

perdure_status pd_mp_encode_operation(const pd_operation *op, size_t compress_threshold, pd_buf *out, pd_err *err)
{
    return mencode(mb_op, op, compress_threshold, out, err);
}

static perdure_status mb_update(menc *e, const void *in) { return me_update(e, in, true); }

perdure_status pd_mp_encode_update(const pd_update *u, size_t compress_threshold, pd_buf *out, pd_err *err)
{
    return mencode(mb_update, u, compress_threshold, out, err);
}

/* As an element of a checkpoint request (no version key), uncompressed. */
size_t pd_mp_update_size(const pd_update *u)
{
    size_t n = 0;
    menc e = {.threshold = 0};
    msgpack_packer_init(&e.pk, &n, mp_count);
    return me_update(&e, u, false) == PERDURE_OK ? n : 0;
}

static perdure_status mb_invocation(menc *e, const void *in)
{
    const pd_invocation *inv = in;
    mrec r = {.n = 0};
    TRY(pd_codec_check_required("DurableExecutionArn", inv->arn.present, &e->path, e->err));
    TRY(pd_codec_check_required("CheckpointToken", inv->token.present, &e->path, e->err));
    mr_bytes(&r, INV_ARN, MK_TEXT, &inv->arn);
    mr_bytes(&r, INV_TOKEN, MK_TEXT, &inv->token);
    mr_nested(&r, INV_OPS, MK_OPS, inv->ops.items, inv->ops.len);
    mr_bytes(&r, INV_NEXT_MARKER, MK_TEXT, &inv->next_marker);
    return me_record(e, &inv_schema, &r, true);
}

perdure_status pd_mp_encode_invocation(const pd_invocation *inv, size_t compress_threshold, pd_buf *out, pd_err *err)
{
    return mencode(mb_invocation, inv, compress_threshold, out, err);
}

typedef struct mrequest_in {
    const char *token, *client_token;
    const pd_update *updates;
    size_t n;
} mrequest_in;

static perdure_status mb_request(menc *e, const void *in)
{
    const mrequest_in *q = in;
    mrec r = {.n = 0};
    TRY(pd_codec_check_required("CheckpointToken", q->token != NULL, &e->path, e->err));
    mr_text(&r, REQ_TOKEN, q->token, strlen(q->token));
    mr_nested(&r, REQ_UPDATES, MK_UPDATES, q->updates, q->n);
    if (q->client_token)
        mr_text(&r, REQ_CLIENT_TOKEN, q->client_token, strlen(q->client_token));
    return me_record(e, &req_schema, &r, true);
}

perdure_status pd_mp_encode_checkpoint_request(const char *token, const pd_update *updates, size_t n,
                                               const char *client_token, size_t compress_threshold, pd_buf *out,
                                               pd_err *err)
{
    mrequest_in q = {token, client_token, updates, n};
    return mencode(mb_request, &q, compress_threshold, out, err);
}

static perdure_status mb_response(menc *e, const void *in)
{
    const pd_checkpoint_response *resp = in;
    mrec r = {.n = 0};
    mr_bytes(&r, RESP_TOKEN, MK_TEXT, &resp->token);
    mr_nested(&r, RESP_OPS, MK_OPS, resp->ops.items, resp->ops.len);
    mr_bytes(&r, RESP_NEXT_MARKER, MK_TEXT, &resp->next_marker);
    return me_record(e, &resp_schema, &r, true);
}

perdure_status pd_mp_encode_checkpoint_response(const pd_checkpoint_response *r, size_t compress_threshold,
                                                pd_buf *out, pd_err *err)
{
    return mencode(mb_response, r, compress_threshold, out, err);
}

static perdure_status mb_output(menc *e, const void *in)
{
    const pd_output *o = in;
    mrec r = {.n = 0};
    TRY(pd_codec_check_output(o, &e->path, e->err));
    mr_int(&r, OUT_STATUS, MK_INT, o->status);
    mr_bytes(&r, OUT_RESULT, MK_PAYLOAD, &o->result);
    mr_nested(&r, OUT_ERROR, MK_ERROR, o->error, 1);
    return me_record(e, &out_schema, &r, true);
}

perdure_status pd_mp_encode_output(const pd_output *o, size_t compress_threshold, pd_buf *out, pd_err *err)
{
    return mencode(mb_output, o, compress_threshold, out, err);
}

/* ======================================================================
 * decoding
 * ====================================================================== */

struct mrd {
    const unsigned char *p, *end;
    pd_err *err;
    pd_path path;
};

typedef enum mtype { MT_NIL, MT_BOOL, MT_UINT, MT_INT, MT_FLOAT, MT_STR, MT_BIN, MT_EXT, MT_ARRAY, MT_MAP } mtype;

static const char *const mtype_names[] = {"nil",    "a boolean", "an unsigned integer", "a negative integer",
                                          "a float", "a string",  "binary data",         "an extension",
                                          "an array", "a map"};

/* One value's header. Integers are normalised: MT_INT only when negative. */
typedef struct mval {
    mtype t;
    bool b;
    uint64_t u;                 /* UINT */
    int64_t i;                  /* INT */
    const unsigned char *data;  /* STR, BIN, EXT body */
    size_t len;                 /* body length; element count of ARRAY and MAP */
    int8_t ext;                 /* EXT type */
} mval;

static perdure_status rd_fail(mrd *r, perdure_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static perdure_status rd_fail(mrd *r, perdure_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    perdure_status st = pd_path_vfail(r->err, &r->path, NULL, code, fmt, ap);
    va_end(ap);
    return st;
}

static perdure_status rd_nomem(mrd *r) { return pd_fail(r->err, PERDURE_E_NOMEM, "out of memory"); }

static perdure_status rd_take(mrd *r, size_t n, const unsigned char **out)
{
    if ((size_t)(r->end - r->p) < n)
        return rd_fail(r, PERDURE_E_DECODE, "truncated input");
    *out = r->p;
    r->p += n;
    return PERDURE_OK;
}

/* A big-endian unsigned integer of width 1, 2, 4 or 8 bytes. */
static perdure_status rd_be(mrd *r, size_t width, uint64_t *out)
{
    const unsigned char *q = NULL;
    TRY(rd_take(r, width, &q));
    *out = 0;
    for (size_t i = 0; i < width; i++)
        *out = *out << 8 | q[i];
    return PERDURE_OK;
}

static perdure_status rd_body(mrd *r, mval *v, mtype t, uint64_t len)
{
    v->t = t;
    v->len = (size_t)len;
    return rd_take(r, v->len, &v->data);
}

/* Every element takes at least one byte, so a count larger than the bytes
 * left is a lie and is refused before anyone trusts it. */
static perdure_status rd_container(mrd *r, mval *v, mtype t, uint64_t count)
{
    size_t left = (size_t)(r->end - r->p);
    if (count > left || (t == MT_MAP && count > left / 2))
        return rd_fail(r, PERDURE_E_DECODE, "truncated input: %s of %llu entries", mtype_names[t],
                       (unsigned long long)count);
    v->t = t;
    v->len = (size_t)count;
    return PERDURE_OK;
}

static perdure_status rd_ext(mrd *r, mval *v, uint64_t len)
{
    const unsigned char *q = NULL;
    TRY(rd_take(r, 1, &q));
    v->ext = (int8_t)q[0];
    return rd_body(r, v, MT_EXT, len);
}

static perdure_status rd_signed(mrd *r, mval *v, size_t width)
{
    uint64_t raw;
    TRY(rd_be(r, width, &raw));
    /* Sign-extend from width bytes. */
    uint64_t sign = 1ULL << (width * 8 - 1);
    int64_t x = width == 8 ? (int64_t)raw : (int64_t)(raw ^ sign) - (int64_t)sign;
    if (x >= 0) {
        v->t = MT_UINT;
        v->u = (uint64_t)x;
    } else {
        v->t = MT_INT;
        v->i = x;
    }
    return PERDURE_OK;
}

static perdure_status rd_value(mrd *r, mval *v)
{
    const unsigned char *q = NULL;
    uint64_t n;
    TRY(rd_take(r, 1, &q));
    unsigned b = q[0];
    if (b <= 0x7f) {
        v->t = MT_UINT;
        v->u = b;
        return PERDURE_OK;
    }
    if (b >= 0xe0) {
        v->t = MT_INT;
        v->i = (int8_t)b;
        return PERDURE_OK;
    }
    if (b <= 0x8f)
        return rd_container(r, v, MT_MAP, b & 0x0f);
    if (b <= 0x9f)
        return rd_container(r, v, MT_ARRAY, b & 0x0f);
    if (b <= 0xbf)
        return rd_body(r, v, MT_STR, b & 0x1f);
    switch (b) {
    case 0xc0:
        v->t = MT_NIL;
        return PERDURE_OK;
    case 0xc2:
    case 0xc3:
        v->t = MT_BOOL;
        v->b = b == 0xc3;
        return PERDURE_OK;
    case 0xc4: case 0xc5: case 0xc6:   /* bin 8/16/32 */
        TRY(rd_be(r, 1u << (b - 0xc4), &n));
        return rd_body(r, v, MT_BIN, n);
    case 0xc7: case 0xc8: case 0xc9:   /* ext 8/16/32 */
        TRY(rd_be(r, 1u << (b - 0xc7), &n));
        return rd_ext(r, v, n);
    case 0xca: case 0xcb:               /* float 32/64 */
        v->t = MT_FLOAT;
        return rd_take(r, b == 0xca ? 4 : 8, &q);
    case 0xcc: case 0xcd: case 0xce: case 0xcf:   /* uint 8..64 */
        v->t = MT_UINT;
        return rd_be(r, 1u << (b - 0xcc), &v->u);
    case 0xd0: case 0xd1: case 0xd2: case 0xd3:   /* int 8..64 */
        return rd_signed(r, v, 1u << (b - 0xd0));
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:   /* fixext 1..16 */
        return rd_ext(r, v, 1u << (b - 0xd4));
    case 0xd9: case 0xda: case 0xdb:   /* str 8/16/32 */
        TRY(rd_be(r, 1u << (b - 0xd9), &n));
        return rd_body(r, v, MT_STR, n);
    case 0xdc: case 0xdd:               /* array 16/32 */
        TRY(rd_be(r, b == 0xdc ? 2 : 4, &n));
        return rd_container(r, v, MT_ARRAY, n);
    case 0xde: case 0xdf:               /* map 16/32 */
        TRY(rd_be(r, b == 0xde ? 2 : 4, &n));
        return rd_container(r, v, MT_MAP, n);
    }
    return rd_fail(r, PERDURE_E_DECODE, "invalid msgpack byte 0x%02x", b);
}

static perdure_status rd_expect(mrd *r, mtype t, mval *v)
{
    TRY(rd_value(r, v));
    if (v->t != t)
        return rd_fail(r, PERDURE_E_DECODE, "expected %s, got %s", mtype_names[t], mtype_names[v->t]);
    return PERDURE_OK;
}

static perdure_status rd_skip(mrd *r, int depth)
{
    mval v;
    TRY(rd_value(r, &v));
    if (v.t != MT_ARRAY && v.t != MT_MAP)
        return PERDURE_OK;
    if (depth >= PD_MP_MAX_DEPTH)
        return rd_fail(r, PERDURE_E_DECODE, "values nested deeper than %d", PD_MP_MAX_DEPTH);
    size_t n = v.t == MT_MAP ? v.len * 2 : v.len;
    for (size_t i = 0; i < n; i++)
        TRY(rd_skip(r, depth + 1));
    return PERDURE_OK;
}

static perdure_status rd_int(mrd *r, int64_t min, int64_t max, int64_t *out)
{
    mval v;
    TRY(rd_value(r, &v));
    if (v.t == MT_UINT && max >= 0 && v.u <= (uint64_t)max && (min <= 0 || v.u >= (uint64_t)min)) {
        *out = (int64_t)v.u;
        return PERDURE_OK;
    }
    if (v.t == MT_INT && v.i >= min && v.i <= max) {
        *out = v.i;
        return PERDURE_OK;
    }
    if (v.t == MT_UINT)
        return rd_fail(r, PERDURE_E_DECODE, "%llu is out of range %lld..%lld", (unsigned long long)v.u,
                       (long long)min, (long long)max);
    if (v.t == MT_INT)
        return rd_fail(r, PERDURE_E_DECODE, "%lld is out of range %lld..%lld", (long long)v.i, (long long)min,
                       (long long)max);
    return rd_fail(r, PERDURE_E_DECODE, "expected an integer, got %s", mtype_names[v.t]);
}

static perdure_status rd_bool(mrd *r, bool *out)
{
    mval v;
    TRY(rd_expect(r, MT_BOOL, &v));
    *out = v.b;
    return PERDURE_OK;
}

static perdure_status rd_enum(mrd *r, pd_enum_kind kind, int *out)
{
    int64_t v;
    TRY(rd_int(r, INT64_MIN, INT64_MAX, &v));
    if (!pd_enum_name(kind, v))
        return rd_fail(r, PERDURE_E_DECODE, "unknown %s %lld", pd_enum_noun(kind), (long long)v);
    *out = (int)v;
    return PERDURE_OK;
}

static perdure_status rd_check_length(mrd *r, size_t len)
{
    if (len <= PD_MAX_PAYLOAD)
        return PERDURE_OK;
    return rd_fail(r, PERDURE_E_TOO_LARGE, "%zu bytes exceeds the limit of %llu", len, PD_MAX_PAYLOAD);
}

static perdure_status rd_text(mrd *r, pd_bytes *dst)
{
    mval v;
    TRY(rd_expect(r, MT_STR, &v));
    TRY(rd_check_length(r, v.len));
    return pd_bytes_set(dst, v.data, v.len) ? rd_nomem(r) : PERDURE_OK;
}

static perdure_status rd_fixed(mrd *r, char *dst, size_t max)
{
    mval v;
    TRY(rd_expect(r, MT_STR, &v));
    return pd_codec_fixed(dst, max, (const char *)v.data, v.len, &r->path, r->err);
}

/* bin, or a zstd frame in ext PD_MP_EXT_ZSTD. The decompressed buffer is
 * handed to dst without a copy. */
static perdure_status rd_payload(mrd *r, pd_bytes *dst)
{
    mval v;
    TRY(rd_value(r, &v));
    if (v.t == MT_BIN) {
        TRY(rd_check_length(r, v.len));
        return pd_bytes_set(dst, v.data, v.len) ? rd_nomem(r) : PERDURE_OK;
    }
    if (v.t != MT_EXT)
        return rd_fail(r, PERDURE_E_DECODE, "expected binary data, got %s", mtype_names[v.t]);
    if (v.ext != PD_MP_EXT_ZSTD)
        return rd_fail(r, PERDURE_E_DECODE, "unknown extension type %d", v.ext);
    pd_buf buf;
    pd_buf_init(&buf);
    perdure_status st = pd_zstd_decompress(v.data, v.len, PD_MAX_PAYLOAD, &buf, r->err);
    if (st) {
        pd_buf_free(&buf);
        char msg[sizeof r->err->msg];
        snprintf(msg, sizeof msg, "%s", r->err ? r->err->msg : "zstd");
        return rd_fail(r, st, "%s", msg);
    }
    if (pd_buf_append(&buf, "", 1)) {   /* pd_bytes are NUL-terminated */
        pd_buf_free(&buf);
        return rd_nomem(r);
    }
    pd_bytes_clear(dst);
    *dst = (pd_bytes){.data = (char *)buf.data, .len = buf.len - 1, .present = true};
    return PERDURE_OK;
}

/* The fields of a record map of n entries. Unknown keys are skipped, so that
 * later writers may add fields; a known key given twice is refused. */
static perdure_status rd_fields(mrd *r, const mschema *s, size_t n, void *obj)
{
    uint32_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        mval k;
        TRY(rd_value(r, &k));
        if (k.t != MT_UINT)
            return rd_fail(r, PERDURE_E_DECODE, "expected an unsigned integer key, got %s", mtype_names[k.t]);
        if (k.u >= s->count || !s->names[k.u]) {
            TRY(rd_skip(r, 0));
            continue;
        }
        unsigned key = (unsigned)k.u;
        size_t mark = pd_path_key(&r->path, s->names[key]);
        perdure_status st = seen & BIT(key) ? rd_fail(r, PERDURE_E_DECODE, "key %u given twice", key)
                                            : s->field(r, key, obj);
        pd_path_pop(&r->path, mark);
        if (st)
            return st;
        seen |= BIT(key);
    }
    for (unsigned key = 1; key < s->count; key++) {
        if ((s->required & BIT(key)) && !(seen & BIT(key)))
            return pd_path_fail(r->err, &r->path, s->names[key], PERDURE_E_DECODE, "missing");
    }
    return PERDURE_OK;
}

static perdure_status rd_nested(mrd *r, const mschema *s, void *obj)
{
    mval v;
    TRY(rd_expect(r, MT_MAP, &v));
    return rd_fields(r, s, v.len, obj);
}

/* A whole top-level record: version first, then fields, then nothing. */
static perdure_status rd_top(const void *data, size_t len, const mschema *s, void *obj, pd_err *err)
{
    mrd r = {.p = data, .end = (const unsigned char *)data + (data ? len : 0), .err = err};
    mval map, key;
    int64_t version;
    TRY(rd_expect(&r, MT_MAP, &map));
    if (map.len == 0)
        return rd_fail(&r, PERDURE_E_DECODE, "empty record");
    TRY(rd_value(&r, &key));
    if (key.t != MT_UINT || key.u != KEY_VERSION)
        return rd_fail(&r, PERDURE_E_DECODE, "record does not start with the schema version (key 0)");
    TRY(rd_int(&r, 0, INT64_MAX, &version));
    if (version != PERDURE_SCHEMA_VERSION)
        return rd_fail(&r, PERDURE_E_DECODE, "unsupported schema version %lld (this build reads %d)",
                       (long long)version, PERDURE_SCHEMA_VERSION);
    TRY(rd_fields(&r, s, map.len - 1, obj));
    if (r.p != r.end)
        return rd_fail(&r, PERDURE_E_DECODE, "%zu trailing bytes after the record", (size_t)(r.end - r.p));
    return PERDURE_OK;
}

/* ---- lists ---- */

typedef perdure_status (*mitem_fn)(mrd *r, void *target);

/* Runs item over the elements of an array; path names them "[i]". */
static perdure_status rd_each(mrd *r, mitem_fn item, void *target)
{
    mval v;
    TRY(rd_expect(r, MT_ARRAY, &v));
    for (size_t i = 0; i < v.len; i++) {
        size_t mark = pd_path_index(&r->path, i);
        perdure_status st = item(r, target);
        pd_path_pop(&r->path, mark);
        if (st)
            return st;
    }
    return PERDURE_OK;
}

static perdure_status rd_op_item(mrd *r, void *target)
{
    pd_operation *op = pd_op_list_push(target);
    return op ? rd_nested(r, &op_schema, op) : rd_nomem(r);
}

/* A growing array of updates: grown per decoded element, never from the
 * declared count. */
typedef struct mupdates {
    pd_update *items;
    size_t len, cap;
} mupdates;

static perdure_status rd_update_item(mrd *r, void *target)
{
    mupdates *l = target;
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        pd_update *p = realloc(l->items, cap * sizeof *p);
        if (!p)
            return rd_nomem(r);
        l->items = p;
        l->cap = cap;
    }
    pd_update *u = &l->items[l->len++];
    pd_update_init(u);
    return rd_nested(r, &up_schema, u);
}

typedef struct mstack {
    pd_error *e;
    size_t cap;
} mstack;

static perdure_status rd_stack_line(mrd *r, void *target)
{
    mstack *s = target;
    pd_error *e = s->e;
    mval v;
    TRY(rd_expect(r, MT_STR, &v));
    TRY(rd_check_length(r, v.len));
    if (memchr(v.data, 0, v.len))
        return rd_fail(r, PERDURE_E_DECODE, "contains a NUL byte");
    if (e->stack_len == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        char **p = realloc(e->stack, cap * sizeof *p);
        if (!p)
            return rd_nomem(r);
        e->stack = p;
        s->cap = cap;
    }
    if (!(e->stack[e->stack_len] = strndup((const char *)v.data, v.len)))
        return rd_nomem(r);
    e->stack_len++;
    return PERDURE_OK;
}

/* An ErrorObject; *dst owns it at once so a failure half-way frees it with the record. */
static perdure_status rd_error(mrd *r, pd_error **dst)
{
    if (!(*dst = pd_error_new()))
        return rd_nomem(r);
    return rd_nested(r, &er_schema, *dst);
}

/* ---- field decoders, one per record ---- */

static perdure_status er_field(mrd *r, unsigned key, void *obj)
{
    pd_error *e = obj;
    switch (key) {
    case ER_TYPE:
        return rd_text(r, &e->type);
    case ER_MESSAGE:
        return rd_text(r, &e->message);
    case ER_DATA:
        return rd_text(r, &e->data);
    default: {
        mstack s = {e, 0};
        return rd_each(r, rd_stack_line, &s);
    }
    }
}

static perdure_status op_field(mrd *r, unsigned key, void *obj)
{
    pd_operation *op = obj;
    int v;
    int64_t attempt;
    switch (key) {
    case OP_ID:
        return rd_fixed(r, op->id, PD_MAX_ID);
    case OP_PARENT_ID:
        return rd_fixed(r, op->parent_id, PD_MAX_ID);
    case OP_NAME:
        return rd_text(r, &op->name);
    case OP_TYPE:
        TRY(rd_enum(r, PD_ENUM_TYPE, &v));
        op->type = (perdure_op_type)v;
        return PERDURE_OK;
    case OP_SUB_TYPE:
        return rd_fixed(r, op->sub_type, PD_MAX_SUBTYPE);
    case OP_STATUS:
        TRY(rd_enum(r, PD_ENUM_STATUS, &v));
        op->status = (perdure_op_status)v;
        return PERDURE_OK;
    case OP_START:
        return rd_int(r, INT64_MIN, INT64_MAX, &op->start_ms);
    case OP_END:
        return rd_int(r, INT64_MIN, INT64_MAX, &op->end_ms);
    case OP_INPUT:
        return rd_payload(r, &op->input_payload);
    case OP_REPLAY_CHILDREN:
        return rd_bool(r, &op->replay_children);
    case OP_RESULT:
        return rd_payload(r, &op->result);
    case OP_ERROR:
        return rd_error(r, &op->error);
    case OP_ATTEMPT:
        TRY(rd_int(r, 0, UINT32_MAX, &attempt));
        op->attempt = (uint32_t)attempt;
        return PERDURE_OK;
    case OP_NEXT_ATTEMPT:
        return rd_int(r, INT64_MIN, INT64_MAX, &op->next_attempt_ms);
    case OP_SCHEDULED_END:
        return rd_int(r, INT64_MIN, INT64_MAX, &op->scheduled_end_ms);
    default:
        return rd_text(r, &op->callback_id);
    }
}

static perdure_status up_field(mrd *r, unsigned key, void *obj)
{
    pd_update *u = obj;
    int v;
    switch (key) {
    case UP_ID:
        return rd_fixed(r, u->id, PD_MAX_ID);
    case UP_PARENT_ID:
        return rd_fixed(r, u->parent_id, PD_MAX_ID);
    case UP_NAME:
        return rd_text(r, &u->name);
    case UP_TYPE:
        TRY(rd_enum(r, PD_ENUM_TYPE, &v));
        u->type = (perdure_op_type)v;
        return PERDURE_OK;
    case UP_SUB_TYPE:
        return rd_fixed(r, u->sub_type, PD_MAX_SUBTYPE);
    case UP_ACTION:
        TRY(rd_enum(r, PD_ENUM_ACTION, &v));
        u->action = (perdure_action)v;
        return PERDURE_OK;
    case UP_PAYLOAD:
        return rd_payload(r, &u->payload);
    case UP_ERROR:
        return rd_error(r, &u->error);
    case UP_REPLAY_CHILDREN:
        u->has_context_options = true;
        return rd_bool(r, &u->replay_children);
    case UP_NEXT_ATTEMPT_DELAY:
        return rd_int(r, 0, INT64_MAX, &u->next_attempt_delay_s);
    case UP_WAIT_SECONDS:
        return rd_int(r, 0, INT64_MAX, &u->wait_seconds);
    case UP_CALLBACK_TIMEOUT:
        u->has_callback_options = true;
        return rd_int(r, 0, INT64_MAX, &u->callback_timeout_s);
    case UP_CALLBACK_HEARTBEAT:
        u->has_callback_options = true;
        return rd_int(r, 0, INT64_MAX, &u->callback_heartbeat_s);
    case UP_FUNCTION_NAME:
        return rd_text(r, &u->function_name);
    default:
        return rd_text(r, &u->tenant_id);
    }
}

static perdure_status inv_field(mrd *r, unsigned key, void *obj)
{
    pd_invocation *inv = obj;
    switch (key) {
    case INV_ARN:
        return rd_text(r, &inv->arn);
    case INV_TOKEN:
        return rd_text(r, &inv->token);
    case INV_OPS:
        return rd_each(r, rd_op_item, &inv->ops);
    default:
        return rd_text(r, &inv->next_marker);
    }
}

typedef struct mrequest {
    pd_bytes *token, *client_token;
    mupdates updates;
} mrequest;

static perdure_status req_field(mrd *r, unsigned key, void *obj)
{
    mrequest *q = obj;
    switch (key) {
    case REQ_TOKEN:
        return rd_text(r, q->token);
    case REQ_UPDATES:
        return rd_each(r, rd_update_item, &q->updates);
    default:
        return rd_text(r, q->client_token);
    }
}

static perdure_status resp_field(mrd *r, unsigned key, void *obj)
{
    pd_checkpoint_response *resp = obj;
    switch (key) {
    case RESP_TOKEN:
        return rd_text(r, &resp->token);
    case RESP_OPS:
        return rd_each(r, rd_op_item, &resp->ops);
    default:
        return rd_text(r, &resp->next_marker);
    }
}

static perdure_status out_field(mrd *r, unsigned key, void *obj)
{
    pd_output *o = obj;
    int v;
    switch (key) {
    case OUT_STATUS:
        TRY(rd_enum(r, PD_ENUM_OUTCOME, &v));
        o->status = (perdure_outcome)v;
        return PERDURE_OK;
    case OUT_RESULT:
        return rd_payload(r, &o->result);
    default:
        return rd_error(r, &o->error);
    }
}

/* ---- public decoders: *out is overwritten, and left empty on failure ---- */

perdure_status pd_mp_decode_operation(const void *data, size_t len, pd_operation *out, pd_err *err)
{
    pd_operation_init(out);
    perdure_status st = rd_top(data, len, &op_schema, out, err);
    if (st)
        pd_operation_clear(out);
    return st;
}

perdure_status pd_mp_decode_update(const void *data, size_t len, pd_update *out, pd_err *err)
{
    pd_update_init(out);
    perdure_status st = rd_top(data, len, &up_schema, out, err);
    if (st)
        pd_update_clear(out);
    return st;
}

perdure_status pd_mp_decode_invocation(const void *data, size_t len, pd_invocation *out, pd_err *err)
{
    memset(out, 0, sizeof *out);
    perdure_status st = rd_top(data, len, &inv_schema, out, err);
    if (st)
        pd_invocation_free(out);
    return st;
}

perdure_status pd_mp_decode_checkpoint_request(const void *data, size_t len, pd_bytes *token, pd_update **updates,
                                               size_t *n, pd_bytes *client_token, pd_err *err)
{
    mrequest q = {token, client_token, {NULL, 0, 0}};
    memset(token, 0, sizeof *token);
    memset(client_token, 0, sizeof *client_token);
    perdure_status st = rd_top(data, len, &req_schema, &q, err);
    if (st) {
        pd_updates_free(q.updates.items, q.updates.len);
        pd_bytes_clear(token);
        pd_bytes_clear(client_token);
        q.updates = (mupdates){NULL, 0, 0};
    }
    *updates = q.updates.items;
    *n = q.updates.len;
    return st;
}

perdure_status pd_mp_decode_checkpoint_response(const void *data, size_t len, pd_checkpoint_response *out,
                                                pd_err *err)
{
    memset(out, 0, sizeof *out);
    perdure_status st = rd_top(data, len, &resp_schema, out, err);
    if (st)
        pd_checkpoint_response_free(out);
    return st;
}

perdure_status pd_mp_decode_output(const void *data, size_t len, pd_output *out, pd_err *err)
{
    memset(out, 0, sizeof *out);
    perdure_status st = rd_top(data, len, &out_schema, out, err);
    if (st)
        pd_output_free(out);
    return st;
}

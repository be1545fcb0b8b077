/* Field paths, enum tables and encoder-side checks shared by both codecs. */
#include <stdio.h>
#include <string.h>

#include "codec.h"

/* ---- paths ---- */

static size_t path_push(pd_path *p, const char *key, size_t index)
{
    if (p->depth < PD_PATH_MAX_DEPTH) {
        p->seg[p->depth].key = key;
        p->seg[p->depth].index = index;
    }
    return p->depth++;
}

size_t pd_path_key(pd_path *p, const char *key) { return path_push(p, key, 0); }

size_t pd_path_index(pd_path *p, size_t index) { return path_push(p, NULL, index); }

void pd_path_pop(pd_path *p, size_t mark) { p->depth = mark; }

/* "InitialExecutionState.Operations[3].Status" */
static void path_format(const pd_path *p, const char *key, char *out, size_t size)
{
    size_t n = 0, depth = p ? p->depth : 0;
    out[0] = 0;
    for (size_t i = 0; i < depth && i < PD_PATH_MAX_DEPTH && n < size; i++) {
        const char *seg = p->seg[i].key;
        int w = seg ? snprintf(out + n, size - n, "%s%s", i ? "." : "", seg)
                    : snprintf(out + n, size - n, "[%zu]", p->seg[i].index);
        n += w > 0 ? (size_t)w : 0;
    }
    if (depth > PD_PATH_MAX_DEPTH && n < size)
        n += (size_t)snprintf(out + n, size - n, "...");
    if (key && n < size)
        snprintf(out + n, size - n, "%s%s", n ? "." : "", key);
}

perdure_status pd_path_vfail(pd_err *err, const pd_path *p, const char *key, perdure_status code, const char *fmt,
                             va_list ap)
{
    char where[256], msg[sizeof err->msg];
    vsnprintf(msg, sizeof msg, fmt, ap);
    path_format(p, key, where, sizeof where);
    if (!where[0])
        return pd_fail(err, code, "%s", msg);
    return pd_fail(err, code, "%s: %s", where, msg);
}

perdure_status pd_path_fail(pd_err *err, const pd_path *p, const char *key, perdure_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    perdure_status st = pd_path_vfail(err, p, key, code, fmt, ap);
    va_end(ap);
    return st;
}

/* ---- enums ---- */

const char *pd_enum_name(pd_enum_kind kind, int64_t v)
{
    /* Range-check before the cast: the util.c lookups take the enum type. */
    if (v < 0 || v > 255)
        return NULL;
    switch (kind) {
    case PD_ENUM_TYPE:
        return pd_type_name((perdure_op_type)v);
    case PD_ENUM_STATUS:
        return pd_status_name((perdure_op_status)v);
    case PD_ENUM_ACTION:
        return pd_action_name((perdure_action)v);
    case PD_ENUM_OUTCOME:
        return pd_outcome_name((perdure_outcome)v);
    }
    return NULL;
}

int pd_enum_parse(pd_enum_kind kind, const char *s, size_t len, int *out)
{
    /* Every enum is small and dense, so a scan of the names is enough; the
     * length comparison keeps "STEP\0x" from matching "STEP". */
    for (int v = 0; v < 16; v++) {
        const char *name = pd_enum_name(kind, v);
        if (name && strlen(name) == len && memcmp(name, s, len) == 0) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

const char *pd_enum_noun(pd_enum_kind kind)
{
    static const char *const nouns[] = {"type", "status", "action", "outcome"};
    return nouns[kind];
}

/* ---- text fields ---- */

perdure_status pd_codec_fixed(char *dst, size_t max, const char *s, size_t len, const pd_path *path, pd_err *err)
{
    if (len == 0)
        return pd_path_fail(err, path, NULL, PERDURE_E_DECODE, "must not be empty");
    if (len > max)
        return pd_path_fail(err, path, NULL, PERDURE_E_DECODE, "%zu characters, longer than the limit of %zu", len,
                            max);
    if (memchr(s, 0, len))
        return pd_path_fail(err, path, NULL, PERDURE_E_DECODE, "contains a NUL byte");
    memcpy(dst, s, len);
    dst[len] = 0;
    return PERDURE_OK;
}

/* ---- encoder-side checks ---- */

static perdure_status check_fixed(const char *field, const char *v, size_t max, bool required, const pd_path *path,
                                  pd_err *err)
{
    size_t n = strnlen(v, max + 1);
    if (n > max)
        return pd_path_fail(err, path, field, PERDURE_E_INVALID, "longer than %zu characters", max);
    if (!n && required)
        return pd_path_fail(err, path, field, PERDURE_E_INVALID, "missing");
    return PERDURE_OK;
}

static perdure_status check_bytes(const char *field, const pd_bytes *b, const pd_path *path, pd_err *err)
{
    if (!b->present || b->len <= PD_MAX_PAYLOAD)
        return PERDURE_OK;
    return pd_path_fail(err, path, field, PERDURE_E_TOO_LARGE, "%zu bytes exceeds the limit of %llu", b->len,
                        PD_MAX_PAYLOAD);
}

static perdure_status check_enum(const char *field, pd_enum_kind kind, int64_t v, const pd_path *path, pd_err *err)
{
    if (pd_enum_name(kind, v))
        return PERDURE_OK;
    return pd_path_fail(err, path, field, PERDURE_E_INVALID, "invalid %s %lld", pd_enum_noun(kind), (long long)v);
}

perdure_status pd_codec_check_required(const char *field, bool present, const pd_path *path, pd_err *err)
{
    return present ? PERDURE_OK : pd_path_fail(err, path, field, PERDURE_E_INVALID, "missing");
}

perdure_status pd_codec_check_error(const pd_error *e, pd_path *path, pd_err *err)
{
    perdure_status st;
    if (!e)
        return PERDURE_OK;
    size_t mark = pd_path_key(path, "Error");
    if (!(st = check_bytes("ErrorType", &e->type, path, err)) &&
        !(st = check_bytes("ErrorMessage", &e->message, path, err)) &&
        !(st = check_bytes("ErrorData", &e->data, path, err))) {
        for (size_t i = 0; i < e->stack_len && !st; i++)
            if (!e->stack[i])
                st = pd_path_fail(err, path, "StackTrace", PERDURE_E_INVALID, "line %zu is NULL", i);
    }
    pd_path_pop(path, mark);
    return st;
}

perdure_status pd_codec_check_operation(const pd_operation *op, pd_path *path, pd_err *err)
{
    perdure_status st;
    if ((st = check_fixed("Id", op->id, PD_MAX_ID, true, path, err)) ||
        (st = check_fixed("ParentId", op->parent_id, PD_MAX_ID, false, path, err)) ||
        (st = check_fixed("SubType", op->sub_type, PD_MAX_SUBTYPE, false, path, err)) ||
        (st = check_enum("Type", PD_ENUM_TYPE, op->type, path, err)) ||
        (st = check_enum("Status", PD_ENUM_STATUS, op->status, path, err)) ||
        (st = check_bytes("Name", &op->name, path, err)) ||
        (st = check_bytes("InputPayload", &op->input_payload, path, err)) ||
        (st = check_bytes("Result", &op->result, path, err)) ||
        (st = check_bytes("CallbackId", &op->callback_id, path, err)))
        return st;
    return pd_codec_check_error(op->error, path, err);
}

perdure_status pd_codec_check_update(const pd_update *u, pd_path *path, pd_err *err)
{
    perdure_status st;
    if ((st = check_fixed("Id", u->id, PD_MAX_ID, true, path, err)) ||
        (st = check_fixed("ParentId", u->parent_id, PD_MAX_ID, false, path, err)) ||
        (st = check_fixed("SubType", u->sub_type, PD_MAX_SUBTYPE, false, path, err)) ||
        (st = check_enum("Type", PD_ENUM_TYPE, u->type, path, err)) ||
        (st = check_enum("Action", PD_ENUM_ACTION, u->action, path, err)) ||
        (st = check_bytes("Name", &u->name, path, err)) || (st = check_bytes("Payload", &u->payload, path, err)) ||
        (st = check_bytes("FunctionName", &u->function_name, path, err)) ||
        (st = check_bytes("TenantId", &u->tenant_id, path, err)))
        return st;
    /* ChainedInvokeOptions carries TenantId only beside its required FunctionName. */
    if (u->tenant_id.present && (st = pd_codec_check_required("FunctionName", u->function_name.present, path, err)))
        return st;
    return pd_codec_check_error(u->error, path, err);
}

perdure_status pd_codec_check_output(const pd_output *o, pd_path *path, pd_err *err)
{
    perdure_status st;
    if ((st = check_enum("Status", PD_ENUM_OUTCOME, o->status, path, err)) ||
        (st = check_bytes("Result", &o->result, path, err)))
        return st;
    return pd_codec_check_error(o->error, path, err);
}

/* Every text byte escaped as JSON's \u00XX (6 bytes; msgpack needs 1), plus
 * an allowance for the keys, numbers and punctuation of every field of either
 * wire (under 1 KiB in JSON, where the keys are long), and per stack line. */
size_t pd_update_size_bound(const pd_update *u)
{
    size_t text = strlen(u->id) + strlen(u->parent_id) + strlen(u->sub_type) + u->name.len + u->payload.len +
                  u->function_name.len + u->tenant_id.len, lines = 0;
    if (u->error) {
        text += u->error->type.len + u->error->message.len + u->error->data.len;
        lines = u->error->stack_len;
        for (size_t i = 0; i < lines; i++)
            text += strlen(u->error->stack[i]);
    }
    return 2048 + 16 * lines + 6 * text;
}

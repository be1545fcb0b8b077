/* The replay fast path for bindings (perdure_vm_step_next): a replayed step in
 * one call across the FFI instead of three, with its recorded result
 * optionally rewritten from the Python SDK's tagged envelopes into plain JSON,
 * so that the binding parses one small document and builds no intermediate
 * objects. Uses only the public VM API. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "internal.h"

/* Deeper documents are left to the binding: its own decoder recurses several
 * frames per level, so a depth it would refuse must not be accepted here. */
#define PLAIN_MAX_DEPTH 64

typedef struct plain_writer {
    const unsigned char *p, *end;
    unsigned char *out;
} plain_writer;

/* Skips the literal lit (n bytes) if the input continues with it. */
static bool take_n(plain_writer *w, const char *lit, size_t n)
{
    if ((size_t)(w->end - w->p) < n || memcmp(w->p, lit, n) != 0)
        return false;
    w->p += n;
    return true;
}

#define take(w, lit) take_n((w), (lit), sizeof(lit) - 1)

static void emit(plain_writer *w, const unsigned char *from, const unsigned char *to)
{
    memcpy(w->out, from, (size_t)(to - from));
    w->out += to - from;
}

/* Copies a literal (null, true, false, punctuation) through. */
#define copy_literal(w, lit) copy_n((w), (lit), sizeof(lit) - 1)

static bool copy_n(plain_writer *w, const char *lit, size_t n)
{
    if (!take_n(w, lit, n))
        return false;
    memcpy(w->out, lit, n);
    w->out += n;
    return true;
}

/* Copies a JSON string, escapes and all: the parser decodes both forms alike.
 * Raw control characters are refused (a strict parser refuses them). */
static bool copy_string(plain_writer *w)
{
    const unsigned char *start = w->p, *p = w->p;
    if (p == w->end || *p++ != '"')
        return false;
    for (;;) {
        if (p == w->end || *p < 0x20)
            return false;
        if (*p == '"')
            break;
        if (*p == '\\' && ++p == w->end)
            return false;
        p++;
    }
    w->p = p + 1;
    emit(w, start, w->p);
    return true;
}

static const unsigned char *digits(const unsigned char *p, const unsigned char *end)
{
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    return p;
}

/* Copies a JSON number (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?). An "i"
 * value must be an integer and an "f" value must have a fraction or an
 * exponent: the plain form is then parsed into the same type (an integer
 * "f" would come back as int, not float). */
static bool copy_number(plain_writer *w, bool want_float)
{
    const unsigned char *start = w->p, *p = w->p, *end = w->end, *q;
    if (p < end && *p == '-')
        p++;
    if (p == end || *p < '0' || *p > '9')
        return false;
    p = *p == '0' ? p + 1 : digits(p, end);
    bool is_float = false;
    if (p < end && *p == '.') {
        q = digits(p + 1, end);
        if (q == p + 1)
            return false;
        p = q;
        is_float = true;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        q = digits(p, end);
        if (q == p)
            return false;
        p = q;
        is_float = true;
    }
    if (is_float != want_float)
        return false;
    w->p = p;
    emit(w, start, p);
    return true;
}

static bool envelope(plain_writer *w, int depth);

/* The members of an "m" value, {"key":<envelope>,...}, or the elements of an
 * "l" value, [<envelope>,...], each envelope rewritten to its plain value. */
static bool container(plain_writer *w, int depth, bool keyed)
{
    const char *close = keyed ? "}" : "]";
    if (!copy_n(w, keyed ? "{" : "[", 1))
        return false;
    if (copy_n(w, close, 1))
        return true;
    do {
        if ((keyed && (!copy_string(w) || !copy_literal(w, ":"))) || !envelope(w, depth))
            return false;
    } while (copy_literal(w, ","));
    return copy_n(w, close, 1);
}

/* {"t":"<tag>","v":<value>} -> the value in plain JSON. */
static bool envelope(plain_writer *w, int depth)
{
    if (depth >= PLAIN_MAX_DEPTH || !take(w, "{\"t\":\""))
        return false;
    const unsigned char *tag = w->p;
    while (w->p < w->end && *w->p != '"' && *w->p != '\\')
        w->p++;
    size_t tag_len = (size_t)(w->p - tag);
    if (tag_len != 1 || !take(w, "\",\"v\":"))
        return false;
    bool ok;
    switch (*tag) {
    case 'n': ok = copy_literal(w, "null"); break;
    case 'b': ok = copy_literal(w, "true") || copy_literal(w, "false"); break;
    case 's': ok = copy_string(w); break;
    case 'i': ok = copy_number(w, false); break;
    case 'f': ok = copy_number(w, true); break;
    case 'm': ok = container(w, depth + 1, true); break;
    case 'l': ok = container(w, depth + 1, false); break;
    default: ok = false; break;   /* tuples, bytes, dates...: the binding's own decoder */
    }
    return ok && take(w, "}");
}

/* The plain JSON of an envelope document into out (room for len bytes: the
 * plain form is never longer); its length, or 0 when it is not rewritten. */
static unsigned long long plain_json(const unsigned char *data, unsigned long long len, unsigned char *out)
{
    plain_writer w = {.p = data, .end = data + len, .out = out};
    if (!envelope(&w, 0) || w.p != w.end)
        return 0;
    return (unsigned long long)(w.out - out);
}

perdure_status perdure_vm_step_next(perdure_vm *vm, perdure_ctx ctx, const char *name,
                                    const perdure_step_config *cfg, perdure_step_next_io *io)
{
    if (!io || io->size < sizeof *io)
        return PERDURE_E_MISUSE;
    io->result = NULL;
    io->result_len = 0;
    io->plain_len = 0;
    perdure_status st = perdure_vm_step(vm, ctx, name, cfg, &io->op);
    if (st)
        return st;
    st = perdure_vm_op_next(vm, io->op, &io->next);
    if (st || io->next != PERDURE_NEXT_RESULT)
        return st;
    st = perdure_vm_op_result(vm, io->op, &io->result, &io->result_len);
    if (st)
        return st;
    if (io->plain && io->result && io->result_len <= io->plain_cap)
        io->plain_len = plain_json(io->result, io->result_len, io->plain);
    return PERDURE_OK;
}

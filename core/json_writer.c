/* Compact JSON written straight into a pd_buf, without building a jansson
 * tree: the store writes two history events and the execution's state on
 * every checkpoint, and the trees cost more than the SQL. The text is byte
 * for byte what json_dump prints with JSON_COMPACT | JSON_PRESERVE_ORDER |
 * JSON_REAL_PRECISION(15) (tests/c/test_json_writer.c compares them), so
 * texts stored before and after read the same. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF (what
 * jansson itself accepts). */
bool pd_utf8_valid(const void *text, size_t len)
{
    const unsigned char *s = text;
    size_t i = 0;
    while (i < len) {
        unsigned char b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if (b >= 0xC2 && b <= 0xDF) {
            n = 1, cp = b & 0x1F, min = 0x80;
        } else if ((b & 0xF0) == 0xE0) {
            n = 2, cp = b & 0x0F, min = 0x800;
        } else if (b >= 0xF0 && b <= 0xF4) {
            n = 3, cp = b & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

void pd_jw_init(pd_jw *w, pd_buf *out)
{
    memset(w, 0, sizeof *w);
    w->out = out;
    w->start = out->len;
}

/* The comma before a member or element, unless a key was just written. */
static void value_start(pd_jw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    uint32_t bit = UINT32_C(1) << w->depth;
    if (w->depth && (w->has_members & bit))
        pd_buf_append(w->out, ",", 1);
    w->has_members |= bit;
}

static void open(pd_jw *w, char bracket)
{
    value_start(w);
    pd_buf_append(w->out, &bracket, 1);
    if (++w->depth >= 32)
        w->too_deep = true;
    else
        w->has_members &= ~(UINT32_C(1) << w->depth);
}

void pd_jw_object(pd_jw *w) { open(w, '{'); }

void pd_jw_array(pd_jw *w) { open(w, '['); }

void pd_jw_end_object(pd_jw *w)
{
    w->depth--;
    pd_buf_append(w->out, "}", 1);
}

void pd_jw_end_array(pd_jw *w)
{
    w->depth--;
    pd_buf_append(w->out, "]", 1);
}

static void quoted(pd_jw *w, const char *s, size_t len)
{
    if (!pd_utf8_valid(s, len)) {
        w->bad_text = true;
        return;
    }
    pd_buf *b = w->out;
    pd_buf_append(b, "\"", 1);
    size_t run = 0;   /* bytes of s before i that need no escape, not yet copied */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        pd_buf_append(b, s + i - run, run);
        run = 0;
        char esc[8];
        const char *text = esc;
        switch (c) {
        case '"': text = "\\\""; break;
        case '\\': text = "\\\\"; break;
        case '\b': text = "\\b"; break;
        case '\f': text = "\\f"; break;
        case '\n': text = "\\n"; break;
        case '\r': text = "\\r"; break;
        case '\t': text = "\\t"; break;
        default: snprintf(esc, sizeof esc, "\\u%04X", c);
        }
        pd_buf_append_str(b, text);
    }
    pd_buf_append(b, s + len - run, run);
    pd_buf_append(b, "\"", 1);
}

void pd_jw_key(pd_jw *w, const char *key)
{
    value_start(w);
    size_t len = strlen(key);
    if (pd_buf_reserve(w->out, len + 3))
        return;
    unsigned char *p = w->out->data + w->out->len;
    p[0] = '"';
    memcpy(p + 1, key, len);
    p[len + 1] = '"';
    p[len + 2] = ':';
    w->out->len += len + 3;
    w->after_key = true;
}

void pd_jw_string(pd_jw *w, const char *s, size_t len)
{
    value_start(w);
    quoted(w, s ? s : "", s ? len : 0);
}

void pd_jw_int(pd_jw *w, int64_t v)
{
    value_start(w);
    char num[21];
    if (v < 0)
        pd_buf_append(w->out, "-", 1);
    /* the magnitude as unsigned: INT64_MIN has no positive twin */
    uint64_t magnitude = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    pd_buf_append(w->out, num, pd_u64_dec(magnitude, num));
}

/* jansson's real: "%.15g", then ".0" when that reads as an integer, and no
 * '+' or leading zeros in the exponent. */
void pd_jw_real(pd_jw *w, double v)
{
    value_start(w);
    char num[40];
    int n = snprintf(num, sizeof num, "%.15g", v);
    if (n < 0 || (size_t)n >= sizeof num - 2) {
        w->bad_text = true;
        return;
    }
    if (!strchr(num, '.') && !strchr(num, 'e')) {
        memcpy(num + n, ".0", 3);
        n += 2;
    }
    char *e = strchr(num, 'e');
    if (e) {
        char *digits = e + 1, *from = digits;
        if (*from == '-')
            digits++, from++;
        else if (*from == '+')
            from++;
        while (*from == '0' && from[1])
            from++;
        memmove(digits, from, strlen(from) + 1);
        n = (int)strlen(num);
    }
    pd_buf_append(w->out, num, (size_t)n);
}

void pd_jw_bool(pd_jw *w, bool v)
{
    value_start(w);
    pd_buf_append_str(w->out, v ? "true" : "false");
}

void pd_jw_raw(pd_jw *w, const void *json, size_t len)
{
    value_start(w);
    pd_buf_append(w->out, json, len);
}

perdure_status pd_jw_finish(pd_jw *w, const char *what, pd_err *err)
{
    perdure_status st = PERDURE_OK;
    if (w->out->oom)
        st = pd_fail(err, PERDURE_E_NOMEM, "out of memory");
    else if (w->bad_text)
        st = pd_fail(err, PERDURE_E_INVALID, "%s: a text is not valid UTF-8", what);
    else if (w->too_deep || w->depth)
        st = pd_fail(err, PERDURE_E_INTERNAL, "%s: unbalanced or too deep JSON", what);
    if (st)
        w->out->len = w->start;
    return st;
}

/* zstd framing for stored payloads. */
#include <zstd.h>

#include "internal.h"

/* zstd's own default: most of the ratio of the slow levels at a speed that
 * keeps compression out of the checkpoint latency. */
#define PD_ZSTD_LEVEL 3

perdure_status pd_zstd_compress(const void *src, size_t len, pd_buf *out, pd_err *err)
{
    size_t bound = ZSTD_compressBound(len);
    if (ZSTD_isError(bound) || bound == 0)
        return pd_fail(err, PERDURE_E_TOO_LARGE, "zstd: %zu bytes cannot be compressed", len);
    if (pd_buf_reserve(out, bound))
        return pd_fail(err, PERDURE_E_NOMEM, "zstd: out of memory");
    size_t n = ZSTD_compress(out->data + out->len, bound, src, len, PD_ZSTD_LEVEL);
    if (ZSTD_isError(n))
        return pd_fail(err, PERDURE_E_INTERNAL, "zstd: %s", ZSTD_getErrorName(n));
    out->len += n;
    return PERDURE_OK;
}

/* The smallest window log that covers max_out, within what zstd accepts: a
 * frame may not make the decoder allocate a window larger than its output
 * could ever be. */
static int window_log_for(size_t max_out)
{
    ZSTD_bounds b = ZSTD_dParam_getBounds(ZSTD_d_windowLogMax);
    int log = 0;
    while (log < 62 && ((size_t)1 << log) < max_out)
        log++;
    if (log < b.lowerBound)
        log = b.lowerBound;
    if (log > b.upperBound)
        log = b.upperBound;
    return log;
}

/* Streams so that frames without a content size (written by streaming
 * compressors) and concatenated frames decode too; the output may grow to
 * max_out + 1 bytes, the one extra byte proving the frame is too large. */
static perdure_status decompress_stream(ZSTD_DCtx *d, const void *src, size_t len, size_t max_out, pd_buf *out,
                                        pd_err *err)
{
    size_t start = out->len;
    size_t limit = max_out < SIZE_MAX ? max_out + 1 : max_out;
    unsigned long long known = ZSTD_getFrameContentSize(src, len);
    size_t chunk = ZSTD_DStreamOutSize();
    if (known != ZSTD_CONTENTSIZE_UNKNOWN && known != ZSTD_CONTENTSIZE_ERROR) {
        if (known > max_out)
            return pd_fail(err, PERDURE_E_TOO_LARGE, "zstd: content of %llu bytes exceeds the limit of %zu", known,
                           max_out);
        chunk = (size_t)known + 1;   /* + 1: a following frame shows up without a regrow */
    }
    ZSTD_inBuffer in = {src, len, 0};
    size_t ret = 1;
    bool full = false;
    while (in.pos < in.size || full) {
        size_t produced = out->len - start;
        size_t room = limit - produced;
        if (room == 0)
            return pd_fail(err, PERDURE_E_TOO_LARGE, "zstd: content exceeds the limit of %zu bytes", max_out);
        if (out->cap == out->len && pd_buf_reserve(out, chunk < room ? chunk : room))
            return pd_fail(err, PERDURE_E_NOMEM, "zstd: out of memory");
        size_t avail = out->cap - out->len;
        ZSTD_outBuffer ob = {out->data + out->len, avail < room ? avail : room, 0};
        ret = ZSTD_decompressStream(d, &ob, &in);
        if (ZSTD_isError(ret))
            return pd_fail(err, PERDURE_E_DECODE, "zstd: %s", ZSTD_getErrorName(ret));
        out->len += ob.pos;
        full = ob.pos == ob.size;   /* the decoder may hold more output */
        chunk = produced + ob.pos;  /* double the buffer on the next growth */
        if (chunk == 0)
            chunk = ZSTD_DStreamOutSize();
    }
    if (out->len - start > max_out)
        return pd_fail(err, PERDURE_E_TOO_LARGE, "zstd: content exceeds the limit of %zu bytes", max_out);
    if (ret != 0)
        return pd_fail(err, PERDURE_E_DECODE, "zstd: truncated frame");
    return PERDURE_OK;
}

perdure_status pd_zstd_decompress(const void *src, size_t len, size_t max_out, pd_buf *out, pd_err *err)
{
    if (len == 0)
        return pd_fail(err, PERDURE_E_DECODE, "zstd: empty input");
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (!d)
        return pd_fail(err, PERDURE_E_NOMEM, "zstd: out of memory");
    size_t start = out->len;
    perdure_status st = PERDURE_OK;
    size_t r = ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, window_log_for(max_out));
    if (ZSTD_isError(r))
        st = pd_fail(err, PERDURE_E_INTERNAL, "zstd: %s", ZSTD_getErrorName(r));
    else
        st = decompress_stream(d, src, len, max_out, out, err);
    ZSTD_freeDCtx(d);
    if (st)
        out->len = start;
    return st;
}

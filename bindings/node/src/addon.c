/*
 * perdure.node: the Node-API addon of the Node.js SDK, a thin layer over
 * libperdure (ffi/include/perdure.h). Every exported function wraps ONE C
 * function and its JS name says which (vmStep -> perdure_vm_step), except
 * vmOpNextResult (perdure_vm_op_next, then perdure_vm_op_result on RESULT,
 * so that a replayed operation costs one crossing) and stepConfig (a
 * perdure_step_config built once); the JS side (lib/) holds no protocol,
 * retry, id or batching logic.
 *
 * Handles. perdure_vm, perdure_store and perdure_lease are JS objects created
 * here (napi_wrap, tagged with napi_type_tag_object so that a foreign object is
 * refused). A wrong or closed handle throws; it never reaches libperdure.
 *   - vm: freed by vmFree or by the GC finalizer.
 *   - store: closed by storeClose or by the finalizer. A C-side count of live
 *     leases keeps the perdure_store open until its last lease ends, whatever
 *     the order in which the GC finalizes the objects.
 *   - lease: ended by leaseComplete / leaseAbandon; a lease collected while
 *     still open is abandoned by its finalizer (recorded as a crash, re-run),
 *     or, when its store is busy on the libuv pool, once that work completes.
 *
 * Threads. libperdure handles are used by one thread at a time. Everything
 * runs on the JS thread except the two blocking calls, which run in
 * napi_async_work on the libuv pool: perdure_store_lease_wait
 * (storeLeaseWait) and perdure_lease_checkpoint (leaseCheckpoint, which
 * commits and fsyncs; leaseCheckpointSync is the same call on the JS thread,
 * for an in-memory store, which does not block). While one runs, its store is
 * marked busy: any other call on that store or one of its leases throws
 * PERDURE_E_MISUSE instead of touching the handle from two threads. (The JS
 * side holds a per-store promise mutex so that this never happens in normal
 * use; the flag is the backstop.)
 * The work keeps a reference to the JS handle object, so neither is collected
 * before the work completes. Request bytes are copied before the work starts.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <perdure.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- plumbing ------------------------------------------------------------- */

#define CHECK_NAPI(call)                                                                  \
    do {                                                                                  \
        if ((call) != napi_ok) {                                                          \
            throw_napi(env, #call);                                                       \
            return NULL;                                                                  \
        }                                                                                 \
    } while (0)

#define ARGS(n)                                                                           \
    size_t argc = (n);                                                                    \
    napi_value argv[(n) > 0 ? (n) : 1];                                                   \
    CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));                     \
    for (size_t i_ = argc; i_ < (size_t)(n); i_++)                                        \
        napi_get_undefined(env, &argv[i_]);

static void throw_napi(napi_env env, const char *what)
{
    const napi_extended_error_info *ei = NULL;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending)
        return;
    napi_get_last_error_info(env, &ei);
    char msg[512];
    snprintf(msg, sizeof msg, "perdure.node: %s failed: %s", what,
             ei && ei->error_message ? ei->error_message : "Node-API error");
    napi_throw_type_error(env, NULL, msg);
}

/* Error(message) with .code = the status name and .status = status; an
 * empty message is the status name. */
static napi_value status_error(napi_env env, perdure_status st, const char *message)
{
    napi_value msg, err, code, num;
    const char *name = perdure_status_name(st);
    napi_create_string_utf8(env, message && *message ? message : name, NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &err);
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
    napi_create_int32(env, st, &num);
    napi_set_named_property(env, err, "code", code);
    napi_set_named_property(env, err, "status", num);
    return err;
}

static void throw_status(napi_env env, perdure_status st, const char *message)
{
    napi_throw(env, status_error(env, st, message));
}

static void reject_status(napi_env env, napi_deferred d, perdure_status st, const char *message)
{
    napi_reject_deferred(env, d, status_error(env, st, message));
}

static void throw_misuse(napi_env env, const char *message)
{
    throw_status(env, PERDURE_E_MISUSE, message);
}

static napi_value undefined(napi_env env)
{
    napi_value v;
    napi_get_undefined(env, &v);
    return v;
}

static napi_value null_value(napi_env env)
{
    napi_value v;
    napi_get_null(env, &v);
    return v;
}

static bool is_nullish(napi_env env, napi_value v)
{
    napi_valuetype t;
    if (napi_typeof(env, v, &t) != napi_ok)
        return true;
    return t == napi_undefined || t == napi_null;
}

static napi_value make_string(napi_env env, const char *s)
{
    napi_value v;
    if (!s)
        return null_value(env);
    if (napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v) != napi_ok)
        return null_value(env);
    return v;
}

static napi_value make_int(napi_env env, long long n)
{
    napi_value v;
    napi_create_int64(env, n, &v);
    return v;
}

static napi_value make_bool(napi_env env, int b)
{
    napi_value v;
    napi_get_boolean(env, b != 0, &v);
    return v;
}

static napi_value make_double(napi_env env, double d)
{
    napi_value v;
    napi_create_double(env, d, &v);
    return v;
}

typedef struct key_value {
    const char *key;
    napi_value value;
} key_value;

static napi_value make_object_of(napi_env env, const key_value *props, size_t n)
{
    napi_value obj;
    napi_create_object(env, &obj);
    for (size_t i = 0; i < n; i++)
        napi_set_named_property(env, obj, props[i].key, props[i].value);
    return obj;
}

/* MAKE_OBJECT(env, {"key", value}, ...): a plain object of those properties */
#define MAKE_OBJECT(env, ...)                                                             \
    make_object_of(env, (const key_value[]){__VA_ARGS__},                                 \
                   sizeof((const key_value[]){__VA_ARGS__}) / sizeof(key_value))

static napi_value make_buffer(napi_env env, const unsigned char *data, unsigned long long len)
{
    napi_value v;
    void *copy = NULL;
    if (napi_create_buffer_copy(env, (size_t)len, data ? (const void *)data : "", &copy, &v) != napi_ok)
        return NULL;
    return v;
}

/* Copies an owned perdure_buf into a Buffer and frees it (perdure_buf_free). */
static napi_value take_buf(napi_env env, perdure_buf *buf)
{
    napi_value v = make_buffer(env, buf->data, buf->len);
    perdure_buf_free(buf);
    return v;
}

/* Copies an owned perdure_buf of text (NUL-terminated or not) into a string
 * and frees it. */
static napi_value take_text(napi_env env, perdure_buf *buf)
{
    napi_value s;
    size_t len = (size_t)buf->len;
    while (len && buf->data[len - 1] == 0)
        len--;
    napi_create_string_utf8(env, buf->data ? (const char *)buf->data : "", len, &s);
    perdure_buf_free(buf);
    return s;
}

/* A malloc'd UTF-8 copy of a JS string; NULL (ok) for null/undefined when
 * nullable. Returns false after throwing. */
static bool get_string(napi_env env, napi_value v, bool nullable, const char *what, char **out)
{
    *out = NULL;
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t == napi_undefined || t == napi_null) {
        if (nullable)
            return true;
    } else if (t == napi_string) {
        size_t len = 0;
        napi_get_value_string_utf8(env, v, NULL, 0, &len);
        char *s = malloc(len + 1);
        if (!s) {
            throw_status(env, PERDURE_E_NOMEM, "out of memory");
            return false;
        }
        napi_get_value_string_utf8(env, v, s, len + 1, &len);
        *out = s;
        return true;
    }
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be a string%s", what, nullable ? " or null" : "");
    napi_throw_type_error(env, NULL, msg);
    return false;
}

/* Whether v holds a number: false (the default applies) for null/undefined;
 * throws and fails for anything else. */
static bool number_arg(napi_env env, napi_value v, const char *what, bool *present)
{
    napi_valuetype t;
    napi_typeof(env, v, &t);
    *present = t == napi_number;
    if (*present || t == napi_undefined || t == napi_null)
        return true;
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be a number", what);
    napi_throw_type_error(env, NULL, msg);
    return false;
}

static bool get_int64(napi_env env, napi_value v, const char *what, long long dflt, long long *out)
{
    bool present;
    int64_t n = dflt;
    if (!number_arg(env, v, what, &present))
        return false;
    if (present)
        napi_get_value_int64(env, v, &n);
    *out = n;
    return true;
}

static bool get_double(napi_env env, napi_value v, const char *what, double dflt, double *out)
{
    bool present;
    if (!number_arg(env, v, what, &present))
        return false;
    if (!present)
        *out = dflt;
    else
        napi_get_value_double(env, v, out);
    return true;
}

static napi_value prop(napi_env env, napi_value obj, const char *key)
{
    napi_value v = NULL;
    napi_valuetype t;
    if (napi_typeof(env, obj, &t) != napi_ok || t != napi_object || napi_get_named_property(env, obj, key, &v) != napi_ok)
        napi_get_undefined(env, &v);
    return v;
}

/* get_int64 / get_double of obj[key]; errors name the key. */
static bool prop_int64(napi_env env, napi_value obj, const char *key, long long dflt, long long *out)
{
    return get_int64(env, prop(env, obj, key), key, dflt, out);
}

static bool prop_double(napi_env env, napi_value obj, const char *key, double dflt, double *out)
{
    return get_double(env, prop(env, obj, key), key, dflt, out);
}

/* Bytes for a call: a Buffer/TypedArray is borrowed, a string is copied
 * (*owned set), null/undefined gives data NULL. */
typedef struct bytes_arg {
    const unsigned char *data;
    unsigned long long len;
    char *owned;
} bytes_arg;

static bool get_bytes(napi_env env, napi_value v, const char *what, bytes_arg *out)
{
    memset(out, 0, sizeof *out);
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t == napi_undefined || t == napi_null)
        return true;
    if (t == napi_string) {
        size_t len = 0;
        if (!get_string(env, v, false, what, &out->owned))
            return false;
        napi_get_value_string_utf8(env, v, NULL, 0, &len);
        out->data = (const unsigned char *)out->owned;
        out->len = len;
        return true;
    }
    bool is_buffer = false, is_typed = false;
    napi_is_buffer(env, v, &is_buffer);
    if (is_buffer) {
        void *data;
        size_t len;
        napi_get_buffer_info(env, v, &data, &len);
        out->data = data;
        out->len = len;
        return true;
    }
    napi_is_typedarray(env, v, &is_typed);
    if (is_typed) {
        napi_typedarray_type tt;
        size_t n, offset;
        void *data;
        napi_value ab;
        napi_get_typedarray_info(env, v, &tt, &n, &data, &ab, &offset);
        if (tt == napi_uint8_array) {
            out->data = data;
            out->len = n;
            return true;
        }
    }
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be a Buffer, a Uint8Array, a string or null", what);
    napi_throw_type_error(env, NULL, msg);
    return false;
}

/* ---- memory kept for the duration of one call ------------------------------- */
/* Strings and arrays that a C call borrows, freed together by pool_free. */
typedef struct strpool {
    void **items;
    size_t len, cap;
} strpool;

/* Takes ownership of block (NULL is kept as nothing). Returns false after
 * throwing when out of memory; block is freed then. */
static bool pool_keep(napi_env env, strpool *p, void *block)
{
    if (!block)
        return true;
    if (p->len == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        void **items = realloc(p->items, cap * sizeof *items);
        if (!items) {
            free(block);
            throw_status(env, PERDURE_E_NOMEM, "out of memory");
            return false;
        }
        p->items = items;
        p->cap = cap;
    }
    p->items[p->len++] = block;
    return true;
}

/* calloc(n, size) kept in the pool (at least one element, so never NULL on success). */
static void *pool_calloc(napi_env env, strpool *p, size_t n, size_t size)
{
    void *block = calloc(n ? n : 1, size);
    if (!block) {
        throw_status(env, PERDURE_E_NOMEM, "out of memory");
        return NULL;
    }
    return pool_keep(env, p, block) ? block : NULL;
}

/* A JS string kept in the pool (NULL for null/undefined when nullable). */
static bool pool_string(napi_env env, strpool *p, napi_value v, bool nullable, const char *what, const char **out)
{
    char *s;
    *out = NULL;
    if (!get_string(env, v, nullable, what, &s) || !pool_keep(env, p, s))
        return false;
    *out = s;
    return true;
}

static void pool_free(strpool *p)
{
    for (size_t i = 0; i < p->len; i++)
        free(p->items[i]);
    free(p->items);
    memset(p, 0, sizeof *p);
}

/* An array of strings into the pool (*out NULL, *len 0 when v is no array). */
static bool pool_strings(napi_env env, strpool *p, napi_value v, const char *what, const char *const **out,
                         uint32_t *len)
{
    bool is_array = false;
    *out = NULL;
    *len = 0;
    napi_is_array(env, v, &is_array);
    if (!is_array)
        return true;
    napi_get_array_length(env, v, len);
    const char **items = pool_calloc(env, p, *len, sizeof *items);
    if (!items)
        return false;
    for (uint32_t i = 0; i < *len; i++) {
        napi_value e;
        napi_get_element(env, v, i, &e);
        if (!pool_string(env, p, e, false, what, &items[i]))
            return false;
    }
    *out = items;
    return true;
}

/* A string property into the pool (NULL when absent). */
static bool pool_prop(napi_env env, strpool *p, napi_value obj, const char *key, const char **out)
{
    return pool_string(env, p, prop(env, obj, key), true, key, out);
}

/* {ErrorType, ErrorMessage, ErrorData, StackTrace: [string]} -> perdure_error_info */
static bool get_error_info(napi_env env, napi_value v, strpool *p, perdure_error_info *out)
{
    memset(out, 0, sizeof *out);
    if (is_nullish(env, v))
        return true;
    if (!pool_prop(env, p, v, "ErrorType", &out->error_type) ||
        !pool_prop(env, p, v, "ErrorMessage", &out->error_message) ||
        !pool_prop(env, p, v, "ErrorData", &out->error_data))
        return false;
    uint32_t n;
    if (!pool_strings(env, p, prop(env, v, "StackTrace"), "StackTrace[i]", &out->stack_trace, &n))
        return false;
    out->stack_trace_len = n;
    return true;
}

/* perdure_error_view -> {kind, ErrorType, ErrorMessage, ErrorData, StackTrace} */
static napi_value error_view_object(napi_env env, const perdure_error_view *view)
{
    napi_value obj;
    napi_create_object(env, &obj);
    napi_set_named_property(env, obj, "kind", make_int(env, view->kind));
    if (view->error_type)
        napi_set_named_property(env, obj, "ErrorType", make_string(env, view->error_type));
    if (view->error_message)
        napi_set_named_property(env, obj, "ErrorMessage", make_string(env, view->error_message));
    if (view->error_data)
        napi_set_named_property(env, obj, "ErrorData", make_string(env, view->error_data));
    if (view->stack_trace_len) {
        napi_value arr;
        napi_create_array_with_length(env, (size_t)view->stack_trace_len, &arr);
        for (unsigned long long i = 0; i < view->stack_trace_len; i++)
            napi_set_element(env, arr, (uint32_t)i, make_string(env, view->stack_trace[i]));
        napi_set_named_property(env, obj, "StackTrace", arr);
    }
    return obj;
}

/* ---- retry / wait / completion configs as plain objects --------------------- */

/* {maxAttempts, backoff, initialDelaySeconds, maxDelaySeconds, backoffRate,
 *  incrementSeconds, jitter, retryableErrors: [{pattern, regex}],
 *  retryableErrorTypes: [string]} -> perdure_retry_config, its arrays and
 *  strings in the pool. */
static bool get_retry_config(napi_env env, napi_value v, strpool *p, perdure_retry_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->size = sizeof *cfg;
    perdure_retry_config_preset(cfg, PERDURE_RETRY_CONFIG_DEFAULTS);
    long long attempts, backoff, jitter, rounding;
    if (!prop_int64(env, v, "maxAttempts", cfg->max_attempts, &attempts) ||
        !prop_int64(env, v, "backoff", cfg->backoff, &backoff) ||
        !prop_double(env, v, "initialDelaySeconds", cfg->initial_delay_seconds, &cfg->initial_delay_seconds) ||
        !prop_double(env, v, "maxDelaySeconds", cfg->max_delay_seconds, &cfg->max_delay_seconds) ||
        !prop_double(env, v, "backoffRate", cfg->backoff_rate, &cfg->backoff_rate) ||
        !prop_double(env, v, "incrementSeconds", cfg->increment_seconds, &cfg->increment_seconds) ||
        !prop_int64(env, v, "jitter", cfg->jitter, &jitter) ||
        !prop_int64(env, v, "rounding", cfg->rounding, &rounding))
        return false;
    cfg->max_attempts = (unsigned)(attempts < 0 ? 0 : attempts);
    cfg->backoff = (perdure_backoff)backoff;
    cfg->jitter = (perdure_jitter)jitter;
    cfg->rounding = (perdure_rounding)rounding;

    napi_value errors = prop(env, v, "retryableErrors");
    bool is_array = false;
    napi_is_array(env, errors, &is_array);
    if (is_array) {
        uint32_t len = 0;
        napi_get_array_length(env, errors, &len);
        const char **patterns = pool_calloc(env, p, len, sizeof *patterns);
        unsigned char *is_regex = patterns ? pool_calloc(env, p, len, 1) : NULL;
        if (!is_regex)
            return false;
        for (uint32_t i = 0; i < len; i++) {
            napi_value e;
            bool regex = false;
            napi_get_element(env, errors, i, &e);
            if (!pool_prop(env, p, e, "pattern", &patterns[i]))
                return false;
            napi_get_value_bool(env, prop(env, e, "regex"), &regex);
            is_regex[i] = regex;
            if (!patterns[i]) {
                napi_throw_type_error(env, NULL, "retryableErrors[i].pattern must be a string");
                return false;
            }
        }
        cfg->retryable_errors = patterns;
        cfg->retryable_errors_is_regex = is_regex;
        cfg->retryable_errors_len = len;
    }
    uint32_t ntypes;
    if (!pool_strings(env, p, prop(env, v, "retryableErrorTypes"), "retryableErrorTypes[i]",
                      &cfg->retryable_error_types, &ntypes))
        return false;
    cfg->retryable_error_types_len = ntypes;
    return true;
}

static napi_value retry_config_object(napi_env env, const perdure_retry_config *cfg)
{
    return MAKE_OBJECT(env, {"maxAttempts", make_int(env, cfg->max_attempts)},
                       {"backoff", make_int(env, cfg->backoff)},
                       {"initialDelaySeconds", make_double(env, cfg->initial_delay_seconds)},
                       {"maxDelaySeconds", make_double(env, cfg->max_delay_seconds)},
                       {"backoffRate", make_double(env, cfg->backoff_rate)},
                       {"incrementSeconds", make_double(env, cfg->increment_seconds)},
                       {"jitter", make_int(env, cfg->jitter)}, {"rounding", make_int(env, cfg->rounding)});
}

static bool get_wait_config(napi_env env, napi_value v, perdure_wait_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->size = sizeof *cfg;
    perdure_wait_config_init(cfg);
    long long attempts, jitter, rounding;
    if (!prop_int64(env, v, "maxAttempts", cfg->max_attempts, &attempts) ||
        !prop_double(env, v, "initialDelaySeconds", cfg->initial_delay_seconds, &cfg->initial_delay_seconds) ||
        !prop_double(env, v, "maxDelaySeconds", cfg->max_delay_seconds, &cfg->max_delay_seconds) ||
        !prop_double(env, v, "backoffRate", cfg->backoff_rate, &cfg->backoff_rate) ||
        !prop_int64(env, v, "jitter", cfg->jitter, &jitter) ||
        !prop_int64(env, v, "rounding", cfg->rounding, &rounding))
        return false;
    cfg->max_attempts = (unsigned)(attempts < 0 ? 0 : attempts);
    cfg->jitter = (perdure_jitter)jitter;
    cfg->rounding = (perdure_rounding)rounding;
    return true;
}

static napi_value decision_object(napi_env env, const perdure_retry_decision *d)
{
    return MAKE_OBJECT(env, {"shouldRetry", make_bool(env, d->should_retry)},
                       {"delaySeconds", make_int(env, d->delay_seconds)});
}

/* ---- module-level functions ---------------------------------------------------- */

/* version() -> perdure_version() */
static napi_value js_version(napi_env env, napi_callback_info info)
{
    (void)info;
    return make_string(env, perdure_version());
}

/* statusName(status) -> perdure_status_name() */
static napi_value js_status_name(napi_env env, napi_callback_info info)
{
    ARGS(1);
    long long st;
    if (!get_int64(env, argv[0], "status", 0, &st))
        return NULL;
    return make_string(env, perdure_status_name((perdure_status)st));
}

/* idHash(scheme, raw) -> perdure_id_hash() */
static napi_value js_id_hash(napi_env env, napi_callback_info info)
{
    ARGS(2);
    long long scheme;
    char *raw;
    if (!get_int64(env, argv[0], "scheme", 0, &scheme) || !get_string(env, argv[1], false, "raw", &raw))
        return NULL;
    char out[72];
    perdure_status st = perdure_id_hash((perdure_id_scheme)scheme, raw, out, sizeof out);
    free(raw);
    if (st) {
        throw_status(env, st, "perdure_id_hash failed");
        return NULL;
    }
    return make_string(env, out);
}

/* retryPreset(preset) -> perdure_retry_config_preset() */
static napi_value js_retry_preset(napi_env env, napi_callback_info info)
{
    ARGS(1);
    long long preset;
    if (!get_int64(env, argv[0], "preset", 0, &preset))
        return NULL;
    perdure_retry_config cfg = {.size = sizeof cfg};
    perdure_status st = perdure_retry_config_preset(&cfg, (perdure_retry_preset)preset);
    if (st) {
        throw_status(env, st, "perdure_retry_config_preset: unknown preset");
        return NULL;
    }
    return retry_config_object(env, &cfg);
}

/* retryDecide(config, attemptsMade, error, random01) -> perdure_retry_decide() */
static napi_value js_retry_decide(napi_env env, napi_callback_info info)
{
    ARGS(4);
    strpool pool = {0};
    perdure_retry_config cfg;
    perdure_error_info err;
    long long attempts;
    double random01;
    napi_value result = NULL;
    if (get_retry_config(env, argv[0], &pool, &cfg) && get_int64(env, argv[1], "attemptsMade", 0, &attempts) &&
        get_error_info(env, argv[2], &pool, &err) && get_double(env, argv[3], "random01", 0.5, &random01)) {
        perdure_retry_decision d;
        perdure_status st = perdure_retry_decide(&cfg, (unsigned)(attempts < 0 ? 0 : attempts), &err, random01, &d);
        if (st)
            throw_status(env, st, "perdure_retry_decide: invalid retry configuration");
        else
            result = decision_object(env, &d);
    }
    pool_free(&pool);
    return result;
}

/* waitConfigInit() -> perdure_wait_config_init() */
static napi_value js_wait_config_init(napi_env env, napi_callback_info info)
{
    (void)info;
    perdure_wait_config cfg = {.size = sizeof cfg};
    perdure_wait_config_init(&cfg);
    return MAKE_OBJECT(env, {"maxAttempts", make_int(env, cfg.max_attempts)},
                       {"initialDelaySeconds", make_double(env, cfg.initial_delay_seconds)},
                       {"maxDelaySeconds", make_double(env, cfg.max_delay_seconds)},
                       {"backoffRate", make_double(env, cfg.backoff_rate)},
                       {"jitter", make_int(env, cfg.jitter)}, {"rounding", make_int(env, cfg.rounding)});
}

/* waitDecide(config, attempt, random01) -> perdure_wait_decide() */
static napi_value js_wait_decide(napi_env env, napi_callback_info info)
{
    ARGS(3);
    perdure_wait_config cfg;
    long long attempt;
    double random01;
    if (!get_wait_config(env, argv[0], &cfg) || !get_int64(env, argv[1], "attempt", 1, &attempt) ||
        !get_double(env, argv[2], "random01", 0.5, &random01))
        return NULL;
    perdure_retry_decision d;
    perdure_status st = perdure_wait_decide(&cfg, (unsigned)(attempt < 0 ? 0 : attempt), random01, &d);
    if (st) {
        throw_status(env, st, "perdure_wait_decide: invalid wait configuration");
        return NULL;
    }
    return decision_object(env, &d);
}

/* outputFailed(wire, error) -> perdure_output_failed() */
static napi_value js_output_failed(napi_env env, napi_callback_info info)
{
    ARGS(2);
    long long wire;
    strpool pool = {0};
    perdure_error_info err;
    napi_value result = NULL;
    if (get_int64(env, argv[0], "wire", PERDURE_WIRE_JSON, &wire) && get_error_info(env, argv[1], &pool, &err)) {
        perdure_vm_options opts = {.size = sizeof opts};
        perdure_vm_options_init(&opts);
        opts.wire = (perdure_wire)wire;
        perdure_buf buf = {0};
        perdure_status st = perdure_output_failed(&opts, &err, &buf);
        if (st)
            throw_status(env, st, "perdure_output_failed failed");
        else
            result = take_buf(env, &buf);
    }
    pool_free(&pool);
    return result;
}

/* ---- the VM handle ------------------------------------------------------------------ */

static const napi_type_tag VM_TAG = {0x7065726475726576ULL, 0x6d2d68616e646c65ULL};
static const napi_type_tag STORE_TAG = {0x7065726475726573ULL, 0x746f72652d68646cULL};
static const napi_type_tag LEASE_TAG = {0x706572647572656cULL, 0x656173652d68646cULL};

typedef struct vm_box {
    perdure_vm *vm;
} vm_box;

static void vm_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    vm_box *box = data;
    perdure_vm_free(box->vm);
    free(box);
}

static void *unwrap_tagged(napi_env env, napi_value v, const napi_type_tag *tag, const char *what)
{
    bool ok = false;
    void *data = NULL;
    napi_valuetype t;
    char msg[160];
    if (napi_typeof(env, v, &t) == napi_ok && t == napi_object && napi_check_object_type_tag(env, v, tag, &ok) == napi_ok &&
        ok && napi_unwrap(env, v, &data) == napi_ok && data)
        return data;
    snprintf(msg, sizeof msg, "expected a %s handle", what);
    napi_throw_type_error(env, NULL, msg);
    return NULL;
}

/* A new JS object owning data, tagged `tag`; `finalize` frees data when the
 * object is collected. NULL when that fails, data finalized already; the
 * caller reports it (a completion callback must not throw). */
static napi_value wrap_new(napi_env env, void *data, napi_finalize finalize, const napi_type_tag *tag)
{
    napi_value obj;
    if (napi_create_object(env, &obj) != napi_ok || napi_wrap(env, obj, data, finalize, NULL, NULL) != napi_ok) {
        finalize(env, data, NULL);
        return NULL;
    }
    napi_type_tag_object(env, obj, tag);
    return obj;
}

/* The live perdure_vm of a handle; throws for a foreign object or a freed VM. */
static vm_box *get_vm(napi_env env, napi_value v)
{
    vm_box *box = unwrap_tagged(env, v, &VM_TAG, "perdure_vm");
    if (!box)
        return NULL;
    if (!box->vm) {
        throw_misuse(env, "this perdure_vm has been freed (vmFree)");
        return NULL;
    }
    return box;
}

static napi_value vm_error(napi_env env, vm_box *box, perdure_status st)
{
    throw_status(env, st, perdure_vm_errmsg(box->vm));
    return NULL;
}

/* The result of a VM call that returns nothing, or a new operation. */
static napi_value vm_done(napi_env env, vm_box *box, perdure_status st)
{
    return st ? vm_error(env, box, st) : undefined(env);
}

static napi_value op_value(napi_env env, perdure_op op)
{
    napi_value v;
    napi_create_uint32(env, op, &v);
    return v;
}

static napi_value vm_new_op(napi_env env, vm_box *box, perdure_status st, perdure_op op)
{
    return st ? vm_error(env, box, st) : op_value(env, op);
}

/* A wrapper returning what one accessor of its handle returns:
 * name(handle) -> make(fn(box->field)). */
#define GETTER(name, box_type, get_box, field, fn, make)                                  \
    static napi_value name(napi_env env, napi_callback_info info)                         \
    {                                                                                     \
        ARGS(1);                                                                          \
        box_type *box = get_box;                                                          \
        return box ? make(env, fn(box->field)) : NULL;                                    \
    }
#define VM_GETTER(name, fn, make) GETTER(name, vm_box, get_vm(env, argv[0]), vm, fn, make)

static bool get_op(napi_env env, napi_value v, perdure_op *out)
{
    long long n;
    if (!get_int64(env, v, "op", 0, &n))
        return false;
    if (n < 0 || n > 0xffffffffLL) {
        throw_status(env, PERDURE_E_MISUSE, "operation handle out of range");
        return false;
    }
    *out = (perdure_op)n;
    return true;
}

/* vmNew({wire, idScheme, randomSeed, asyncFlushMs, ...}) -> perdure_vm_new() */
static napi_value js_vm_new(napi_env env, napi_callback_info info)
{
    ARGS(1);
    perdure_vm_options opts = {.size = sizeof opts};
    perdure_vm_options_init(&opts);
    long long wire, ids, seed, max_updates, max_inline;
    if (!prop_int64(env, argv[0], "wire", opts.wire, &wire) ||
        !prop_int64(env, argv[0], "idScheme", opts.id_scheme, &ids) ||
        !prop_int64(env, argv[0], "randomSeed", 0, &seed) ||
        !prop_int64(env, argv[0], "asyncFlushMs", opts.async_flush_ms, &opts.async_flush_ms) ||
        !prop_int64(env, argv[0], "maxBatchUpdates", (long long)opts.max_batch_updates, &max_updates) ||
        !prop_int64(env, argv[0], "maxInlineResult", (long long)opts.max_inline_result, &max_inline))
        return NULL;
    opts.wire = (perdure_wire)wire;
    opts.id_scheme = (perdure_id_scheme)ids;
    opts.random_seed = (unsigned long long)seed;
    opts.max_batch_updates = (unsigned long long)max_updates;
    opts.max_inline_result = (unsigned long long)max_inline;
    perdure_vm *vm = NULL;
    perdure_status st = perdure_vm_new(&opts, &vm);
    if (st) {
        throw_status(env, st, "perdure_vm_new failed");
        return NULL;
    }
    vm_box *box = calloc(1, sizeof *box);
    if (!box) {
        perdure_vm_free(vm);
        throw_status(env, PERDURE_E_NOMEM, "out of memory");
        return NULL;
    }
    box->vm = vm;
    napi_value obj = wrap_new(env, box, vm_finalize, &VM_TAG);
    if (!obj)
        throw_napi(env, "napi_wrap");
    return obj;
}

/* vmFree(vm) -> perdure_vm_free(); later calls on the handle throw. */
static napi_value js_vm_free(napi_env env, napi_callback_info info)
{
    ARGS(1);
    vm_box *box = unwrap_tagged(env, argv[0], &VM_TAG, "perdure_vm");
    if (!box)
        return NULL;
    perdure_vm_free(box->vm);
    box->vm = NULL;
    return undefined(env);
}

/* vmErrmsg(vm) -> perdure_vm_errmsg() */
VM_GETTER(js_vm_errmsg, perdure_vm_errmsg, make_string)

static const char *type_name(perdure_op_type t)
{
    static const char *names[] = {"EXECUTION", "STEP", "WAIT", "CALLBACK", "CONTEXT", "CHAINED_INVOKE"};
    return (unsigned)t < 6 ? names[t] : "UNKNOWN";
}

/* vmNondeterminism(vm) -> perdure_vm_nondeterminism() */
static napi_value js_vm_nondeterminism(napi_env env, napi_callback_info info)
{
    ARGS(1);
    vm_box *box = get_vm(env, argv[0]);
    if (!box)
        return NULL;
    perdure_nondeterminism nd;
    perdure_status st = perdure_vm_nondeterminism(box->vm, &nd);
    if (st)
        return null_value(env);
    return MAKE_OBJECT(env, {"operationId", make_string(env, nd.operation_id)},
                       {"position", make_int(env, (long long)nd.position)},
                       {"contextId", make_string(env, nd.context_id)},
                       {"expectedType", make_string(env, type_name(nd.expected_type))},
                       {"actualType", make_string(env, type_name(nd.actual_type))},
                       {"expectedSubType", make_string(env, nd.expected_sub_type)},
                       {"actualSubType", make_string(env, nd.actual_sub_type)},
                       {"expectedName", make_string(env, nd.expected_name)},
                       {"actualName", make_string(env, nd.actual_name)});
}

/* vmStart(vm, input, nowMs) -> perdure_vm_start() */
static napi_value js_vm_start(napi_env env, napi_callback_info info)
{
    ARGS(3);
    vm_box *box = get_vm(env, argv[0]);
    bytes_arg in;
    long long now;
    if (!box || !get_bytes(env, argv[1], "input", &in))
        return NULL;
    if (!get_int64(env, argv[2], "nowMs", 0, &now)) {
        free(in.owned);
        return NULL;
    }
    perdure_status st = perdure_vm_start(box->vm, in.data, in.len, now);
    free(in.owned);
    return vm_done(env, box, st);
}

/* vmStateMarker(vm) -> perdure_vm_state_marker() */
VM_GETTER(js_vm_state_marker, perdure_vm_state_marker, make_string)

/* vmExecutionArn(vm) -> perdure_vm_execution_arn() */
VM_GETTER(js_vm_execution_arn, perdure_vm_execution_arn, make_string)

/* vmInput(vm) -> perdure_vm_input() */
static napi_value js_vm_input(napi_env env, napi_callback_info info)
{
    ARGS(1);
    vm_box *box = get_vm(env, argv[0]);
    if (!box)
        return NULL;
    const unsigned char *data = NULL;
    unsigned long long len = 0;
    perdure_status st = perdure_vm_input(box->vm, &data, &len);
    return st ? vm_error(env, box, st) : make_buffer(env, data, len);
}

/* vmIsReplaying(vm) -> perdure_vm_is_replaying() */
VM_GETTER(js_vm_is_replaying, perdure_vm_is_replaying, make_bool)

/* vmSetNow(vm, nowMs) -> perdure_vm_set_now() */
static napi_value js_vm_set_now(napi_env env, napi_callback_info info)
{
    ARGS(2);
    vm_box *box = get_vm(env, argv[0]);
    long long now;
    if (!box || !get_int64(env, argv[1], "nowMs", 0, &now))
        return NULL;
    perdure_status st = perdure_vm_set_now(box->vm, now);
    return vm_done(env, box, st);
}

/* {semantics, retry, callerDecidesRetry} -> perdure_step_config (its retry config in the pool) */
static bool get_step_config(napi_env env, napi_value v, strpool *p, perdure_step_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->size = sizeof *cfg;
    if (is_nullish(env, v))
        return true;
    long long n;
    if (!prop_int64(env, v, "semantics", 0, &n))
        return false;
    cfg->semantics = (perdure_step_semantics)n;
    bool b = false;
    napi_get_value_bool(env, prop(env, v, "callerDecidesRetry"), &b);
    cfg->caller_decides_retry = b;
    napi_value retry = prop(env, v, "retry");
    if (!is_nullish(env, retry)) {
        perdure_retry_config *r = pool_calloc(env, p, 1, sizeof *r);
        if (!r || !get_retry_config(env, retry, p, r))
            return false;
        cfg->retry = r;
    }
    return true;
}

static bool get_callback_config(napi_env env, napi_value v, perdure_callback_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->size = sizeof *cfg;
    return prop_int64(env, v, "timeoutSeconds", 0, &cfg->timeout_seconds) &&
           prop_int64(env, v, "heartbeatTimeoutSeconds", 0, &cfg->heartbeat_timeout_seconds);
}

/* A step config converted once (stepConfig), so that a step does not read a
 * dozen properties back from JS each time it is declared. */
typedef struct step_config_box {
    perdure_step_config cfg;
    strpool pool;   /* its retry config and strings */
} step_config_box;

static const napi_type_tag STEP_CONFIG_TAG = {0x7065726475726573ULL, 0x7465702d63666700ULL};

static void step_config_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    step_config_box *box = data;
    pool_free(&box->pool);
    free(box);
}

/* stepConfig({semantics, retry, callerDecidesRetry}) -> a handle holding the
 * perdure_step_config, which vmStep accepts in place of the object */
static napi_value js_step_config(napi_env env, napi_callback_info info)
{
    ARGS(1);
    step_config_box *box = calloc(1, sizeof *box);
    if (!box) {
        throw_status(env, PERDURE_E_NOMEM, "out of memory");
        return NULL;
    }
    if (!get_step_config(env, argv[0], &box->pool, &box->cfg)) {
        step_config_finalize(env, box, NULL);
        return NULL;
    }
    napi_value obj = wrap_new(env, box, step_config_finalize, &STEP_CONFIG_TAG);
    if (!obj)
        throw_napi(env, "napi_wrap");
    return obj;
}

/* The config of a stepConfig handle; NULL for anything else. */
static const perdure_step_config *compiled_step_config(napi_env env, napi_value v)
{
    napi_valuetype t;
    bool tagged = false;
    void *data = NULL;
    if (napi_typeof(env, v, &t) != napi_ok || t != napi_object ||
        napi_check_object_type_tag(env, v, &STEP_CONFIG_TAG, &tagged) != napi_ok || !tagged ||
        napi_unwrap(env, v, &data) != napi_ok || !data)
        return NULL;
    return &((step_config_box *)data)->cfg;
}

/* vmStep(vm, ctx, name, config | stepConfig handle) -> perdure_vm_step() */
static napi_value js_vm_step(napi_env env, napi_callback_info info)
{
    ARGS(4);
    vm_box *box = get_vm(env, argv[0]);
    perdure_op ctx, op = 0;
    char *name = NULL;
    if (!box || !get_op(env, argv[1], &ctx) || !get_string(env, argv[2], true, "name", &name))
        return NULL;
    strpool pool = {0};
    perdure_step_config cfg;
    const perdure_step_config *compiled = compiled_step_config(env, argv[3]);
    napi_value result = NULL;
    if (compiled || get_step_config(env, argv[3], &pool, &cfg)) {
        perdure_status st = perdure_vm_step(box->vm, ctx, name, compiled ? compiled : &cfg, &op);
        result = vm_new_op(env, box, st, op);
    }
    pool_free(&pool);
    free(name);
    return result;
}

/* vmWait(vm, ctx, name, seconds) -> perdure_vm_wait() */
static napi_value js_vm_wait(napi_env env, napi_callback_info info)
{
    ARGS(4);
    vm_box *box = get_vm(env, argv[0]);
    perdure_op ctx, op = 0;
    char *name = NULL;
    long long seconds;
    if (!box || !get_op(env, argv[1], &ctx) || !get_int64(env, argv[3], "seconds", 0, &seconds) ||
        !get_string(env, argv[2], true, "name", &name))
        return NULL;
    perdure_status st = perdure_vm_wait(box->vm, ctx, name, seconds, &op);
    free(name);
    return vm_new_op(env, box, st, op);
}

/* vmCallback(vm, ctx, name, {timeoutSeconds, heartbeatTimeoutSeconds}) -> perdure_vm_callback() */
static napi_value js_vm_callback(napi_env env, napi_callback_info info)
{
    ARGS(4);
    vm_box *box = get_vm(env, argv[0]);
    perdure_op ctx, op = 0;
    char *name = NULL;
    perdure_callback_config cfg;
    if (!box || !get_op(env, argv[1], &ctx) || !get_callback_config(env, argv[3], &cfg) ||
        !get_string(env, argv[2], true, "name", &name))
        return NULL;
    perdure_status st = perdure_vm_callback(box->vm, ctx, name, &cfg, &op);
    free(name);
    return vm_new_op(env, box, st, op);
}

/* vmChild(vm, ctx, name, subType, isVirtual) -> perdure_vm_child() */
static napi_value js_vm_child(napi_env env, napi_callback_info info)
{
    ARGS(5);
    vm_box *box = get_vm(env, argv[0]);
    perdure_op ctx, op = 0;
    char *name = NULL, *sub_type = NULL;
    bool is_virtual = false;
    if (!box || !get_op(env, argv[1], &ctx))
        return NULL;
    if (!get_string(env, argv[2], true, "name", &name))
        return NULL;
    if (!get_string(env, argv[3], true, "subType", &sub_type)) {
        free(name);
        return NULL;
    }
    napi_get_value_bool(env, argv[4], &is_virtual);
    perdure_status st = perdure_vm_child(box->vm, ctx, name, sub_type, is_virtual, &op);
    free(name);
    free(sub_type);
    return vm_new_op(env, box, st, op);
}

/* {maxConcurrency, nesting, completion: {minSuccessful, toleratedFailureCount,
 * toleratedFailurePercentage}, itemNames} -> perdure_batch_config; the
 * completion config and the item names in the pool. */
static bool get_batch_config(napi_env env, napi_value v, unsigned count, strpool *p, perdure_batch_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->size = sizeof *cfg;
    long long concurrency, nesting;
    if (!prop_int64(env, v, "maxConcurrency", -1, &concurrency) || !prop_int64(env, v, "nesting", 0, &nesting))
        return false;
    cfg->max_concurrency = (int)concurrency;
    cfg->nesting = (perdure_nesting)nesting;
    napi_value cc = prop(env, v, "completion");
    if (!is_nullish(env, cc)) {
        perdure_completion_config *completion = pool_calloc(env, p, 1, sizeof *completion);
        long long min_successful, tolerated;
        if (!completion)
            return false;
        completion->size = sizeof *completion;
        perdure_completion_config_init(completion);
        if (!prop_int64(env, cc, "minSuccessful", -1, &min_successful) ||
            !prop_int64(env, cc, "toleratedFailureCount", -1, &tolerated) ||
            !prop_double(env, cc, "toleratedFailurePercentage", -1, &completion->tolerated_failure_percentage))
            return false;
        completion->min_successful = (int)min_successful;
        completion->tolerated_failure_count = (int)tolerated;
        cfg->completion = completion;
    }
    uint32_t nnames;
    if (!pool_strings(env, p, prop(env, v, "itemNames"), "itemNames[i]", &cfg->item_names, &nnames))
        return false;
    if (cfg->item_names && nnames != count) {
        throw_status(env, PERDURE_E_INVALID, "itemNames must have one name per item");
        return false;
    }
    return true;
}

/* vmBatch(vm, ctx, name, kind, count, {maxConcurrency, completion, nesting, itemNames}) -> perdure_vm_batch() */
static napi_value js_vm_batch(napi_env env, napi_callback_info info)
{
    ARGS(6);
    vm_box *box = get_vm(env, argv[0]);
    perdure_op ctx, op = 0;
    long long kind, count;
    if (!box || !get_op(env, argv[1], &ctx) || !get_int64(env, argv[3], "kind", 0, &kind) ||
        !get_int64(env, argv[4], "count", 0, &count))
        return NULL;
    if (count < 0 || count > 0xffffffffLL) {
        throw_status(env, PERDURE_E_INVALID, "item count out of range");
        return NULL;
    }
    strpool pool = {0};
    perdure_batch_config cfg;
    const char *name;
    napi_value result = NULL;
    if (get_batch_config(env, argv[5], (unsigned)count, &pool, &cfg) &&
        pool_string(env, &pool, argv[2], true, "name", &name)) {
        perdure_status st = perdure_vm_batch(box->vm, ctx, name, (perdure_batch_kind)kind, (unsigned)count, &cfg, &op);
        result = vm_new_op(env, box, st, op);
    }
    pool_free(&pool);
    return result;
}

/* vmWaitForCondition(vm, ctx, name, {wait, initialState}) -> perdure_vm_wait_for_condition() */
static napi_value js_vm_wait_for_condition(napi_env env, napi_callback_info info)
{
    ARGS(4);
    vm_box *box = get_vm(env, argv[0]);
    perdure_op ctx, op = 0;
    if (!box || !get_op(env, argv[1], &ctx))
        return NULL;
    perdure_condition_config cfg = {.size = sizeof cfg};
    perdure_wait_config wait;
    napi_value w = prop(env, argv[3], "wait");
    if (!is_nullish(env, w)) {
        if (!get_wait_config(env, w, &wait))
            return NULL;
        cfg.wait = &wait;
    }
    bytes_arg initial;
    if (!get_bytes(env, prop(env, argv[3], "initialState"), "initialState", &initial))
        return NULL;
    cfg.initial_state = initial.data;
    cfg.initial_state_len = initial.len;
    char *name = NULL;
    if (!get_string(env, argv[2], true, "name", &name)) {
        free(initial.owned);
        return NULL;
    }
    perdure_status st = perdure_vm_wait_for_condition(box->vm, ctx, name, &cfg, &op);
    free(name);
    free(initial.owned);
    return vm_new_op(env, box, st, op);
}

/* vmWaitForCallback(vm, ctx, name, callbackConfig, submitterStepConfig) -> perdure_vm_wait_for_callback() */
static napi_value js_vm_wait_for_callback(napi_env env, napi_callback_info info)
{
    ARGS(5);
    vm_box *box = get_vm(env, argv[0]);
    perdure_op ctx, op = 0;
    perdure_callback_config cb;
    if (!box || !get_op(env, argv[1], &ctx) || !get_callback_config(env, argv[3], &cb))
        return NULL;
    strpool pool = {0};
    perdure_step_config scfg;
    napi_value result = NULL;
    char *name = NULL;
    if (get_step_config(env, argv[4], &pool, &scfg) && get_string(env, argv[2], true, "name", &name)) {
        perdure_status st = perdure_vm_wait_for_callback(box->vm, ctx, name, &cb, &scfg, &op);
        result = vm_new_op(env, box, st, op);
    }
    free(name);
    pool_free(&pool);
    return result;
}

/* vmInvoke(vm, ctx, name, functionName, tenantId, payload) -> perdure_vm_invoke() */
static napi_value js_vm_invoke(napi_env env, napi_callback_info info)
{
    ARGS(6);
    vm_box *box = get_vm(env, argv[0]);
    perdure_op ctx, op = 0;
    if (!box || !get_op(env, argv[1], &ctx))
        return NULL;
    char *name = NULL, *fn = NULL, *tenant = NULL;
    bytes_arg payload = {0};
    napi_value result = NULL;
    if (get_string(env, argv[2], true, "name", &name) && get_string(env, argv[3], false, "functionName", &fn) &&
        get_string(env, argv[4], true, "tenantId", &tenant) && get_bytes(env, argv[5], "payload", &payload)) {
        perdure_status st = perdure_vm_invoke(box->vm, ctx, name, fn, tenant, payload.data, payload.len, &op);
        result = vm_new_op(env, box, st, op);
    }
    free(name);
    free(fn);
    free(tenant);
    free(payload.owned);
    return result;
}

#define VM_OP_ARGS(n)                                                                     \
    ARGS(n);                                                                              \
    vm_box *box = get_vm(env, argv[0]);                                                   \
    perdure_op op;                                                                        \
    if (!box || !get_op(env, argv[1], &op))                                               \
        return NULL;

/* vmOpNext(vm, op) -> perdure_vm_op_next() */
static napi_value js_vm_op_next(napi_env env, napi_callback_info info)
{
    VM_OP_ARGS(2);
    perdure_next next;
    perdure_status st = perdure_vm_op_next(box->vm, op, &next);
    return st ? vm_error(env, box, st) : make_int(env, next);
}

/* vmOpNextResult(vm, op) -> perdure_vm_op_next(), and when it says RESULT,
 * perdure_vm_op_result() in the same call: a replayed operation costs one
 * crossing. Returns the perdure_next as a number, except for RESULT: the
 * result as a string ('' when there is none). */
static napi_value js_vm_op_next_result(napi_env env, napi_callback_info info)
{
    VM_OP_ARGS(2);
    perdure_next next;
    perdure_status st = perdure_vm_op_next(box->vm, op, &next);
    if (st)
        return vm_error(env, box, st);
    if (next != PERDURE_NEXT_RESULT)
        return make_int(env, next);
    const unsigned char *data = NULL;
    unsigned long long len = 0;
    if ((st = perdure_vm_op_result(box->vm, op, &data, &len)))
        return vm_error(env, box, st);
    napi_value v;
    if (len > (unsigned long long)SIZE_MAX ||
        napi_create_string_utf8(env, data ? (const char *)data : "", data ? (size_t)len : 0, &v) != napi_ok) {
        throw_napi(env, "napi_create_string_utf8");
        return NULL;
    }
    return v;
}

/* (vm, op, bytes) -> fn(vm, op, bytes), `what` naming the bytes in errors */
static napi_value vm_op_bytes(napi_env env, napi_callback_info info, const char *what,
                              perdure_status (*fn)(perdure_vm *, perdure_op, const void *, unsigned long long))
{
    VM_OP_ARGS(3);
    bytes_arg bytes;
    if (!get_bytes(env, argv[2], what, &bytes))
        return NULL;
    perdure_status st = fn(box->vm, op, bytes.data, bytes.len);
    free(bytes.owned);
    return vm_done(env, box, st);
}

/* vmOpSucceed(vm, op, payload|null) -> perdure_vm_op_succeed() */
static napi_value js_vm_op_succeed(napi_env env, napi_callback_info info)
{
    return vm_op_bytes(env, info, "payload", perdure_vm_op_succeed);
}

/* vmOpFail(vm, op, error) -> perdure_vm_op_fail() */
static napi_value js_vm_op_fail(napi_env env, napi_callback_info info)
{
    VM_OP_ARGS(3);
    strpool pool = {0};
    perdure_error_info err;
    napi_value result = NULL;
    if (get_error_info(env, argv[2], &pool, &err)) {
        perdure_status st = perdure_vm_op_fail(box->vm, op, &err);
        result = vm_done(env, box, st);
    }
    pool_free(&pool);
    return result;
}

/* vmOpFailDecided(vm, op, error, shouldRetry, delaySeconds) -> perdure_vm_op_fail_decided() */
static napi_value js_vm_op_fail_decided(napi_env env, napi_callback_info info)
{
    VM_OP_ARGS(5);
    strpool pool = {0};
    perdure_error_info err;
    bool retry = false;
    long long delay;
    napi_value result = NULL;
    napi_get_value_bool(env, argv[3], &retry);
    if (get_int64(env, argv[4], "delaySeconds", 0, &delay) && get_error_info(env, argv[2], &pool, &err)) {
        perdure_status st = perdure_vm_op_fail_decided(box->vm, op, &err, retry, delay);
        result = vm_done(env, box, st);
    }
    pool_free(&pool);
    return result;
}

/* vmOpSuspended(vm, op) -> perdure_vm_op_suspended() */
static napi_value js_vm_op_suspended(napi_env env, napi_callback_info info)
{
    VM_OP_ARGS(2);
    perdure_status st = perdure_vm_op_suspended(box->vm, op);
    return vm_done(env, box, st);
}

/* vmOpSetSummary(vm, op, summary) -> perdure_vm_op_set_summary() */
static napi_value js_vm_op_set_summary(napi_env env, napi_callback_info info)
{
    return vm_op_bytes(env, info, "summary", perdure_vm_op_set_summary);
}

/* vmOpConditionChecked(vm, op, state, shouldContinue) -> perdure_vm_op_condition_checked() */
static napi_value js_vm_op_condition_checked(napi_env env, napi_callback_info info)
{
    VM_OP_ARGS(4);
    bytes_arg state;
    bool cont = false;
    napi_get_value_bool(env, argv[3], &cont);
    if (!get_bytes(env, argv[2], "state", &state))
        return NULL;
    perdure_status st = perdure_vm_op_condition_checked(box->vm, op, state.data, state.len, cont);
    free(state.owned);
    return vm_done(env, box, st);
}

/* vmOpConditionDecided(vm, op, state, shouldContinue, delaySeconds) -> perdure_vm_op_condition_decided() */
static napi_value js_vm_op_condition_decided(napi_env env, napi_callback_info info)
{
    VM_OP_ARGS(5);
    bytes_arg state;
    bool cont = false;
    long long delay;
    napi_get_value_bool(env, argv[3], &cont);
    if (!get_int64(env, argv[4], "delaySeconds", 0, &delay) || !get_bytes(env, argv[2], "state", &state))
        return NULL;
    perdure_status st = perdure_vm_op_condition_decided(box->vm, op, state.data, state.len, cont, delay);
    free(state.owned);
    return vm_done(env, box, st);
}

/* vmOpId(vm, op) -> perdure_vm_op_id() */
static napi_value js_vm_op_id(napi_env env, napi_callback_info info)
{
    VM_OP_ARGS(2);
    const char *id = perdure_vm_op_id(box->vm, op);
    if (!id) {
        throw_misuse(env, "perdure_vm_op_id: bad operation handle");
        return NULL;
    }
    return make_string(env, id);
}

/* vmOpStatus(vm, op) -> perdure_vm_op_status() */
static napi_value js_vm_op_status(napi_env env, napi_callback_info info)
{
    VM_OP_ARGS(2);
    perdure_op_status s;
    perdure_status st = perdure_vm_op_status(box->vm, op, &s);
    return st ? vm_error(env, box, st) : make_int(env, s);
}

/* vmOpAttempt(vm, op) -> perdure_vm_op_attempt() */
static napi_value js_vm_op_attempt(napi_env env, napi_callback_info info)
{
    VM_OP_ARGS(2);
    unsigned int attempt;
    perdure_status st = perdure_vm_op_attempt(box->vm, op, &attempt);
    return st ? vm_error(env, box, st) : make_int(env, attempt);
}

/* vmOpResult(vm, op) -> perdure_vm_op_result(): a Buffer, or null when there is none */
static napi_value js_vm_op_result(napi_env env, napi_callback_info info)
{
    VM_OP_ARGS(2);
    const unsigned char *data = NULL;
    unsigned long long len = 0;
    perdure_status st = perdure_vm_op_result(box->vm, op, &data, &len);
    if (st)
        return vm_error(env, box, st);
    return data ? make_buffer(env, data, len) : null_value(env);
}

/* vmOpError(vm, op) -> perdure_vm_op_error() */
static napi_value js_vm_op_error(napi_env env, napi_callback_info info)
{
    VM_OP_ARGS(2);
    perdure_error_view view;
    perdure_status st = perdure_vm_op_error(box->vm, op, &view);
    return st ? vm_error(env, box, st) : error_view_object(env, &view);
}

/* vmOpCallbackId(vm, op) -> perdure_vm_op_callback_id() */
static napi_value js_vm_op_callback_id(napi_env env, napi_callback_info info)
{
    VM_OP_ARGS(2);
    const char *id = NULL;
    perdure_status st = perdure_vm_op_callback_id(box->vm, op, &id);
    return st ? vm_error(env, box, st) : make_string(env, id);
}

/* vmOpRetryDelay(vm, op) -> perdure_vm_op_retry_delay() */
static napi_value js_vm_op_retry_delay(napi_env env, napi_callback_info info)
{
    VM_OP_ARGS(2);
    long long seconds;
    perdure_status st = perdure_vm_op_retry_delay(box->vm, op, &seconds);
    return st ? vm_error(env, box, st) : make_int(env, seconds);
}

/* vmBatchPoll(vm, batch) -> perdure_vm_batch_poll(): {action, index, item} */
static napi_value js_vm_batch_poll(napi_env env, napi_callback_info info)
{
    VM_OP_ARGS(2);
    perdure_batch_poll poll;
    perdure_status st = perdure_vm_batch_poll(box->vm, op, &poll);
    if (st)
        return vm_error(env, box, st);
    return MAKE_OBJECT(env, {"action", make_int(env, poll.action)}, {"index", make_int(env, poll.index)},
                       {"item", op_value(env, poll.item)});
}

/* vmBatchOutcome(vm, batch) -> perdure_vm_batch_outcome() */
static napi_value js_vm_batch_outcome(napi_env env, napi_callback_info info)
{
    VM_OP_ARGS(2);
    perdure_batch_outcome o;
    perdure_status st = perdure_vm_batch_outcome(box->vm, op, &o);
    if (st)
        return vm_error(env, box, st);
    return MAKE_OBJECT(env, {"reason", make_int(env, o.reason)}, {"total", make_int(env, o.total)},
                       {"succeeded", make_int(env, o.succeeded)}, {"failed", make_int(env, o.failed)},
                       {"started", make_int(env, o.started)});
}

/* vmBatchItem(vm, batch, index) -> perdure_vm_batch_item(): {status, item} */
static napi_value js_vm_batch_item(napi_env env, napi_callback_info info)
{
    VM_OP_ARGS(3);
    long long index;
    if (!get_int64(env, argv[2], "index", 0, &index))
        return NULL;
    perdure_op_status s;
    perdure_op item = 0;
    perdure_status st = perdure_vm_batch_item(box->vm, op, (unsigned)index, &s, &item);
    if (st)
        return vm_error(env, box, st);
    return MAKE_OBJECT(env, {"status", make_int(env, s)}, {"item", op_value(env, item)});
}

/* vmWantsFlush(vm) -> perdure_vm_wants_flush() */
VM_GETTER(js_vm_wants_flush, perdure_vm_wants_flush, make_bool)

/* vmTakeBatch(vm) -> perdure_vm_take_batch(): a Buffer, or null when nothing is queued */
static napi_value js_vm_take_batch(napi_env env, napi_callback_info info)
{
    ARGS(1);
    vm_box *box = get_vm(env, argv[0]);
    if (!box)
        return NULL;
    perdure_buf buf = {0};
    perdure_status st = perdure_vm_take_batch(box->vm, &buf);
    if (st)
        return vm_error(env, box, st);
    if (!buf.data)
        return null_value(env);
    return take_buf(env, &buf);
}

/* vmApplyResponse(vm, response) -> perdure_vm_apply_response() */
static napi_value js_vm_apply_response(napi_env env, napi_callback_info info)
{
    ARGS(2);
    vm_box *box = get_vm(env, argv[0]);
    bytes_arg resp;
    if (!box || !get_bytes(env, argv[1], "response", &resp))
        return NULL;
    perdure_status st = perdure_vm_apply_response(box->vm, resp.data, resp.len);
    free(resp.owned);
    return vm_done(env, box, st);
}

/* vmFinish(vm, outcome, payload, error) -> perdure_vm_finish(): the next action */
static napi_value js_vm_finish(napi_env env, napi_callback_info info)
{
    ARGS(4);
    vm_box *box = get_vm(env, argv[0]);
    long long outcome;
    bytes_arg payload;
    if (!box || !get_int64(env, argv[1], "outcome", 0, &outcome) || !get_bytes(env, argv[2], "payload", &payload))
        return NULL;
    strpool pool = {0};
    perdure_error_info err;
    napi_value result = NULL;
    bool has_error = !is_nullish(env, argv[3]);
    if (get_error_info(env, argv[3], &pool, &err)) {
        perdure_next next;
        perdure_status st = perdure_vm_finish(box->vm, (perdure_outcome)outcome, payload.data, payload.len,
                                              has_error ? &err : NULL, &next);
        result = st ? vm_error(env, box, st) : make_int(env, next);
    }
    pool_free(&pool);
    free(payload.owned);
    return result;
}

/* vmOutput(vm) -> perdure_vm_output() */
static napi_value js_vm_output(napi_env env, napi_callback_info info)
{
    ARGS(1);
    vm_box *box = get_vm(env, argv[0]);
    if (!box)
        return NULL;
    perdure_buf buf = {0};
    perdure_status st = perdure_vm_output(box->vm, &buf);
    return st ? vm_error(env, box, st) : take_buf(env, &buf);
}

/* ---- the store and its leases ----------------------------------------------------------- */

typedef struct store_box {
    perdure_store *store;
    int js_alive;        /* the JS object exists (not finalized) */
    int busy;            /* an async work item is using the store */
    unsigned leases;     /* live leases: the store is closed only when this is 0 */
    int close_requested; /* storeClose / finalizer asked while leases were live */
    struct lease_box *orphans; /* collected while busy: abandoned by store_idle */
    /* storeOpen({virtualClock: true}): the store's clock is the wall clock plus
     * this offset (storeSetClockOffset). Atomic because the store reads its
     * clock on the libuv pool too (storeLeaseWait, leaseCheckpoint). */
    _Atomic long long clock_offset_ms;
} store_box;

typedef struct lease_box {
    perdure_lease *lease;
    store_box *store;
    struct lease_box *next; /* in store->orphans */
} lease_box;

static const char GC_REASON[] = "the lease handle was garbage-collected before it was completed";

static void store_release(store_box *box)
{
    if (box->close_requested && box->leases == 0 && box->store) {
        perdure_store_close(box->store);
        box->store = NULL;
    }
    if (!box->js_alive && box->leases == 0) {
        if (box->store)
            perdure_store_close(box->store);
        free(box);
    }
}

static void store_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    store_box *box = data;
    box->js_alive = 0;
    box->close_requested = 1;
    store_release(box);
}

static store_box *get_store(napi_env env, napi_value v, bool allow_busy)
{
    store_box *box = unwrap_tagged(env, v, &STORE_TAG, "perdure_store");
    if (!box)
        return NULL;
    if (!box->store || box->close_requested) {
        throw_misuse(env, "this perdure_store is closed (storeClose)");
        return NULL;
    }
    if (box->busy && !allow_busy) {
        throw_misuse(env, "this perdure_store is in use by a call running off the event loop "
                          "(storeLeaseWait / leaseCheckpoint): await it first");
        return NULL;
    }
    return box;
}

static void lease_end(lease_box *lb)
{
    lb->lease = NULL;
    if (lb->store) {
        store_box *sb = lb->store;
        lb->store = NULL;
        sb->leases--;
        store_release(sb);
    }
}

static void lease_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    lease_box *lb = data;
    if (lb->lease && lb->store->busy) {
        /* Another call uses the store on the libuv pool: abandoning now would
         * race it, and skipping would leak the lease and hold its execution
         * until lease_ms. The work's completion abandons it (store_idle). */
        lb->next = lb->store->orphans;
        lb->store->orphans = lb;
        return;
    }
    if (lb->lease)
        perdure_lease_abandon(lb->lease, GC_REASON);
    lease_end(lb);
    free(lb);
}

/* The async work on the store has completed: the store is free again, and the
 * leases collected meanwhile are abandoned. The work's own reference (to the
 * store or to one of its leases) keeps sb allocated. */
static void store_idle(store_box *sb)
{
    lease_box *lb = sb->orphans;
    sb->busy = 0;
    sb->orphans = NULL;
    while (lb) {
        lease_box *next = lb->next;
        perdure_lease_abandon(lb->lease, GC_REASON);
        lease_end(lb);
        free(lb);
        lb = next;
    }
}

static lease_box *get_lease(napi_env env, napi_value v)
{
    lease_box *lb = unwrap_tagged(env, v, &LEASE_TAG, "perdure_lease");
    if (!lb)
        return NULL;
    if (!lb->lease) {
        throw_misuse(env, "this lease has ended (leaseComplete / leaseAbandon)");
        return NULL;
    }
    if (lb->store->busy) {
        throw_misuse(env, "this lease's store is in use by a call running off the event loop: await it first");
        return NULL;
    }
    return lb;
}

#define STORE_GETTER(name, fn, make) GETTER(name, store_box, get_store(env, argv[0], false), store, fn, make)
#define LEASE_GETTER(name, fn, make) GETTER(name, lease_box, get_lease(env, argv[0]), lease, fn, make)

static napi_value store_error(napi_env env, store_box *box, perdure_status st)
{
    throw_status(env, st, perdure_store_errmsg(box->store));
    return NULL;
}

/* The clock of a store opened with {virtualClock: true}: test runners skip it
 * forward instead of sleeping until the next timer. */
static long long virtual_clock(void *user)
{
    const store_box *box = user;
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + atomic_load(&box->clock_offset_ms);
}

/* storeOpen(path, {leaseMs, synchronousNormal, busyTimeoutMs, virtualClock}) -> perdure_store_open() */
static napi_value js_store_open(napi_env env, napi_callback_info info)
{
    ARGS(2);
    char *path;
    if (!get_string(env, argv[0], false, "path", &path))
        return NULL;
    perdure_store_options opts = {.size = sizeof opts};
    bool b = false;
    if (!prop_int64(env, argv[1], "leaseMs", 0, &opts.lease_ms) ||
        !prop_int64(env, argv[1], "busyTimeoutMs", 0, &opts.busy_timeout_ms)) {
        free(path);
        return NULL;
    }
    napi_get_value_bool(env, prop(env, argv[1], "synchronousNormal"), &b);
    opts.synchronous_normal = b;
    /* Allocated first: a virtual clock reads its offset from the box. */
    store_box *box = calloc(1, sizeof *box);
    if (!box) {
        free(path);
        throw_status(env, PERDURE_E_NOMEM, "out of memory");
        return NULL;
    }
    b = false;
    napi_get_value_bool(env, prop(env, argv[1], "virtualClock"), &b);
    if (b) {
        opts.clock = virtual_clock;
        opts.clock_user = box;
    }
    perdure_store *store = NULL;
    perdure_status st = perdure_store_open(path, &opts, &store);
    if (st) {
        char msg[700];
        snprintf(msg, sizeof msg, "cannot open store %s: %s", path, store ? perdure_store_errmsg(store) : "");
        perdure_store_close(store);
        free(path);
        free(box);
        throw_status(env, st, msg);
        return NULL;
    }
    free(path);
    box->store = store;
    box->js_alive = 1;
    napi_value obj = wrap_new(env, box, store_finalize, &STORE_TAG);
    if (!obj)
        throw_napi(env, "napi_wrap");
    return obj;
}

/* storeClose(store) -> perdure_store_close() (deferred until its last lease ends) */
static napi_value js_store_close(napi_env env, napi_callback_info info)
{
    ARGS(1);
    store_box *box = unwrap_tagged(env, argv[0], &STORE_TAG, "perdure_store");
    if (!box)
        return NULL;
    if (box->busy) {
        throw_misuse(env, "storeClose: the store is in use by a call running off the event loop: await it first");
        return NULL;
    }
    box->close_requested = 1;
    store_release(box);
    return undefined(env);
}

/* storeErrmsg(store) -> perdure_store_errmsg() */
STORE_GETTER(js_store_errmsg, perdure_store_errmsg, make_string)

/* storeNow(store) -> perdure_store_now() */
STORE_GETTER(js_store_now, perdure_store_now, make_int)

/* storeSetClockOffset(store, offsetMs): the offset of a virtual clock
 * (perdure_store_options.clock). Allowed while the store is busy: that is
 * when a lease wait sleeps until the clock reaches a timer. */
static napi_value js_store_set_clock_offset(napi_env env, napi_callback_info info)
{
    ARGS(2);
    store_box *box = get_store(env, argv[0], true);
    long long offset;
    if (!box || !get_int64(env, argv[1], "offsetMs", 0, &offset))
        return NULL;
    atomic_store(&box->clock_offset_ms, offset);
    return undefined(env);
}

/* [{name, version}] -> perdure_function_ref[*n], the array and its strings in the pool. */
static bool get_function_refs(napi_env env, napi_value arr, strpool *p, perdure_function_ref **refs, unsigned *n)
{
    bool is_array = false;
    napi_is_array(env, arr, &is_array);
    if (!is_array) {
        napi_throw_type_error(env, NULL, "functions must be an array of {name, version}");
        return false;
    }
    uint32_t len = 0;
    napi_get_array_length(env, arr, &len);
    perdure_function_ref *r = pool_calloc(env, p, len, sizeof *r);
    if (!r)
        return false;
    for (uint32_t i = 0; i < len; i++) {
        napi_value f;
        napi_get_element(env, arr, i, &f);
        if (!pool_string(env, p, prop(env, f, "name"), false, "functions[i].name", &r[i].name) ||
            !pool_string(env, p, prop(env, f, "version"), true, "functions[i].version", &r[i].version))
            return false;
    }
    *refs = r;
    *n = len;
    return true;
}

/* storeNextWakeup(store, [{name, version}]) -> perdure_store_next_wakeup(): epoch ms, -1 for none */
static napi_value js_store_next_wakeup(napi_env env, napi_callback_info info)
{
    ARGS(2);
    store_box *box = get_store(env, argv[0], false);
    if (!box)
        return NULL;
    strpool pool = {0};
    perdure_function_ref *refs;
    unsigned n;
    long long due = -1;
    napi_value result = NULL;
    if (get_function_refs(env, argv[1], &pool, &refs, &n)) {
        perdure_status st = perdure_store_next_wakeup(box->store, refs, n, &due);
        result = st ? store_error(env, box, st) : make_int(env, due);
    }
    pool_free(&pool);
    return result;
}

/* storeStart(store, {functionName, version, name, input, executionTimeoutSeconds}) -> perdure_store_start() */
static napi_value js_store_start(napi_env env, napi_callback_info info)
{
    ARGS(2);
    store_box *box = get_store(env, argv[0], false);
    if (!box)
        return NULL;
    strpool pool = {0};
    perdure_start_options opts = {.size = sizeof opts};
    bytes_arg input = {0};
    long long timeout;
    napi_value result = NULL;
    if (pool_prop(env, &pool, argv[1], "functionName", &opts.function_name) &&
        pool_prop(env, &pool, argv[1], "version", &opts.version) && pool_prop(env, &pool, argv[1], "name", &opts.name) &&
        get_bytes(env, prop(env, argv[1], "input"), "input", &input) &&
        get_int64(env, prop(env, argv[1], "executionTimeoutSeconds"), "executionTimeoutSeconds", 0, &timeout)) {
        if (!opts.function_name) {
            napi_throw_type_error(env, NULL, "functionName is required");
        } else {
            opts.input = input.data;
            opts.input_len = input.len;
            opts.execution_timeout_seconds = timeout;
            perdure_buf arn = {0};
            int existed = 0;
            perdure_status st = perdure_store_start(box->store, &opts, &arn, &existed);
            if (st)
                store_error(env, box, st);
            else
                result = MAKE_OBJECT(env, {"arn", take_text(env, &arn)}, {"existed", make_bool(env, existed)});
        }
    }
    free(input.owned);
    pool_free(&pool);
    return result;
}

static napi_value json_buf(napi_env env, store_box *box, perdure_status st, perdure_buf *buf)
{
    if (st) {
        perdure_buf_free(buf);
        return store_error(env, box, st);
    }
    return take_text(env, buf);
}

static napi_value store_done(napi_env env, store_box *box, perdure_status st)
{
    return st ? store_error(env, box, st) : undefined(env);
}

/* Starts a (store, id, ...) wrapper: the live store `box`, and argv[1] (`what`
 * in errors) as `id`, kept in `pool`, which the wrapper frees. */
#define STORE_ID_ARGS(n, what)                                                            \
    ARGS(n);                                                                              \
    store_box *box = get_store(env, argv[0], false);                                      \
    strpool pool = {0};                                                                   \
    const char *id;                                                                       \
    if (!box || !pool_string(env, &pool, argv[1], false, what, &id))                      \
        return NULL;

/* storeDescribe(store, arn) -> perdure_store_describe(): JSON text */
static napi_value js_store_describe(napi_env env, napi_callback_info info)
{
    STORE_ID_ARGS(2, "arn");
    perdure_buf buf = {0};
    perdure_status st = perdure_store_describe(box->store, id, &buf);
    pool_free(&pool);
    return json_buf(env, box, st, &buf);
}

/* storeList(store, functionName|null, status|null) -> perdure_store_list(): JSON text */
static napi_value js_store_list(napi_env env, napi_callback_info info)
{
    ARGS(3);
    store_box *box = get_store(env, argv[0], false);
    strpool pool = {0};
    const char *fn, *status;
    napi_value result = NULL;
    if (box && pool_string(env, &pool, argv[1], true, "functionName", &fn) &&
        pool_string(env, &pool, argv[2], true, "status", &status)) {
        perdure_buf buf = {0};
        perdure_status st = perdure_store_list(box->store, fn, status, &buf);
        result = json_buf(env, box, st, &buf);
    }
    pool_free(&pool);
    return result;
}

/* storeOperations(store, arn) -> perdure_store_operations(): JSON text */
static napi_value js_store_operations(napi_env env, napi_callback_info info)
{
    STORE_ID_ARGS(2, "arn");
    perdure_buf buf = {0};
    perdure_status st = perdure_store_operations(box->store, id, &buf);
    pool_free(&pool);
    return json_buf(env, box, st, &buf);
}

/* storeHistory(store, arn, includeData) -> perdure_store_history(): JSON text */
static napi_value js_store_history(napi_env env, napi_callback_info info)
{
    STORE_ID_ARGS(3, "arn");
    bool data = true;
    if (!is_nullish(env, argv[2]))
        napi_get_value_bool(env, argv[2], &data);
    perdure_buf buf = {0};
    perdure_status st = perdure_store_history(box->store, id, data, &buf);
    pool_free(&pool);
    return json_buf(env, box, st, &buf);
}

/* storeCallbackSucceed(store, callbackId, result) -> perdure_store_callback_succeed() */
static napi_value js_store_callback_succeed(napi_env env, napi_callback_info info)
{
    STORE_ID_ARGS(3, "callbackId");
    bytes_arg bytes;
    napi_value result = NULL;
    if (get_bytes(env, argv[2], "result", &bytes)) {
        result = store_done(env, box, perdure_store_callback_succeed(box->store, id, bytes.data, bytes.len));
        free(bytes.owned);
    }
    pool_free(&pool);
    return result;
}

/* storeCallbackFail(store, callbackId, error) -> perdure_store_callback_fail() */
static napi_value js_store_callback_fail(napi_env env, napi_callback_info info)
{
    STORE_ID_ARGS(3, "callbackId");
    perdure_error_info err;
    napi_value result = NULL;
    if (get_error_info(env, argv[2], &pool, &err))
        result = store_done(env, box, perdure_store_callback_fail(box->store, id, &err));
    pool_free(&pool);
    return result;
}

/* storeCallbackHeartbeat(store, callbackId) -> perdure_store_callback_heartbeat() */
static napi_value js_store_callback_heartbeat(napi_env env, napi_callback_info info)
{
    STORE_ID_ARGS(2, "callbackId");
    napi_value result = store_done(env, box, perdure_store_callback_heartbeat(box->store, id));
    pool_free(&pool);
    return result;
}

/* storeStop(store, arn, error|null) -> perdure_store_stop() */
static napi_value js_store_stop(napi_env env, napi_callback_info info)
{
    STORE_ID_ARGS(3, "arn");
    perdure_error_info err;
    napi_value result = NULL;
    bool has_error = !is_nullish(env, argv[2]);
    if (get_error_info(env, argv[2], &pool, &err))
        result = store_done(env, box, perdure_store_stop(box->store, id, has_error ? &err : NULL));
    pool_free(&pool);
    return result;
}

/* storeReleaseWorker(store, workerId) -> perdure_store_release_worker(): the number released */
static napi_value js_store_release_worker(napi_env env, napi_callback_info info)
{
    STORE_ID_ARGS(2, "workerId");
    unsigned released = 0;
    perdure_status st = perdure_store_release_worker(box->store, id, &released);
    pool_free(&pool);
    return st ? store_error(env, box, st) : make_int(env, released);
}

/* -- calls run off the event loop (napi_async_work) ------------------------------------ */

/* What every such call holds: its work, the promise its completion settles,
 * and a reference to the JS handle it uses, so that the handle is not
 * collected before the work completes. */
typedef struct async_call {
    napi_async_work work;
    napi_deferred deferred;
    napi_ref handle;
} async_call;

/* Queues execute/complete(data) on the libuv pool. Returns true with *promise
 * when queued; else false with *promise NULL after throwing, or (queueing
 * failed once the promise existed) a promise already rejected: a thrown error
 * would leave that promise rejected with no one to handle it. */
static bool async_start(napi_env env, async_call *c, napi_value handle, const char *name,
                        napi_async_execute_callback execute, napi_async_complete_callback complete, void *data,
                        napi_value *promise)
{
    napi_value resource_name;
    *promise = NULL;
    if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
        napi_create_reference(env, handle, 1, &c->handle) != napi_ok ||
        napi_create_async_work(env, NULL, resource_name, execute, complete, data, &c->work) != napi_ok ||
        napi_create_promise(env, &c->deferred, promise) != napi_ok) {
        throw_napi(env, name);
        *promise = NULL;
    } else if (napi_queue_async_work(env, c->work) == napi_ok) {
        return true;
    } else {
        reject_status(env, c->deferred, PERDURE_E_INTERNAL, "the call could not be queued on the libuv pool");
    }
    if (c->work)
        napi_delete_async_work(env, c->work);
    if (c->handle)
        napi_delete_reference(env, c->handle);
    return false;
}

/* After the completion settled the promise. */
static void async_end(napi_env env, async_call *c)
{
    napi_delete_reference(env, c->handle);
    napi_delete_async_work(env, c->work);
}

/* -- storeLeaseWait: perdure_store_lease_wait() ------------------------------------------- */

typedef struct lease_wait_work {
    async_call call;
    store_box *box;
    strpool pool; /* the function names and versions, the worker id */
    perdure_function_ref *refs;
    unsigned n;
    const char *worker_id;
    long long max_wait_ms;
    perdure_status st;
    perdure_lease *lease;
    char errmsg[512];
} lease_wait_work;

static void lease_wait_execute(napi_env env, void *data)
{
    (void)env;
    lease_wait_work *w = data;
    w->st = perdure_store_lease_wait(w->box->store, w->refs, w->n, w->worker_id, w->max_wait_ms, &w->lease);
    if (w->st)
        snprintf(w->errmsg, sizeof w->errmsg, "%s", perdure_store_errmsg(w->box->store));
}

/* The JS handle of a new lease; NULL (the lease abandoned) when out of memory. */
static napi_value wrap_lease(napi_env env, store_box *sb, perdure_lease *lease)
{
    lease_box *lb = calloc(1, sizeof *lb);
    if (!lb) {
        perdure_lease_abandon(lease, "out of memory");
        return NULL;
    }
    lb->lease = lease;
    lb->store = sb;
    sb->leases++;
    return wrap_new(env, lb, lease_finalize, &LEASE_TAG);
}

static void lease_wait_free(lease_wait_work *w)
{
    pool_free(&w->pool);
    free(w);
}

static void lease_wait_complete(napi_env env, napi_status status, void *data)
{
    lease_wait_work *w = data;
    napi_deferred d = w->call.deferred;
    store_idle(w->box);
    if (status != napi_ok) {
        if (w->lease)
            perdure_lease_abandon(w->lease, "the lease wait was cancelled");
        reject_status(env, d, PERDURE_E_INTERNAL, "storeLeaseWait: the async work was cancelled");
    } else if (w->st) {
        reject_status(env, d, w->st, w->errmsg);
    } else if (!w->lease) {
        napi_resolve_deferred(env, d, null_value(env));
    } else {
        napi_value obj = wrap_lease(env, w->box, w->lease);
        if (obj)
            napi_resolve_deferred(env, d, obj);
        else
            reject_status(env, d, PERDURE_E_NOMEM, "out of memory");
    }
    async_end(env, &w->call);
    lease_wait_free(w);
}

/* storeLeaseWait(store, [{name, version}], workerId, maxWaitMs) -> Promise<lease|null>,
 * perdure_store_lease_wait() run off the event loop. */
static napi_value js_store_lease_wait(napi_env env, napi_callback_info info)
{
    ARGS(4);
    store_box *box = get_store(env, argv[0], false);
    if (!box)
        return NULL;
    lease_wait_work *w = calloc(1, sizeof *w);
    if (!w) {
        throw_status(env, PERDURE_E_NOMEM, "out of memory");
        return NULL;
    }
    w->box = box;
    napi_value promise = NULL;
    if (get_function_refs(env, argv[1], &w->pool, &w->refs, &w->n) &&
        pool_string(env, &w->pool, argv[2], false, "workerId", &w->worker_id) &&
        get_int64(env, argv[3], "maxWaitMs", 0, &w->max_wait_ms) &&
        async_start(env, &w->call, argv[0], "perdure_store_lease_wait", lease_wait_execute, lease_wait_complete, w,
                    &promise)) {
        box->busy = 1;
        return promise;
    }
    lease_wait_free(w);
    return promise;
}

/* leaseInput(lease) -> perdure_lease_input(): a Buffer */
static napi_value js_lease_input(napi_env env, napi_callback_info info)
{
    ARGS(1);
    lease_box *lb = get_lease(env, argv[0]);
    if (!lb)
        return NULL;
    const unsigned char *data = NULL;
    unsigned long long len = 0;
    perdure_status st = perdure_lease_input(lb->lease, &data, &len);
    if (st) {
        throw_status(env, st, perdure_lease_errmsg(lb->lease));
        return NULL;
    }
    return make_buffer(env, data, len);
}

/* leaseFunction(lease) -> perdure_lease_function() */
LEASE_GETTER(js_lease_function, perdure_lease_function, make_string)

/* leaseArn(lease) -> perdure_lease_arn() */
LEASE_GETTER(js_lease_arn, perdure_lease_arn, make_string)

/* leaseErrmsg(lease) -> perdure_lease_errmsg() */
LEASE_GETTER(js_lease_errmsg, perdure_lease_errmsg, make_string)

/* The result of perdure_lease_complete / _abandon, which free the lease
 * whatever they return. The message is copied first: ending the last lease
 * may close the store. */
static napi_value lease_ended(napi_env env, lease_box *lb, perdure_status st)
{
    char msg[512] = "";
    if (st)
        snprintf(msg, sizeof msg, "%s", perdure_store_errmsg(lb->store->store));
    lease_end(lb);
    if (st) {
        throw_status(env, st, msg);
        return NULL;
    }
    return undefined(env);
}

/* leaseComplete(lease, output) -> perdure_lease_complete(); the lease ends either way */
static napi_value js_lease_complete(napi_env env, napi_callback_info info)
{
    ARGS(2);
    lease_box *lb = get_lease(env, argv[0]);
    bytes_arg out;
    if (!lb || !get_bytes(env, argv[1], "output", &out))
        return NULL;
    perdure_status st = perdure_lease_complete(lb->lease, out.data, out.len);
    free(out.owned);
    return lease_ended(env, lb, st);
}

/* leaseAbandon(lease, reason) -> perdure_lease_abandon(); the lease ends either way */
static napi_value js_lease_abandon(napi_env env, napi_callback_info info)
{
    ARGS(2);
    lease_box *lb = get_lease(env, argv[0]);
    char *reason = NULL;
    if (!lb || !get_string(env, argv[1], true, "reason", &reason))
        return NULL;
    perdure_status st = perdure_lease_abandon(lb->lease, reason);
    free(reason);
    return lease_ended(env, lb, st);
}

/* -- leaseCheckpoint: perdure_lease_checkpoint() ---------------------------------------- */

typedef struct checkpoint_work {
    async_call call;
    lease_box *lb;
    unsigned long long request_len;
    perdure_status st;
    perdure_buf response;
    char errmsg[512];
    unsigned char request[]; /* a copy: the JS Buffer may change while the work runs */
} checkpoint_work;

static void checkpoint_execute(napi_env env, void *data)
{
    (void)env;
    checkpoint_work *w = data;
    w->st = perdure_lease_checkpoint(w->lb->lease, w->request, w->request_len, &w->response);
    if (w->st)
        snprintf(w->errmsg, sizeof w->errmsg, "%s", perdure_lease_errmsg(w->lb->lease));
}

static void checkpoint_complete(napi_env env, napi_status status, void *data)
{
    checkpoint_work *w = data;
    napi_deferred d = w->call.deferred;
    if (w->lb->store)
        store_idle(w->lb->store);
    if (status != napi_ok) {
        perdure_buf_free(&w->response);
        reject_status(env, d, PERDURE_E_INTERNAL, "leaseCheckpoint: the async work was cancelled");
    } else if (w->st) {
        perdure_buf_free(&w->response);
        reject_status(env, d, w->st, w->errmsg[0] ? w->errmsg : "checkpoint failed");
    } else {
        napi_value buf = take_buf(env, &w->response);
        if (buf)
            napi_resolve_deferred(env, d, buf);
        else
            reject_status(env, d, PERDURE_E_NOMEM, "out of memory");
    }
    async_end(env, &w->call);
    free(w);
}

/* leaseCheckpoint(lease, request) -> Promise<Buffer>, perdure_lease_checkpoint()
 * run off the event loop (it commits one SQLite transaction and fsyncs). */
static napi_value js_lease_checkpoint(napi_env env, napi_callback_info info)
{
    ARGS(2);
    lease_box *lb = get_lease(env, argv[0]);
    bytes_arg req;
    if (!lb || !get_bytes(env, argv[1], "request", &req))
        return NULL;
    checkpoint_work *w = calloc(1, sizeof *w + (size_t)req.len);
    napi_value promise = NULL;
    if (!w) {
        throw_status(env, PERDURE_E_NOMEM, "out of memory");
    } else {
        w->lb = lb;
        w->request_len = req.len;
        if (req.len)
            memcpy(w->request, req.data, (size_t)req.len);
    }
    free(req.owned);
    if (w && async_start(env, &w->call, argv[0], "perdure_lease_checkpoint", checkpoint_execute,
                         checkpoint_complete, w, &promise)) {
        lb->store->busy = 1;
        return promise;
    }
    free(w);
    return promise;
}

/* leaseCheckpointSync(lease, request) -> Buffer, perdure_lease_checkpoint() on
 * the JS thread. For an in-memory store, which has no file to commit or sync:
 * a trip through the libuv pool costs more than the checkpoint itself. */
static napi_value js_lease_checkpoint_sync(napi_env env, napi_callback_info info)
{
    ARGS(2);
    lease_box *lb = get_lease(env, argv[0]);
    bytes_arg req;
    if (!lb || !get_bytes(env, argv[1], "request", &req))
        return NULL;
    perdure_buf response = {0};
    perdure_status st = perdure_lease_checkpoint(lb->lease, req.data, req.len, &response);
    free(req.owned);
    if (st) {
        throw_status(env, st, perdure_lease_errmsg(lb->lease));
        return NULL;
    }
    return take_buf(env, &response);
}

/* ---- module ---------------------------------------------------------------------- */

typedef struct export_fn {
    const char *js;
    const char *c;
    napi_callback fn;
} export_fn;

static const export_fn EXPORTS[] = {
    {"version", "perdure_version", js_version},
    {"statusName", "perdure_status_name", js_status_name},
    {"idHash", "perdure_id_hash", js_id_hash},
    {"retryPreset", "perdure_retry_config_preset", js_retry_preset},
    {"retryDecide", "perdure_retry_decide", js_retry_decide},
    {"waitConfigInit", "perdure_wait_config_init", js_wait_config_init},
    {"waitDecide", "perdure_wait_decide", js_wait_decide},
    {"outputFailed", "perdure_output_failed", js_output_failed},
    {"vmNew", "perdure_vm_new", js_vm_new},
    {"vmFree", "perdure_vm_free", js_vm_free},
    {"vmErrmsg", "perdure_vm_errmsg", js_vm_errmsg},
    {"vmNondeterminism", "perdure_vm_nondeterminism", js_vm_nondeterminism},
    {"vmStart", "perdure_vm_start", js_vm_start},
    {"vmStateMarker", "perdure_vm_state_marker", js_vm_state_marker},
    {"vmExecutionArn", "perdure_vm_execution_arn", js_vm_execution_arn},
    {"vmInput", "perdure_vm_input", js_vm_input},
    {"vmIsReplaying", "perdure_vm_is_replaying", js_vm_is_replaying},
    {"vmSetNow", "perdure_vm_set_now", js_vm_set_now},
    {"stepConfig", "perdure_step_config", js_step_config},
    {"vmStep", "perdure_vm_step", js_vm_step},
    {"vmWait", "perdure_vm_wait", js_vm_wait},
    {"vmCallback", "perdure_vm_callback", js_vm_callback},
    {"vmChild", "perdure_vm_child", js_vm_child},
    {"vmBatch", "perdure_vm_batch", js_vm_batch},
    {"vmWaitForCondition", "perdure_vm_wait_for_condition", js_vm_wait_for_condition},
    {"vmWaitForCallback", "perdure_vm_wait_for_callback", js_vm_wait_for_callback},
    {"vmInvoke", "perdure_vm_invoke", js_vm_invoke},
    {"vmOpNext", "perdure_vm_op_next", js_vm_op_next},
    {"vmOpNextResult", "perdure_vm_op_next+perdure_vm_op_result", js_vm_op_next_result},
    {"vmOpSucceed", "perdure_vm_op_succeed", js_vm_op_succeed},
    {"vmOpFail", "perdure_vm_op_fail", js_vm_op_fail},
    {"vmOpFailDecided", "perdure_vm_op_fail_decided", js_vm_op_fail_decided},
    {"vmOpSuspended", "perdure_vm_op_suspended", js_vm_op_suspended},
    {"vmOpSetSummary", "perdure_vm_op_set_summary", js_vm_op_set_summary},
    {"vmOpConditionChecked", "perdure_vm_op_condition_checked", js_vm_op_condition_checked},
    {"vmOpConditionDecided", "perdure_vm_op_condition_decided", js_vm_op_condition_decided},
    {"vmOpId", "perdure_vm_op_id", js_vm_op_id},
    {"vmOpStatus", "perdure_vm_op_status", js_vm_op_status},
    {"vmOpAttempt", "perdure_vm_op_attempt", js_vm_op_attempt},
    {"vmOpResult", "perdure_vm_op_result", js_vm_op_result},
    {"vmOpError", "perdure_vm_op_error", js_vm_op_error},
    {"vmOpCallbackId", "perdure_vm_op_callback_id", js_vm_op_callback_id},
    {"vmOpRetryDelay", "perdure_vm_op_retry_delay", js_vm_op_retry_delay},
    {"vmBatchPoll", "perdure_vm_batch_poll", js_vm_batch_poll},
    {"vmBatchOutcome", "perdure_vm_batch_outcome", js_vm_batch_outcome},
    {"vmBatchItem", "perdure_vm_batch_item", js_vm_batch_item},
    {"vmWantsFlush", "perdure_vm_wants_flush", js_vm_wants_flush},
    {"vmTakeBatch", "perdure_vm_take_batch", js_vm_take_batch},
    {"vmApplyResponse", "perdure_vm_apply_response", js_vm_apply_response},
    {"vmFinish", "perdure_vm_finish", js_vm_finish},
    {"vmOutput", "perdure_vm_output", js_vm_output},
    {"storeOpen", "perdure_store_open", js_store_open},
    {"storeClose", "perdure_store_close", js_store_close},
    {"storeErrmsg", "perdure_store_errmsg", js_store_errmsg},
    {"storeNow", "perdure_store_now", js_store_now},
    {"storeSetClockOffset", "perdure_store_options.clock", js_store_set_clock_offset},
    {"storeNextWakeup", "perdure_store_next_wakeup", js_store_next_wakeup},
    {"storeStart", "perdure_store_start", js_store_start},
    {"storeDescribe", "perdure_store_describe", js_store_describe},
    {"storeList", "perdure_store_list", js_store_list},
    {"storeOperations", "perdure_store_operations", js_store_operations},
    {"storeHistory", "perdure_store_history", js_store_history},
    {"storeCallbackSucceed", "perdure_store_callback_succeed", js_store_callback_succeed},
    {"storeCallbackFail", "perdure_store_callback_fail", js_store_callback_fail},
    {"storeCallbackHeartbeat", "perdure_store_callback_heartbeat", js_store_callback_heartbeat},
    {"storeStop", "perdure_store_stop", js_store_stop},
    {"storeReleaseWorker", "perdure_store_release_worker", js_store_release_worker},
    {"storeLeaseWait", "perdure_store_lease_wait", js_store_lease_wait},
    {"leaseInput", "perdure_lease_input", js_lease_input},
    {"leaseFunction", "perdure_lease_function", js_lease_function},
    {"leaseArn", "perdure_lease_arn", js_lease_arn},
    {"leaseErrmsg", "perdure_lease_errmsg", js_lease_errmsg},
    {"leaseCheckpoint", "perdure_lease_checkpoint", js_lease_checkpoint},
    {"leaseCheckpointSync", "perdure_lease_checkpoint", js_lease_checkpoint_sync},
    {"leaseComplete", "perdure_lease_complete", js_lease_complete},
    {"leaseAbandon", "perdure_lease_abandon", js_lease_abandon},
};

static napi_value init(napi_env env, napi_value exports)
{
    napi_value wraps;
    CHECK_NAPI(napi_create_object(env, &wraps));
    for (size_t i = 0; i < sizeof EXPORTS / sizeof EXPORTS[0]; i++) {
        napi_value fn;
        CHECK_NAPI(napi_create_function(env, EXPORTS[i].js, NAPI_AUTO_LENGTH, EXPORTS[i].fn, NULL, &fn));
        CHECK_NAPI(napi_set_named_property(env, exports, EXPORTS[i].js, fn));
        CHECK_NAPI(napi_set_named_property(env, wraps, EXPORTS[i].js, make_string(env, EXPORTS[i].c)));
    }
    /* wraps: JS name -> the C function it wraps, for documentation and tests. */
    CHECK_NAPI(napi_set_named_property(env, exports, "wraps", wraps));
    return exports;
}

NAPI_MODULE(perdure, init)

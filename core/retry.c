/* Retry strategies for steps and wait strategies for wait_for_condition, as
 * pure functions of (config, attempt, error, random). The rules and their
 * sources are in schema/strategies.md. */
#include <math.h>
#include <regex.h>
#include <stdbool.h>
#include <string.h>

#include "internal.h"

/* The struct size a caller must declare for us to read up to `field`. */
#define FIELD_END(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

typedef struct preset {
    unsigned max_attempts;
    perdure_backoff backoff;
    double initial, max, rate, increment;
    perdure_jitter jitter;
} preset;

/* protocol.md §7.3, checked against py retries.py (RetryPresets) and js
 * retry-presets.ts. Fields a preset does not name keep RetryStrategyConfig's
 * defaults (5 s, 300 s, x2, FULL), as in the SDKs. */
static const preset presets[] = {
    [PERDURE_RETRY_DEFAULT] = {6, PERDURE_BACKOFF_EXPONENTIAL, 5, 60, 2, 0, PERDURE_JITTER_FULL},
    [PERDURE_RETRY_CONFIG_DEFAULTS] = {3, PERDURE_BACKOFF_EXPONENTIAL, 5, 300, 2, 0, PERDURE_JITTER_FULL},
    [PERDURE_RETRY_NONE] = {1, PERDURE_BACKOFF_EXPONENTIAL, 5, 300, 2, 0, PERDURE_JITTER_FULL},
    [PERDURE_RETRY_TRANSIENT] = {3, PERDURE_BACKOFF_EXPONENTIAL, 5, 300, 2, 0, PERDURE_JITTER_HALF},
    [PERDURE_RETRY_RESOURCE_AVAILABILITY] = {5, PERDURE_BACKOFF_EXPONENTIAL, 5, 300, 2, 0, PERDURE_JITTER_FULL},
    [PERDURE_RETRY_CRITICAL] = {10, PERDURE_BACKOFF_EXPONENTIAL, 1, 60, 1.5, 0, PERDURE_JITTER_NONE},
    [PERDURE_RETRY_LINEAR] = {6, PERDURE_BACKOFF_LINEAR, 1, 300, 0, 1, PERDURE_JITTER_NONE},
    [PERDURE_RETRY_FIXED] = {5, PERDURE_BACKOFF_EXPONENTIAL, 5, 5, 1, 0, PERDURE_JITTER_NONE},
};

static bool is_nonneg(double x) { return isfinite(x) && x >= 0; }

/* Checks the parameters retry and wait strategies share; `what` names the
 * config in messages. */
static perdure_status check_backoff(const char *what, unsigned max_attempts, double initial, double max_delay,
                                    perdure_jitter jitter, unsigned attempt, double random01, pd_err *err)
{
    if (max_attempts < 1)
        return pd_fail(err, PERDURE_E_INVALID, "%s: max_attempts must be at least 1, got %u", what, max_attempts);
    if (!is_nonneg(initial))
        return pd_fail(err, PERDURE_E_INVALID, "%s: initial_delay_seconds must be finite and >= 0, got %g", what,
                       initial);
    if (!is_nonneg(max_delay))
        return pd_fail(err, PERDURE_E_INVALID, "%s: max_delay_seconds must be finite and >= 0, got %g", what,
                       max_delay);
    if (jitter != PERDURE_JITTER_FULL && jitter != PERDURE_JITTER_NONE && jitter != PERDURE_JITTER_HALF)
        return pd_fail(err, PERDURE_E_INVALID, "%s: unknown jitter %d", what, (int)jitter);
    if (attempt < 1)
        return pd_fail(err, PERDURE_E_INVALID, "%s: attempts are counted from 1, got 0", what);
    if (!(random01 >= 0 && random01 < 1))
        return pd_fail(err, PERDURE_E_INVALID, "%s: random01 must be in [0,1), got %g", what, random01);
    return PERDURE_OK;
}

static perdure_status check_rate(const char *what, double rate, pd_err *err)
{
    if (!(isfinite(rate) && rate > 0))
        return pd_fail(err, PERDURE_E_INVALID, "%s: backoff_rate must be finite and > 0, got %g", what, rate);
    return PERDURE_OK;
}

static double exponential_base(double initial, double rate, unsigned n)
{
    /* initial 0 stays 0 even when rate^(n-1) overflows to infinity. */
    return initial > 0 ? initial * pow(rate, (double)(n - 1)) : 0;
}

/* The config's rounding when its size covers the field (older callers: up). */
static perdure_status rounding_of(const char *what, bool present, const perdure_rounding *field,
                                  perdure_rounding *out, pd_err *err)
{
    if (!present)
        return PERDURE_OK;
    if (*field != PERDURE_ROUND_UP && *field != PERDURE_ROUND_NEAREST)
        return pd_fail(err, PERDURE_E_INVALID, "%s: unknown rounding %d", what, (int)*field);
    *out = *field;
    return PERDURE_OK;
}

/* The SDKs' finalize step: cap before jitter (so jitter never exceeds
 * max_delay), jitter, round (up in Python, to the nearest in JS), at least
 * 1 s. The 366-day cap is the service's limit on NextAttemptDelaySeconds. */
static long long finalize_delay(double base, double max_delay, perdure_jitter jitter, perdure_rounding rounding,
                                double random01)
{
    double d = base < max_delay ? base : max_delay;
    if (jitter == PERDURE_JITTER_FULL)
        d = random01 * d;
    else if (jitter == PERDURE_JITTER_HALF)
        d = d / 2 + random01 * (d / 2);
    if (d > (double)PD_MAX_DURATION)
        return PD_MAX_DURATION;
    d = rounding == PERDURE_ROUND_NEAREST ? round(d) : ceil(d);
    return d < 1 ? 1 : (long long)d;
}

/* Whether an error with this type and message passes the filters. Every
 * pattern is compiled, even after a match, so that a bad regex is reported
 * whatever the message. */
static perdure_status error_matches(const perdure_retry_config *cfg, const char *type, const char *message,
                                    bool *out, pd_err *err)
{
    /* As in both SDKs: no filter list at all means "retry everything"; a
     * list that is present but empty matches nothing. */
    *out = !cfg->retryable_errors && !cfg->retryable_error_types;
    if ((cfg->retryable_errors_len && !cfg->retryable_errors) ||
        (cfg->retryable_error_types_len && !cfg->retryable_error_types))
        return pd_fail(err, PERDURE_E_INVALID, "retry config: a filter list has a length but no entries");

    for (unsigned long long i = 0; i < cfg->retryable_error_types_len; i++) {
        const char *t = cfg->retryable_error_types[i];
        if (!t)
            return pd_fail(err, PERDURE_E_INVALID, "retry config: retryable_error_types[%llu] is NULL", i);
        if (type && strcmp(type, t) == 0)
            *out = true;
    }

    const char *text = message ? message : "";
    for (unsigned long long i = 0; i < cfg->retryable_errors_len; i++) {
        const char *pattern = cfg->retryable_errors[i];
        if (!pattern)
            return pd_fail(err, PERDURE_E_INVALID, "retry config: retryable_errors[%llu] is NULL", i);
        if (!(cfg->retryable_errors_is_regex && cfg->retryable_errors_is_regex[i])) {
            if (strstr(text, pattern))
                *out = true;
            continue;
        }
        regex_t re;
        int rc = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[128];
            regerror(rc, &re, why, sizeof why);
            return pd_fail(err, PERDURE_E_INVALID, "retry config: retryable_errors[%llu] /%s/ is not a valid regex: %s",
                           i, pattern, why);
        }
        if (!*out) {
            rc = regexec(&re, text, 0, NULL, 0);
            *out = rc == 0;
        }
        regfree(&re);
        if (rc != 0 && rc != REG_NOMATCH)
            return pd_fail(err, PERDURE_E_NOMEM, "retry config: matching retryable_errors[%llu] failed", i);
    }
    return PERDURE_OK;
}

/* pd_retry_decide over plain strings, so that the public wrapper needs no
 * pd_error (whose construction allocates). */
static perdure_status retry_decide(const perdure_retry_config *cfg, unsigned attempts_made, const char *type,
                                   const char *message, double random01, perdure_retry_decision *out, pd_err *err)
{
    const char *what = "retry config";
    out->should_retry = 0;
    out->delay_seconds = 0;
    if (cfg->size < FIELD_END(perdure_retry_config, retryable_error_types_len))
        return pd_fail(err, PERDURE_E_INVALID, "%s: size %u is too small", what, cfg->size);
    perdure_rounding rounding = PERDURE_ROUND_UP;
    perdure_status st = rounding_of(what, cfg->size >= FIELD_END(perdure_retry_config, rounding), &cfg->rounding,
                                    &rounding, err);
    if (st)
        return st;
    st = check_backoff(what, cfg->max_attempts, cfg->initial_delay_seconds, cfg->max_delay_seconds, cfg->jitter,
                      attempts_made, random01, err);
    if (st)
        return st;
    double base;
    if (cfg->backoff == PERDURE_BACKOFF_EXPONENTIAL) {
        if ((st = check_rate(what, cfg->backoff_rate, err)))
            return st;
        base = exponential_base(cfg->initial_delay_seconds, cfg->backoff_rate, attempts_made);
    } else if (cfg->backoff == PERDURE_BACKOFF_LINEAR) {
        if (!is_nonneg(cfg->increment_seconds))
            return pd_fail(err, PERDURE_E_INVALID, "%s: increment_seconds must be finite and >= 0, got %g", what,
                           cfg->increment_seconds);
        base = cfg->initial_delay_seconds + cfg->increment_seconds * (attempts_made - 1);
    } else {
        return pd_fail(err, PERDURE_E_INVALID, "%s: unknown backoff %d", what, (int)cfg->backoff);
    }
    bool retryable;
    if ((st = error_matches(cfg, type, message, &retryable, err)))
        return st;
    if (attempts_made >= cfg->max_attempts || !retryable)
        return PERDURE_OK;
    out->should_retry = 1;
    out->delay_seconds = finalize_delay(base, cfg->max_delay_seconds, cfg->jitter, rounding, random01);
    return PERDURE_OK;
}

/* A NULL error is an error without type or message: the VM validates a
 * config with such a probe when a step is declared. */
perdure_status pd_retry_decide(const perdure_retry_config *cfg, unsigned attempts_made, const pd_error *error,
                               double random01, perdure_retry_decision *out, pd_err *err)
{
    if (!cfg || !out)
        return pd_fail(err, PERDURE_E_MISUSE, "retry decision: NULL argument");
    const char *type = error && error->type.present ? error->type.data : NULL;
    const char *message = error && error->message.present ? error->message.data : NULL;
    return retry_decide(cfg, attempts_made, type, message, random01, out, err);
}

perdure_status perdure_retry_decide(const perdure_retry_config *cfg, unsigned int attempts_made,
                                    const perdure_error_info *error, double random01, perdure_retry_decision *out)
{
    if (!cfg || !error || !out)
        return PERDURE_E_MISUSE;
    return retry_decide(cfg, attempts_made, error->error_type, error->error_message, random01, out, NULL);
}

perdure_status perdure_retry_config_preset(perdure_retry_config *cfg, perdure_retry_preset preset_id)
{
    if (!cfg)
        return PERDURE_E_MISUSE;
    if (cfg->size < FIELD_END(perdure_retry_config, retryable_error_types_len) ||
        (unsigned)preset_id >= sizeof presets / sizeof presets[0])
        return PERDURE_E_INVALID;
    const preset *p = &presets[preset_id];
    /* Written up to the caller's size: a caller built against an older,
     * shorter struct keeps its memory. */
    perdure_retry_config filled = {
        .size = cfg->size,
        .max_attempts = p->max_attempts,
        .backoff = p->backoff,
        .initial_delay_seconds = p->initial,
        .max_delay_seconds = p->max,
        .backoff_rate = p->rate,
        .increment_seconds = p->increment,
        .jitter = p->jitter,
    };
    memcpy(cfg, &filled, cfg->size < sizeof filled ? cfg->size : sizeof filled);
    return PERDURE_OK;
}

perdure_status perdure_wait_config_init(perdure_wait_config *cfg)
{
    if (!cfg)
        return PERDURE_E_MISUSE;
    /* WaitStrategyConfig's defaults (py waits.py, js wait-strategy-config.ts). */
    *cfg = (perdure_wait_config){
        .size = sizeof *cfg,
        .max_attempts = 60,
        .initial_delay_seconds = 5,
        .max_delay_seconds = 300,
        .backoff_rate = 1.5,
        .jitter = PERDURE_JITTER_FULL,
    };
    return PERDURE_OK;
}

perdure_status pd_wait_decide(const perdure_wait_config *cfg, unsigned attempt, double random01,
                              perdure_retry_decision *out, pd_err *err)
{
    const char *what = "wait config";
    if (!cfg || !out)
        return pd_fail(err, PERDURE_E_MISUSE, "wait decision: NULL argument");
    out->should_retry = 0;
    out->delay_seconds = 0;
    if (cfg->size < FIELD_END(perdure_wait_config, jitter))
        return pd_fail(err, PERDURE_E_INVALID, "%s: size %u is too small", what, cfg->size);
    perdure_rounding rounding = PERDURE_ROUND_UP;
    perdure_status st = rounding_of(what, cfg->size >= FIELD_END(perdure_wait_config, rounding), &cfg->rounding,
                                    &rounding, err);
    if (st || (st = check_backoff(what, cfg->max_attempts, cfg->initial_delay_seconds, cfg->max_delay_seconds,
                                  cfg->jitter, attempt, random01, err)) ||
        (st = check_rate(what, cfg->backoff_rate, err)))
        return st;
    /* The caller asks only when the check wants to continue; the SDKs then
     * fail the operation once the attempts are used up. */
    if (attempt >= cfg->max_attempts)
        return PERDURE_OK;
    out->should_retry = 1;
    out->delay_seconds = finalize_delay(exponential_base(cfg->initial_delay_seconds, cfg->backoff_rate, attempt),
                                        cfg->max_delay_seconds, cfg->jitter, rounding, random01);
    return PERDURE_OK;
}

perdure_status perdure_wait_decide(const perdure_wait_config *cfg, unsigned int attempt, double random01,
                                   perdure_retry_decision *out)
{
    return pd_wait_decide(cfg, attempt, random01, out, NULL);
}

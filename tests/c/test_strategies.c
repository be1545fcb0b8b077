/* Retry, wait and completion strategies (schema/strategies.md). Expected
 * delays were computed with the py SDK's formula in Python floats:
 * max(1, ceil(jitter(min(base(n), max_delay)))). */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "internal.h"

/* ---- helpers ------------------------------------------------------------- */

static perdure_retry_config preset_cfg(perdure_retry_preset id)
{
    perdure_retry_config cfg = {.size = sizeof cfg};
    cr_assert_eq(perdure_retry_config_preset(&cfg, id), PERDURE_OK, "preset %d", (int)id);
    return cfg;
}

static perdure_retry_decision decide(const perdure_retry_config *cfg, unsigned attempts, const char *type,
                                     const char *message, double random01)
{
    perdure_error_info error = {.error_type = type, .error_message = message};
    perdure_retry_decision d = {-1, -1};
    cr_assert_eq(perdure_retry_decide(cfg, attempts, &error, random01, &d), PERDURE_OK, "attempt %u", attempts);
    return d;
}

/* delay 0 means "expect no retry". */
static void expect_decision(const perdure_retry_config *cfg, unsigned attempts, const char *type,
                            const char *message, double random01, long long delay)
{
    perdure_retry_decision d = decide(cfg, attempts, type, message, random01);
    cr_expect_eq(d.should_retry, delay > 0, "attempt %u type %s message %s: should_retry %d", attempts,
                 type ? type : "(null)", message ? message : "(null)", d.should_retry);
    cr_expect_eq(d.delay_seconds, delay, "attempt %u random %g: delay %lld, want %lld", attempts, random01,
                 d.delay_seconds, delay);
}

static perdure_status retry_status(const perdure_retry_config *cfg, unsigned attempts, double random01)
{
    perdure_error_info error = {.error_type = "E", .error_message = "m"};
    perdure_retry_decision d;
    return perdure_retry_decide(cfg, attempts, &error, random01, &d);
}

/* ---- presets --------------------------------------------------------------- */

enum { COL_NONE, COL_FULL_0, COL_FULL_HALF, COL_FULL_999, COL_HALF_0, COL_HALF_HALF, COL_HALF_999, NCOLS };

typedef struct preset_case {
    perdure_retry_preset id;
    const char *name;
    unsigned max_attempts;
    perdure_backoff backoff;
    double initial, max;
    double step;   /* backoff_rate (exponential) or increment_seconds (linear) */
    perdure_jitter jitter;
    /* delays[n-1] after n attempts, for each jitter and random01 in COL_* order */
    int delays[9][NCOLS];
} preset_case;

static const preset_case presets[] = {
    {PERDURE_RETRY_DEFAULT, "default", 6, PERDURE_BACKOFF_EXPONENTIAL, 5, 60, 2, PERDURE_JITTER_FULL,
     {{5, 1, 3, 5, 3, 4, 5}, {10, 1, 5, 10, 5, 8, 10}, {20, 1, 10, 20, 10, 15, 20}, {40, 1, 20, 40, 20, 30, 40},
      {60, 1, 30, 60, 30, 45, 60}}},
    {PERDURE_RETRY_CONFIG_DEFAULTS, "config defaults", 3, PERDURE_BACKOFF_EXPONENTIAL, 5, 300, 2,
     PERDURE_JITTER_FULL, {{5, 1, 3, 5, 3, 4, 5}, {10, 1, 5, 10, 5, 8, 10}}},
    {PERDURE_RETRY_NONE, "none", 1, PERDURE_BACKOFF_EXPONENTIAL, 5, 300, 2, PERDURE_JITTER_FULL, {{0}}},
    {PERDURE_RETRY_TRANSIENT, "transient", 3, PERDURE_BACKOFF_EXPONENTIAL, 5, 300, 2, PERDURE_JITTER_HALF,
     {{5, 1, 3, 5, 3, 4, 5}, {10, 1, 5, 10, 5, 8, 10}}},
    {PERDURE_RETRY_RESOURCE_AVAILABILITY, "resource availability", 5, PERDURE_BACKOFF_EXPONENTIAL, 5, 300, 2,
     PERDURE_JITTER_FULL,
     {{5, 1, 3, 5, 3, 4, 5}, {10, 1, 5, 10, 5, 8, 10}, {20, 1, 10, 20, 10, 15, 20}, {40, 1, 20, 40, 20, 30, 40}}},
    {PERDURE_RETRY_CRITICAL, "critical", 10, PERDURE_BACKOFF_EXPONENTIAL, 1, 60, 1.5, PERDURE_JITTER_NONE,
     {{1, 1, 1, 1, 1, 1, 1}, {2, 1, 1, 2, 1, 2, 2}, {3, 1, 2, 3, 2, 2, 3}, {4, 1, 2, 4, 2, 3, 4},
      {6, 1, 3, 6, 3, 4, 6}, {8, 1, 4, 8, 4, 6, 8}, {12, 1, 6, 12, 6, 9, 12}, {18, 1, 9, 18, 9, 13, 18},
      {26, 1, 13, 26, 13, 20, 26}}},
    {PERDURE_RETRY_LINEAR, "linear", 6, PERDURE_BACKOFF_LINEAR, 1, 300, 1, PERDURE_JITTER_NONE,
     {{1, 1, 1, 1, 1, 1, 1}, {2, 1, 1, 2, 1, 2, 2}, {3, 1, 2, 3, 2, 3, 3}, {4, 1, 2, 4, 2, 3, 4},
      {5, 1, 3, 5, 3, 4, 5}}},
    {PERDURE_RETRY_FIXED, "fixed", 5, PERDURE_BACKOFF_EXPONENTIAL, 5, 5, 1, PERDURE_JITTER_NONE,
     {{5, 1, 3, 5, 3, 4, 5}, {5, 1, 3, 5, 3, 4, 5}, {5, 1, 3, 5, 3, 4, 5}, {5, 1, 3, 5, 3, 4, 5}}},
};

Test(retry, preset_fields)
{
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        const preset_case *p = &presets[i];
        perdure_retry_config cfg = preset_cfg(p->id);
        cr_expect_eq(cfg.size, sizeof cfg, "%s keeps size", p->name);
        cr_expect_eq(cfg.max_attempts, p->max_attempts, "%s max_attempts", p->name);
        cr_expect_eq(cfg.backoff, p->backoff, "%s backoff", p->name);
        cr_expect_eq(cfg.initial_delay_seconds, p->initial, "%s initial", p->name);
        cr_expect_eq(cfg.max_delay_seconds, p->max, "%s max", p->name);
        cr_expect_eq(p->backoff == PERDURE_BACKOFF_LINEAR ? cfg.increment_seconds : cfg.backoff_rate, p->step,
                     "%s rate/increment", p->name);
        cr_expect_eq(cfg.jitter, p->jitter, "%s jitter", p->name);
        cr_expect_null(cfg.retryable_errors, "%s has no filters", p->name);
        cr_expect_null(cfg.retryable_error_types);
        cr_expect_eq(cfg.retryable_errors_len + cfg.retryable_error_types_len, 0);
    }
}

Test(retry, preset_delays_every_attempt)
{
    static const struct {
        perdure_jitter jitter;
        double random01;
    } cols[NCOLS] = {
        [COL_NONE] = {PERDURE_JITTER_NONE, 0.5},     [COL_FULL_0] = {PERDURE_JITTER_FULL, 0},
        [COL_FULL_HALF] = {PERDURE_JITTER_FULL, 0.5}, [COL_FULL_999] = {PERDURE_JITTER_FULL, 0.999},
        [COL_HALF_0] = {PERDURE_JITTER_HALF, 0},      [COL_HALF_HALF] = {PERDURE_JITTER_HALF, 0.5},
        [COL_HALF_999] = {PERDURE_JITTER_HALF, 0.999},
    };
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        const preset_case *p = &presets[i];
        perdure_retry_config cfg = preset_cfg(p->id);
        for (int c = 0; c < NCOLS; c++) {
            cfg.jitter = cols[c].jitter;
            for (unsigned n = 1; n < p->max_attempts; n++) {
                perdure_retry_decision d = decide(&cfg, n, "Error", "boom", cols[c].random01);
                cr_expect(d.should_retry, "%s attempt %u retries", p->name, n);
                cr_expect_eq(d.delay_seconds, p->delays[n - 1][c], "%s attempt %u jitter %d random %g: %lld != %d",
                             p->name, n, (int)cols[c].jitter, cols[c].random01, d.delay_seconds,
                             p->delays[n - 1][c]);
            }
            /* attempts_made >= max_attempts: exhausted, whatever the jitter. */
            expect_decision(&cfg, p->max_attempts, "Error", "boom", cols[c].random01, 0);
            expect_decision(&cfg, p->max_attempts + 1, "Error", "boom", cols[c].random01, 0);
        }
    }
}

Test(retry, preset_own_jitter)
{
    /* With its own jitter, transient (HALF) never goes below half the base. */
    perdure_retry_config t = preset_cfg(PERDURE_RETRY_TRANSIENT);
    expect_decision(&t, 2, NULL, "x", 0, 5);
    perdure_retry_config d = preset_cfg(PERDURE_RETRY_DEFAULT);
    expect_decision(&d, 5, NULL, "x", 0.999, 60);
    expect_decision(&d, 5, NULL, "x", 0.25, 15);
}

Test(retry, preset_misuse)
{
    perdure_retry_config cfg = {.size = sizeof cfg};
    cr_expect_eq(perdure_retry_config_preset(NULL, PERDURE_RETRY_DEFAULT), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_retry_config_preset(&cfg, (perdure_retry_preset)8), PERDURE_E_INVALID);
    cr_expect_eq(perdure_retry_config_preset(&cfg, (perdure_retry_preset)-1), PERDURE_E_INVALID);
    cfg.size = offsetof(perdure_retry_config, retryable_error_types);
    cr_expect_eq(perdure_retry_config_preset(&cfg, PERDURE_RETRY_DEFAULT), PERDURE_E_INVALID);
    cr_expect_eq(cfg.max_attempts, 0, "nothing written on error");
}

Test(retry, preset_writes_only_the_callers_size)
{
    /* A caller built before `rounding` existed: its struct ends earlier. */
    unsigned char memory[sizeof(perdure_retry_config)];
    memset(memory, 0xab, sizeof memory);
    perdure_retry_config *cfg = (perdure_retry_config *)memory;
    cfg->size = offsetof(perdure_retry_config, rounding);
    cr_assert_eq(perdure_retry_config_preset(cfg, PERDURE_RETRY_DEFAULT), PERDURE_OK);
    cr_expect_eq(cfg->max_attempts, 6);
    for (size_t i = offsetof(perdure_retry_config, rounding); i < sizeof memory; i++)
        cr_assert_eq(memory[i], 0xab, "byte %zu beyond the caller's size was written", i);
    /* and without the field, delays round up */
    cfg->jitter = PERDURE_JITTER_NONE;
    cfg->initial_delay_seconds = 1.4;
    expect_decision(cfg, 1, "E", NULL, 0, 2);
}

Test(retry, rounding_to_the_nearest_second_as_the_js_sdk)
{
    perdure_retry_config cfg = preset_cfg(PERDURE_RETRY_CONFIG_DEFAULTS);
    cfg.jitter = PERDURE_JITTER_NONE;
    cfg.initial_delay_seconds = 1.4;
    cfg.backoff_rate = 1.5;
    expect_decision(&cfg, 1, "E", NULL, 0, 2);   /* up: ceil(1.4) */
    cfg.rounding = PERDURE_ROUND_NEAREST;
    expect_decision(&cfg, 1, "E", NULL, 0, 1);   /* round(1.4) */
    expect_decision(&cfg, 2, "E", NULL, 0, 2);   /* round(2.1) */
    cfg.initial_delay_seconds = 0.3;
    expect_decision(&cfg, 1, "E", NULL, 0, 1);   /* at least 1 s */
    cfg.initial_delay_seconds = 2.5;
    expect_decision(&cfg, 1, "E", NULL, 0, 3);   /* halves away from zero, as Math.round */

    perdure_wait_config w;
    cr_assert_eq(perdure_wait_config_init(&w), PERDURE_OK);
    cr_expect_eq(w.rounding, PERDURE_ROUND_UP);
    w.jitter = PERDURE_JITTER_NONE;
    w.initial_delay_seconds = 5;                  /* attempt 2: 7.5 s, 3: 11.25 s */
    perdure_retry_decision d;
    cr_assert_eq(perdure_wait_decide(&w, 3, 0, &d), PERDURE_OK);
    cr_expect_eq(d.delay_seconds, 12);
    w.rounding = PERDURE_ROUND_NEAREST;
    cr_assert_eq(perdure_wait_decide(&w, 3, 0, &d), PERDURE_OK);
    cr_expect_eq(d.delay_seconds, 11);
    w.rounding = (perdure_rounding)5;
    cr_expect_eq(perdure_wait_decide(&w, 3, 0, &d), PERDURE_E_INVALID);
}

/* ---- filters ----------------------------------------------------------------- */

static perdure_retry_config filtered(const char *const *errors, const unsigned char *is_regex, size_t nerrors,
                                     const char *const *types, size_t ntypes)
{
    perdure_retry_config cfg = preset_cfg(PERDURE_RETRY_CONFIG_DEFAULTS);
    cfg.jitter = PERDURE_JITTER_NONE;
    cfg.retryable_errors = errors;
    cfg.retryable_errors_is_regex = is_regex;
    cfg.retryable_errors_len = nerrors;
    cfg.retryable_error_types = types;
    cfg.retryable_error_types_len = ntypes;
    return cfg;
}

Test(retry, no_filter_retries_everything)
{
    perdure_retry_config cfg = filtered(NULL, NULL, 0, NULL, 0);
    expect_decision(&cfg, 1, "AnyError", "anything", 0, 5);
    expect_decision(&cfg, 1, NULL, NULL, 0, 5);
}

Test(retry, substring_filter)
{
    static const char *const errors[] = {"timeout", "a.c"};
    perdure_retry_config cfg = filtered(errors, NULL, 2, NULL, 0);
    expect_decision(&cfg, 1, "E", "connection timeout after 3s", 0, 5);
    expect_decision(&cfg, 1, "E", "connection refused", 0, 0);
    /* A plain string is literal: "a.c" is not a pattern. */
    expect_decision(&cfg, 1, "E", "abc", 0, 0);
    expect_decision(&cfg, 1, "E", "xa.cx", 0, 5);
    /* A missing message is "" (py str(e) of an exception without args). */
    expect_decision(&cfg, 1, "E", NULL, 0, 0);
    /* With only message filters set, the error type plays no part. */
    expect_decision(&cfg, 1, "timeout", "nope", 0, 0);
}

Test(retry, regex_filter_searches)
{
    static const char *const errors[] = {"time?out", "^conn.*[0-9]+s$"};
    static const unsigned char is_regex[] = {1, 1};
    perdure_retry_config cfg = filtered(errors, is_regex, 2, NULL, 0);
    expect_decision(&cfg, 1, "E", "a timout happened", 0, 5);      /* search, not fullmatch */
    expect_decision(&cfg, 1, "E", "connection closed after 3s", 0, 5);
    expect_decision(&cfg, 1, "E", "reconnection closed after 3s", 0, 0);  /* anchored */
    expect_decision(&cfg, 1, "E", "tim", 0, 0);
    /* Only flagged entries are regexes. */
    static const unsigned char mixed[] = {0, 1};
    cfg.retryable_errors_is_regex = mixed;
    expect_decision(&cfg, 1, "E", "a timout happened", 0, 0);
    expect_decision(&cfg, 1, "E", "x time?out x", 0, 5);
}

Test(retry, type_filter)
{
    static const char *const types[] = {"TimeoutError", "ConnectionError"};
    perdure_retry_config cfg = filtered(NULL, NULL, 0, types, 2);
    expect_decision(&cfg, 1, "ConnectionError", "whatever", 0, 5);
    expect_decision(&cfg, 1, "ValueError", "TimeoutError", 0, 0);   /* types match the type only */
    expect_decision(&cfg, 1, NULL, "whatever", 0, 0);
    expect_decision(&cfg, 1, "timeouterror", "x", 0, 0);            /* exact, case-sensitive */
}

Test(retry, both_filters_or)
{
    static const char *const errors[] = {"throttl"};
    static const char *const types[] = {"TimeoutError"};
    perdure_retry_config cfg = filtered(errors, NULL, 1, types, 1);
    expect_decision(&cfg, 1, "TimeoutError", "no match", 0, 5);
    expect_decision(&cfg, 1, "ValueError", "throttled", 0, 5);
    expect_decision(&cfg, 1, "ValueError", "no match", 0, 0);
    /* Matching filters do not extend the attempts. */
    expect_decision(&cfg, 3, "TimeoutError", "throttled", 0, 0);
}

Test(retry, empty_list_matches_nothing)
{
    /* As py `retryable_errors=[]` / js `retryableErrors: []`: a present but
     * empty list disables the match-everything default. */
    static const char *const none[] = {NULL};
    perdure_retry_config cfg = filtered(none, NULL, 0, NULL, 0);
    expect_decision(&cfg, 1, "E", "anything", 0, 0);
    cfg = filtered(NULL, NULL, 0, none, 0);
    expect_decision(&cfg, 1, "E", "anything", 0, 0);
}

Test(retry, invalid_filters)
{
    static const char *const bad_regex[] = {"ok", "a("};
    static const unsigned char is_regex[] = {0, 1};
    perdure_retry_config cfg = filtered(bad_regex, is_regex, 2, NULL, 0);
    cr_expect_eq(retry_status(&cfg, 1, 0), PERDURE_E_INVALID);
    /* Reported whatever the message and even when exhausted. */
    perdure_error_info ok = {.error_message = "ok"};
    perdure_retry_decision d = {1, 1};
    cr_expect_eq(perdure_retry_decide(&cfg, 9, &ok, 0, &d), PERDURE_E_INVALID);
    cr_expect_eq(d.should_retry, 0);

    static const char *const null_entry[] = {"x", NULL};
    cfg = filtered(null_entry, NULL, 2, NULL, 0);
    cr_expect_eq(retry_status(&cfg, 1, 0), PERDURE_E_INVALID);
    cfg = filtered(NULL, NULL, 0, null_entry, 2);
    cr_expect_eq(retry_status(&cfg, 1, 0), PERDURE_E_INVALID);
    cfg = filtered(NULL, NULL, 1, NULL, 0);
    cr_expect_eq(retry_status(&cfg, 1, 0), PERDURE_E_INVALID);
    cfg = filtered(NULL, NULL, 0, NULL, 3);
    cr_expect_eq(retry_status(&cfg, 1, 0), PERDURE_E_INVALID);
}

Test(retry, internal_decide_messages)
{
    static const char *const bad_regex[] = {"[z-a]"};
    static const unsigned char is_regex[] = {1};
    perdure_retry_config cfg = filtered(bad_regex, is_regex, 1, NULL, 0);
    pd_error *e = pd_error_new();
    cr_assert_not_null(e);
    cr_assert_eq(pd_bytes_set_str(&e->message, "boom"), 0);
    pd_err err = {0};
    perdure_retry_decision d;
    cr_expect_eq(pd_retry_decide(&cfg, 1, e, 0, &d, &err), PERDURE_E_INVALID);
    cr_expect_eq(err.code, PERDURE_E_INVALID);
    cr_expect(strstr(err.msg, "retryable_errors[0]") && strstr(err.msg, "not a valid regex"), "%s", err.msg);

    /* The recorded type and message are what the filters see. */
    static const char *const types[] = {"Throttled"};
    cfg = filtered(NULL, NULL, 0, types, 1);
    cr_assert_eq(pd_bytes_set_str(&e->type, "Throttled"), 0);
    cr_expect_eq(pd_retry_decide(&cfg, 1, e, 0, &d, &err), PERDURE_OK);
    cr_expect(d.should_retry);
    cr_expect_eq(d.delay_seconds, 5);

    /* No error at all: no type, no message (the VM's validation probe). */
    cr_expect_eq(pd_retry_decide(&cfg, 1, NULL, 0, &d, &err), PERDURE_OK);
    cr_expect_not(d.should_retry);
    cr_expect_eq(pd_retry_decide(NULL, 1, e, 0, &d, &err), PERDURE_E_MISUSE);
    cr_expect_eq(pd_retry_decide(&cfg, 1, e, 0, NULL, &err), PERDURE_E_MISUSE);
    cfg.max_attempts = 0;
    cr_expect_eq(pd_retry_decide(&cfg, 1, e, 0, &d, &err), PERDURE_E_INVALID);
    cr_expect(strstr(err.msg, "max_attempts") != NULL, "%s", err.msg);
    pd_error_free(e);
}

/* ---- clamping ----------------------------------------------------------------- */

Test(retry, clamping)
{
    perdure_retry_config cfg = preset_cfg(PERDURE_RETRY_CONFIG_DEFAULTS);
    cfg.max_attempts = 100;
    cfg.jitter = PERDURE_JITTER_NONE;

    cfg.backoff_rate = 1e6;   /* a huge rate stops at max_delay */
    expect_decision(&cfg, 3, NULL, "x", 0, 300);
    cfg.backoff_rate = 1e300; /* rate^(n-1) overflows to infinity */
    expect_decision(&cfg, 50, NULL, "x", 0, 300);
    cfg.initial_delay_seconds = 0;   /* 0 * infinity is still 0, then the 1 s floor */
    expect_decision(&cfg, 50, NULL, "x", 0, 1);

    cfg.backoff_rate = 2;
    cfg.initial_delay_seconds = 0.2;   /* rounded up (js rounds to nearest: it would give 1 too) */
    expect_decision(&cfg, 1, NULL, "x", 0, 1);
    cfg.initial_delay_seconds = 1.2;   /* ceil, not round: js would say 1 */
    expect_decision(&cfg, 1, NULL, "x", 0, 2);
    expect_decision(&cfg, 2, NULL, "x", 0, 3);   /* 2.4 -> 3 */

    /* The service's 366-day limit caps even a larger max_delay. */
    cfg.initial_delay_seconds = 1e9;
    cfg.max_delay_seconds = 1e12;
    expect_decision(&cfg, 1, NULL, "x", 0, 31622400);
    cfg.max_delay_seconds = 31622400.5;
    expect_decision(&cfg, 1, NULL, "x", 0, 31622400);
    cfg.max_delay_seconds = 31622399.5;
    expect_decision(&cfg, 1, NULL, "x", 0, 31622400);

    /* max_delay caps before jitter: FULL jitter of a capped base stays below it. */
    cfg.initial_delay_seconds = 100;
    cfg.max_delay_seconds = 10;
    cfg.jitter = PERDURE_JITTER_FULL;
    expect_decision(&cfg, 1, NULL, "x", 0.999, 10);
    cfg.jitter = PERDURE_JITTER_HALF;
    expect_decision(&cfg, 1, NULL, "x", 0, 5);

    /* max_delay 0 and FULL jitter at 0: the 1 s floor. */
    cfg.max_delay_seconds = 0;
    expect_decision(&cfg, 1, NULL, "x", 0.5, 1);
}

Test(retry, linear_backoff)
{
    perdure_retry_config cfg = preset_cfg(PERDURE_RETRY_LINEAR);
    cfg.max_attempts = 20;
    cfg.initial_delay_seconds = 10;
    cfg.increment_seconds = 7;
    cfg.max_delay_seconds = 50;
    expect_decision(&cfg, 1, NULL, "x", 0, 10);
    expect_decision(&cfg, 4, NULL, "x", 0, 31);
    expect_decision(&cfg, 7, NULL, "x", 0, 50);   /* 52 capped */
    cfg.increment_seconds = 0;
    expect_decision(&cfg, 19, NULL, "x", 0, 10);
    /* backoff_rate is not read by the linear backoff. */
    cfg.backoff_rate = -1;
    expect_decision(&cfg, 2, NULL, "x", 0, 10);
}

Test(retry, validation)
{
    const perdure_retry_config good = preset_cfg(PERDURE_RETRY_DEFAULT);
    perdure_retry_config cfg;
    perdure_error_info e = {0};
    perdure_retry_decision d;

    cr_expect_eq(perdure_retry_decide(NULL, 1, &e, 0, &d), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_retry_decide(&good, 1, NULL, 0, &d), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_retry_decide(&good, 1, &e, 0, NULL), PERDURE_E_MISUSE);

    cr_expect_eq(retry_status(&good, 0, 0), PERDURE_E_INVALID, "attempts count from 1");
    cr_expect_eq(retry_status(&good, 1, 1.0), PERDURE_E_INVALID);
    cr_expect_eq(retry_status(&good, 1, -0.1), PERDURE_E_INVALID);
    cr_expect_eq(retry_status(&good, 1, NAN), PERDURE_E_INVALID);

#define EXPECT_INVALID(field, value)                                                              \
    do {                                                                                          \
        cfg = good;                                                                               \
        cfg.field = value;                                                                        \
        cr_expect_eq(retry_status(&cfg, 1, 0), PERDURE_E_INVALID, #field " = " #value);            \
    } while (0)
    EXPECT_INVALID(size, 0);
    EXPECT_INVALID(size, offsetof(perdure_retry_config, retryable_error_types_len) + 7);
    EXPECT_INVALID(rounding, (perdure_rounding)2);
    EXPECT_INVALID(max_attempts, 0);
    EXPECT_INVALID(initial_delay_seconds, -1);
    EXPECT_INVALID(initial_delay_seconds, INFINITY);
    EXPECT_INVALID(max_delay_seconds, NAN);
    EXPECT_INVALID(max_delay_seconds, -0.5);
    EXPECT_INVALID(backoff_rate, 0);
    EXPECT_INVALID(backoff_rate, -2);
    EXPECT_INVALID(backoff_rate, INFINITY);
    EXPECT_INVALID(backoff, (perdure_backoff)2);
    EXPECT_INVALID(jitter, (perdure_jitter)3);
#undef EXPECT_INVALID
    cfg = preset_cfg(PERDURE_RETRY_LINEAR);
    cfg.increment_seconds = -1;
    cr_expect_eq(retry_status(&cfg, 1, 0), PERDURE_E_INVALID);
    cfg.increment_seconds = NAN;
    cr_expect_eq(retry_status(&cfg, 1, 0), PERDURE_E_INVALID);

    /* A larger struct from a newer caller is fine. */
    cfg = good;
    cfg.size = sizeof cfg + 16;
    cr_expect_eq(retry_status(&cfg, 1, 0), PERDURE_OK);
}

/* ---- wait strategy ------------------------------------------------------------ */

static perdure_wait_config wait_defaults(void)
{
    perdure_wait_config cfg;
    memset(&cfg, 0xff, sizeof cfg);
    cr_assert_eq(perdure_wait_config_init(&cfg), PERDURE_OK);
    return cfg;
}

static void expect_wait(const perdure_wait_config *cfg, unsigned attempt, double random01, long long delay)
{
    perdure_retry_decision d = {-1, -1};
    cr_assert_eq(perdure_wait_decide(cfg, attempt, random01, &d), PERDURE_OK, "attempt %u", attempt);
    cr_expect_eq(d.should_retry, delay > 0, "attempt %u should_retry %d", attempt, d.should_retry);
    cr_expect_eq(d.delay_seconds, delay, "attempt %u random %g: %lld != %lld", attempt, random01, d.delay_seconds,
                 delay);
}

Test(wait, defaults)
{
    perdure_wait_config cfg = wait_defaults();
    cr_expect_eq(cfg.size, sizeof cfg);
    cr_expect_eq(cfg.max_attempts, 60);
    cr_expect_eq(cfg.initial_delay_seconds, 5);
    cr_expect_eq(cfg.max_delay_seconds, 300);
    cr_expect_eq(cfg.backoff_rate, 1.5);
    cr_expect_eq(cfg.jitter, PERDURE_JITTER_FULL);
    cr_expect_eq(perdure_wait_config_init(NULL), PERDURE_E_MISUSE);
}

Test(wait, delays_and_exhaustion)
{
    perdure_wait_config cfg = wait_defaults();
    cfg.jitter = PERDURE_JITTER_NONE;
    static const int none[] = {5, 8, 12, 17, 26, 38, 57, 86, 129, 193, 289, 300};
    for (unsigned n = 1; n <= 59; n++)
        expect_wait(&cfg, n, 0, n <= 12 ? none[n - 1] : 300);
    /* Attempt 60 wanted to continue: the attempts are used up. */
    expect_wait(&cfg, 60, 0, 0);
    expect_wait(&cfg, 61, 0, 0);

    cfg.jitter = PERDURE_JITTER_FULL;
    static const int full_half[] = {3, 4, 6, 9, 13};
    for (unsigned n = 1; n <= 5; n++)
        expect_wait(&cfg, n, 0.5, full_half[n - 1]);
    expect_wait(&cfg, 1, 0, 1);
    expect_wait(&cfg, 20, 0.999, 300);
    cfg.jitter = PERDURE_JITTER_HALF;
    static const int half_zero[] = {3, 4, 6, 9, 13};
    for (unsigned n = 1; n <= 5; n++)
        expect_wait(&cfg, n, 0, half_zero[n - 1]);

    cfg.max_attempts = 1;   /* a single check: never continue */
    expect_wait(&cfg, 1, 0, 0);
}

Test(wait, validation)
{
    const perdure_wait_config good = wait_defaults();
    perdure_wait_config cfg;
    perdure_retry_decision d;
    cr_expect_eq(perdure_wait_decide(NULL, 1, 0, &d), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_wait_decide(&good, 1, 0, NULL), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_wait_decide(&good, 0, 0, &d), PERDURE_E_INVALID);
    cr_expect_eq(perdure_wait_decide(&good, 1, 1, &d), PERDURE_E_INVALID);

#define EXPECT_INVALID(field, value)                                                              \
    do {                                                                                          \
        cfg = good;                                                                               \
        cfg.field = value;                                                                        \
        cr_expect_eq(perdure_wait_decide(&cfg, 1, 0, &d), PERDURE_E_INVALID, #field " = " #value); \
    } while (0)
    EXPECT_INVALID(size, offsetof(perdure_wait_config, jitter));
    EXPECT_INVALID(max_attempts, 0);
    EXPECT_INVALID(initial_delay_seconds, -1);
    EXPECT_INVALID(max_delay_seconds, INFINITY);
    EXPECT_INVALID(backoff_rate, 0);
    EXPECT_INVALID(backoff_rate, NAN);
    EXPECT_INVALID(jitter, (perdure_jitter)9);
#undef EXPECT_INVALID

    pd_err err = {0};
    cfg = good;
    cfg.backoff_rate = -1;
    cr_expect_eq(pd_wait_decide(&cfg, 1, 0, &d, &err), PERDURE_E_INVALID);
    cr_expect(strstr(err.msg, "wait config") && strstr(err.msg, "backoff_rate"), "%s", err.msg);
    cr_expect_eq(pd_wait_decide(NULL, 1, 0, &d, &err), PERDURE_E_MISUSE);
}

/* ---- completion policies -------------------------------------------------------- */

static perdure_completion_config completion(int min_successful, int count, double pct)
{
    perdure_completion_config cfg;
    cr_assert_eq(perdure_completion_config_init(&cfg), PERDURE_OK);
    cfg.min_successful = min_successful;
    cfg.tolerated_failure_count = count;
    cfg.tolerated_failure_percentage = pct;
    return cfg;
}

/* The presets of py CompletionConfig, and the kinds' defaults. */
#define FAIL_FAST completion(-1, -1, -1)         /* CompletionConfig(): map's default */
#define FIRST_SUCCESSFUL completion(1, -1, -1)
#define ALL_COMPLETED completion(-1, -1, 100)
#define ALL_SUCCESSFUL completion(-1, 0, 0)      /* parallel's default */

static void expect_completion(perdure_completion_config cfg, unsigned total, unsigned succeeded, unsigned failed,
                              perdure_completion_reason want)
{
    perdure_completion_reason got = (perdure_completion_reason)-1;
    cr_assert_eq(perdure_completion_check(&cfg, total, succeeded, failed, &got), PERDURE_OK,
                 "total %u succeeded %u failed %u", total, succeeded, failed);
    cr_expect_eq(got, want, "(min %d, count %d, pct %g) total %u succeeded %u failed %u: reason %d, want %d",
                 cfg.min_successful, cfg.tolerated_failure_count, cfg.tolerated_failure_percentage, total, succeeded,
                 failed, (int)got, (int)want);
}

#define R_NONE PERDURE_COMPLETION_NONE
#define R_ALL PERDURE_COMPLETION_ALL_COMPLETED
#define R_MIN PERDURE_COMPLETION_MIN_SUCCESSFUL_REACHED
#define R_TOL PERDURE_COMPLETION_FAILURE_TOLERANCE_EXCEEDED

Test(completion, init_is_all_unset)
{
    perdure_completion_config cfg;
    memset(&cfg, 0x55, sizeof cfg);
    cr_assert_eq(perdure_completion_config_init(&cfg), PERDURE_OK);
    cr_expect_eq(cfg.size, sizeof cfg);
    cr_expect_eq(cfg.min_successful, -1);
    cr_expect_eq(cfg.tolerated_failure_count, -1);
    cr_expect_lt(cfg.tolerated_failure_percentage, 0);
    cr_expect_eq(perdure_completion_config_init(NULL), PERDURE_E_MISUSE);
}

Test(completion, fail_fast)
{
    expect_completion(FAIL_FAST, 4, 0, 0, R_NONE);
    expect_completion(FAIL_FAST, 4, 3, 0, R_NONE);
    expect_completion(FAIL_FAST, 4, 0, 1, R_TOL);
    expect_completion(FAIL_FAST, 4, 4, 0, R_ALL);
    /* The last item fails: tolerance is checked before "all completed". */
    expect_completion(FAIL_FAST, 4, 3, 1, R_TOL);
    /* A negative percentage other than -1 is also unset. */
    expect_completion(completion(-1, -1, -7.5), 2, 0, 1, R_TOL);
}

Test(completion, tolerated_count)
{
    perdure_completion_config cfg = completion(-1, 2, -1);
    expect_completion(cfg, 5, 0, 2, R_NONE);   /* exactly at the tolerance */
    expect_completion(cfg, 5, 0, 3, R_TOL);    /* over */
    expect_completion(cfg, 5, 3, 2, R_ALL);
    expect_completion(completion(-1, 0, -1), 3, 2, 0, R_NONE);
    expect_completion(completion(-1, 0, -1), 3, 0, 1, R_TOL);
}

Test(completion, tolerated_percentage)
{
    perdure_completion_config cfg = completion(-1, -1, 25);
    /* Suite 8-22: 1 of 4 is exactly 25%: not exceeded, every item runs. */
    expect_completion(cfg, 4, 0, 1, R_NONE);
    expect_completion(cfg, 4, 2, 1, R_NONE);
    expect_completion(cfg, 4, 3, 1, R_ALL);
    /* Suite 9-10: 2 of 4 is 50% > 25%: stops early. The base is the total,
     * not the completed items (1 of 1 completed would be 100%). */
    expect_completion(cfg, 4, 0, 2, R_TOL);
    /* Just over, by one item in a large batch. */
    expect_completion(cfg, 1000, 0, 250, R_NONE);
    expect_completion(cfg, 1000, 0, 251, R_TOL);
    expect_completion(completion(-1, -1, 0), 10, 9, 0, R_NONE);
    expect_completion(completion(-1, -1, 0), 10, 0, 1, R_TOL);
    /* (1/3)*100 is 33.33333333333333, but 1*100/3 is 33.333333333333336:
     * the SDKs' expression must be used for the boundary to hold. */
    expect_completion(completion(-1, -1, 33.33333333333333), 3, 0, 1, R_NONE);
    expect_completion(completion(-1, -1, 33.33333333333333), 3, 0, 2, R_TOL);
}

Test(completion, count_and_percentage_either_exceeds)
{
    expect_completion(completion(-1, 1, 50), 10, 0, 2, R_TOL);   /* count exceeded, 20% within */
    expect_completion(completion(-1, 5, 10), 10, 0, 2, R_TOL);   /* 20% > 10%, count within */
    expect_completion(completion(-1, 5, 50), 10, 0, 2, R_NONE);
}

Test(completion, min_successful)
{
    perdure_completion_config cfg = completion(2, -1, -1);
    expect_completion(cfg, 5, 1, 0, R_NONE);
    expect_completion(cfg, 5, 2, 0, R_MIN);
    expect_completion(cfg, 5, 3, 1, R_MIN);
    /* With a criterion set, failures are not fail-fast. */
    expect_completion(cfg, 5, 1, 3, R_NONE);
    expect_completion(cfg, 5, 0, 5, R_ALL);
    /* Reaching the minimum with the last item reports ALL_COMPLETED. */
    expect_completion(cfg, 5, 2, 3, R_ALL);
    expect_completion(completion(5, -1, -1), 5, 5, 0, R_ALL);
    expect_completion(completion(3, 1, -1), 6, 3, 1, R_MIN);
    /* Tolerance first: both reached at once reports the failure. */
    expect_completion(completion(3, 1, -1), 6, 2, 2, R_TOL);
    expect_completion(completion(3, 1, -1), 6, 3, 2, R_TOL);
}

Test(completion, presets)
{
    expect_completion(FIRST_SUCCESSFUL, 3, 0, 0, R_NONE);
    expect_completion(FIRST_SUCCESSFUL, 3, 0, 2, R_NONE);
    expect_completion(FIRST_SUCCESSFUL, 3, 1, 1, R_MIN);
    expect_completion(FIRST_SUCCESSFUL, 3, 0, 3, R_ALL);

    expect_completion(ALL_COMPLETED, 3, 0, 2, R_NONE);
    expect_completion(ALL_COMPLETED, 3, 0, 3, R_ALL);
    expect_completion(ALL_COMPLETED, 3, 2, 1, R_ALL);

    expect_completion(ALL_SUCCESSFUL, 3, 2, 0, R_NONE);
    expect_completion(ALL_SUCCESSFUL, 3, 0, 1, R_TOL);
    expect_completion(ALL_SUCCESSFUL, 3, 3, 0, R_ALL);
}

Test(completion, empty_batch)
{
    expect_completion(FAIL_FAST, 0, 0, 0, R_ALL);
    expect_completion(ALL_SUCCESSFUL, 0, 0, 0, R_ALL);
    expect_completion(ALL_COMPLETED, 0, 0, 0, R_ALL);
}

static void expect_invalid(perdure_completion_config cfg, unsigned total, const char *message)
{
    pd_err err = {0};
    cr_expect_eq(pd_completion_validate(&cfg, total, &err), PERDURE_E_INVALID);
    cr_expect_str_eq(err.msg, message);
    perdure_completion_reason r = R_ALL;
    cr_expect_eq(perdure_completion_check(&cfg, total, 0, 0, &r), PERDURE_E_INVALID);
    cr_expect_eq(r, R_NONE);
}

Test(completion, validation)
{
    /* The py SDK's ValidationError messages. */
    expect_invalid(completion(0, -1, -1), 3, "min_successful must be at least 1, got: 0");
    expect_invalid(completion(-2, -1, -1), 3, "min_successful must be at least 1, got: -2");
    expect_invalid(completion(-1, -3, -1), 3, "tolerated_failure_count must be non-negative, got: -3");
    expect_invalid(completion(-1, -1, 100.5), 3, "tolerated_failure_percentage must be between 0 and 100, got: 100.5");
    expect_invalid(completion(-1, -1, NAN), 3, "tolerated_failure_percentage must be between 0 and 100, got: nan");
    expect_invalid(completion(5, -1, -1), 3, "min_successful cannot be greater than total items: 5 > 3");
    expect_invalid(completion(1, -1, -1), 0, "min_successful cannot be greater than total items: 1 > 0");

    perdure_completion_config cfg = FAIL_FAST;
    pd_err err = {0};
    cr_expect_eq(pd_completion_validate(&cfg, 3, &err), PERDURE_OK);
    cr_expect_eq(pd_completion_validate(NULL, 3, &err), PERDURE_E_MISUSE);
    cfg.size = offsetof(perdure_completion_config, tolerated_failure_percentage);
    cr_expect_eq(pd_completion_validate(&cfg, 3, &err), PERDURE_E_INVALID);

    perdure_completion_reason r;
    cfg = FAIL_FAST;
    cr_expect_eq(perdure_completion_check(NULL, 3, 0, 0, &r), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_completion_check(&cfg, 3, 0, 0, NULL), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_completion_check(&cfg, 3, 2, 2, &r), PERDURE_E_INVALID, "more outcomes than items");
    cr_expect_eq(perdure_completion_check(&cfg, 3, 0xffffffffu, 0xffffffffu, &r), PERDURE_E_INVALID);
    /* Boundaries that are valid. */
    cr_expect_eq(pd_completion_validate(&(perdure_completion_config){sizeof cfg, 3, 0, 100}, 3, &err), PERDURE_OK);
}

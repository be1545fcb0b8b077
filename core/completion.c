/* Completion policies of map and parallel: when a batch is done, and why.
 * The rules and their sources are in schema/strategies.md. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

#define UNSET (-1)

static bool pct_set(const perdure_completion_config *cfg) { return cfg->tolerated_failure_percentage >= 0; }

static bool tolerance_exceeded(const perdure_completion_config *cfg, unsigned total, unsigned failed)
{
    /* No criterion at all is fail-fast: the first failure ends the batch. */
    if (cfg->min_successful == UNSET && cfg->tolerated_failure_count == UNSET && !pct_set(cfg))
        return failed > 0;
    if (cfg->tolerated_failure_count != UNSET && failed > (unsigned)cfg->tolerated_failure_count)
        return true;
    /* Strictly greater, over all items (not over the completed ones), with
     * the SDKs' exact float expression so that boundaries agree bit for bit. */
    return pct_set(cfg) && total > 0 &&
           ((double)failed / total) * 100 > cfg->tolerated_failure_percentage;
}

perdure_status perdure_completion_config_init(perdure_completion_config *cfg)
{
    if (!cfg)
        return PERDURE_E_MISUSE;
    *cfg = (perdure_completion_config){
        .size = sizeof *cfg,
        .min_successful = UNSET,
        .tolerated_failure_count = UNSET,
        .tolerated_failure_percentage = UNSET,
    };
    return PERDURE_OK;
}

/* The py SDK's CompletionConfig checks plus its check against the item count,
 * with the same messages. */
perdure_status pd_completion_validate(const perdure_completion_config *cfg, unsigned total, pd_err *err)
{
    if (!cfg)
        return pd_fail(err, PERDURE_E_MISUSE, "completion config: NULL");
    size_t needed = offsetof(perdure_completion_config, tolerated_failure_percentage) +
                    sizeof cfg->tolerated_failure_percentage;
    if (cfg->size < needed)
        return pd_fail(err, PERDURE_E_INVALID, "completion config: size %u is too small", cfg->size);
    if (cfg->min_successful != UNSET && cfg->min_successful < 1)
        return pd_fail(err, PERDURE_E_INVALID, "min_successful must be at least 1, got: %d", cfg->min_successful);
    if (cfg->tolerated_failure_count != UNSET && cfg->tolerated_failure_count < 0)
        return pd_fail(err, PERDURE_E_INVALID, "tolerated_failure_count must be non-negative, got: %d",
                       cfg->tolerated_failure_count);
    /* Negative percentages mean "unset"; NaN and values above 100 are errors. */
    if (isnan(cfg->tolerated_failure_percentage) || cfg->tolerated_failure_percentage > 100)
        return pd_fail(err, PERDURE_E_INVALID, "tolerated_failure_percentage must be between 0 and 100, got: %g",
                       cfg->tolerated_failure_percentage);
    if (cfg->min_successful != UNSET && (unsigned)cfg->min_successful > total)
        return pd_fail(err, PERDURE_E_INVALID, "min_successful cannot be greater than total items: %d > %u",
                       cfg->min_successful, total);
    return PERDURE_OK;
}

perdure_completion_reason pd_completion_check(const perdure_completion_config *cfg, unsigned total,
                                              unsigned succeeded, unsigned failed)
{
    /* Tolerance is checked first, then "all done", then min_successful: a
     * batch whose last item both reaches min_successful and finishes the
     * batch reports ALL_COMPLETED, as in both SDKs. */
    bool all_done = (unsigned long long)succeeded + failed >= total;
    if (tolerance_exceeded(cfg, total, failed))
        return PERDURE_COMPLETION_FAILURE_TOLERANCE_EXCEEDED;
    if (all_done)
        return PERDURE_COMPLETION_ALL_COMPLETED;
    if (cfg->min_successful != UNSET && succeeded >= (unsigned)cfg->min_successful)
        return PERDURE_COMPLETION_MIN_SUCCESSFUL_REACHED;
    return PERDURE_COMPLETION_NONE;
}

perdure_status perdure_completion_check(const perdure_completion_config *cfg, unsigned int total,
                                        unsigned int succeeded, unsigned int failed,
                                        perdure_completion_reason *out)
{
    if (!cfg || !out)
        return PERDURE_E_MISUSE;
    *out = PERDURE_COMPLETION_NONE;
    perdure_status st = pd_completion_validate(cfg, total, NULL);
    if (st)
        return st;
    if ((unsigned long long)succeeded + failed > total)
        return PERDURE_E_INVALID;
    *out = pd_completion_check(cfg, total, succeeded, failed);
    return PERDURE_OK;
}

'use strict';
/**
 * Retry and wait strategies: createRetryStrategy, createLinearRetryStrategy,
 * retryPresets, createWaitStrategy and withRetry, with the official names and
 * defaults. The decisions are libperdure's: a strategy made here is a function
 * (error, attemptsMade) => RetryDecision that asks perdure_retry_decide (or
 * perdure_wait_decide) with the strategy as a perdure_retry_config. The only
 * thing done in JS is translating JS-only notions to the config's terms: an
 * error class filter becomes the name of the listed class the error is an
 * instance of, and a RegExp becomes a POSIX extended regex (or, when it uses
 * syntax POSIX lacks, the outcome of RegExp.test as a literal filter).
 */
const { native, C } = require('./native');
const { durationToSeconds } = require('./duration');

const JitterStrategy = Object.freeze({ NONE: 'NONE', FULL: 'FULL', HALF: 'HALF' });
const JITTER = { NONE: C.JITTER_NONE, FULL: C.JITTER_FULL, HALF: C.JITTER_HALF };

/** The perdure_retry_config behind a strategy made by createRetryStrategy (for introspection). */
const RETRY_CONFIG = Symbol.for('perdure.retryConfig');
const NEVER = '\u0001perdure: matches no message\u0001';

function jitterOf(j, dflt) {
  if (j === undefined) return dflt;
  if (!(j in JITTER)) throw new TypeError(`jitter must be one of ${Object.keys(JITTER).join(', ')}, got ${j}`);
  return JITTER[j];
}

/** A JS RegExp as a POSIX extended regex, or null when it cannot be one. */
function posixRegex(re) {
  let src = re.source;
  if (/\(\?|[*+?}]\?|\\[1-9kpPuxcBfvntr0]/.test(src) || /[gmsuy]/.test(re.flags.replace(/[gsy]/g, ''))) return null;
  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const ch = src[i];
    if (ch === '\\' && i + 1 < src.length) {
      const nx = src[++i];
      if (nx === 'd') out += inClass ? '0-9' : '[0-9]';
      else if (nx === 'D') { if (inClass) return null; out += '[^0-9]'; } else out += `\\${nx}`;
      continue;
    }
    if (ch === '[') inClass = true;
    else if (ch === ']') inClass = false;
    if (re.flags.includes('i') && /[a-zA-Z]/.test(ch)) {
      const pair = ch.toLowerCase() + ch.toUpperCase();
      out += inClass ? pair : `[${pair}]`;
    } else {
      out += ch;
    }
  }
  return out;
}

function errorName(error) {
  return (error && (error.name || (error.constructor && error.constructor.name))) || 'Error';
}

function errorMessage(error) {
  return error && typeof error.message === 'string' ? error.message : String(error);
}

/**
 * The perdure_retry_config for one decision about `error`. `retryableErrors`
 * and `retryableErrorTypes` are the user's filters (undefined when unset).
 */
function configFor(base, retryableErrors, retryableErrorTypes, error) {
  const cfg = { ...base };
  let type = errorName(error);
  if (retryableErrors !== undefined || retryableErrorTypes !== undefined) {
    cfg.retryableErrors = (retryableErrors || []).map((p) => {
      if (p instanceof RegExp) {
        const posix = posixRegex(p);
        if (posix !== null) return { pattern: posix, regex: true };
        return { pattern: p.test(errorMessage(error)) ? '' : NEVER, regex: false };
      }
      return { pattern: String(p), regex: false };
    });
    const classes = retryableErrorTypes || [];
    cfg.retryableErrorTypes = classes.map((cls) => cls.name || String(cls));
    const match = classes.find((cls) => typeof cls === 'function' && error instanceof cls);
    if (match) type = match.name;
    // Filters given but all empty: nothing is retryable (an empty C filter would mean "everything").
    if (!cfg.retryableErrors.length && !cfg.retryableErrorTypes.length) cfg.retryableErrors = [{ pattern: NEVER }];
  }
  return { cfg, info: { ErrorType: type, ErrorMessage: errorMessage(error) } };
}

function makeStrategy(preset, config) {
  const { retryableErrors, retryableErrorTypes } = config;
  // The JS SDK rounds a jittered delay to the nearest second (Python rounds up).
  const base = { ...preset, rounding: C.ROUND_NEAREST };
  const strategy = (error, attemptsMade) => {
    const { cfg, info } = configFor(base, retryableErrors, retryableErrorTypes, error);
    // perdure_retry_decide
    const d = native.retryDecide(cfg, attemptsMade, info, Math.random());
    return d.shouldRetry ? { shouldRetry: true, delay: { seconds: d.delaySeconds } } : { shouldRetry: false };
  };
  Object.defineProperty(strategy, RETRY_CONFIG, { value: Object.freeze({ ...base }) });
  return strategy;
}

/** Exponential backoff. Defaults (official): 3 attempts, 5 s initial, 5 min max, rate 2, FULL jitter. */
function createRetryStrategy(config = {}) {
  const base = native.retryPreset(C.RETRY_CONFIG_DEFAULTS);   // perdure_retry_config_preset
  if (config.maxAttempts !== undefined) base.maxAttempts = config.maxAttempts;
  if (config.initialDelay !== undefined) base.initialDelaySeconds = durationToSeconds(config.initialDelay, 'initialDelay');
  if (config.maxDelay !== undefined) base.maxDelaySeconds = durationToSeconds(config.maxDelay, 'maxDelay');
  if (config.backoffRate !== undefined) base.backoffRate = config.backoffRate;
  base.jitter = jitterOf(config.jitter, base.jitter);
  return makeStrategy(base, config);
}

/** Linear backoff. Defaults (official): 6 attempts, 1 s initial, +1 s, 5 min max, FULL jitter. */
function createLinearRetryStrategy(config = {}) {
  const base = native.retryPreset(C.RETRY_LINEAR);
  base.jitter = C.JITTER_FULL;
  if (config.maxAttempts !== undefined) base.maxAttempts = config.maxAttempts;
  if (config.initialDelay !== undefined) base.initialDelaySeconds = durationToSeconds(config.initialDelay, 'initialDelay');
  if (config.increment !== undefined) base.incrementSeconds = durationToSeconds(config.increment, 'increment');
  if (config.maxDelay !== undefined) base.maxDelaySeconds = durationToSeconds(config.maxDelay, 'maxDelay');
  base.jitter = jitterOf(config.jitter, base.jitter);
  return makeStrategy(base, config);
}

const retryPresets = Object.freeze({
  /** 6 attempts, 5 s .. 60 s, x2, FULL jitter: what a step without a strategy uses. */
  default: makeStrategy(native.retryPreset(C.RETRY_DEFAULT), {}),
  /** 6 attempts, 1 s, 2 s, 3 s, ... no jitter. */
  linear: makeStrategy(native.retryPreset(C.RETRY_LINEAR), {}),
  /** 1 attempt. */
  noRetry: makeStrategy(native.retryPreset(C.RETRY_NONE), {}),
});

/**
 * waitForCondition's strategy. Defaults (official): 60 attempts, 5 s initial,
 * 300 s max, rate 1.5, FULL jitter. Exhaustion throws (the condition fails
 * with WaitForConditionError).
 */
function createWaitStrategy(config) {
  if (!config || typeof config.shouldContinuePolling !== 'function') {
    throw new TypeError('createWaitStrategy: config.shouldContinuePolling(state) is required');
  }
  const cfg = { ...native.waitConfigInit(), rounding: C.ROUND_NEAREST };   // perdure_wait_config_init
  if (config.maxAttempts !== undefined) cfg.maxAttempts = config.maxAttempts;
  if (config.initialDelay !== undefined) cfg.initialDelaySeconds = durationToSeconds(config.initialDelay, 'initialDelay');
  if (config.maxDelay !== undefined) cfg.maxDelaySeconds = durationToSeconds(config.maxDelay, 'maxDelay');
  if (config.backoffRate !== undefined) cfg.backoffRate = config.backoffRate;
  cfg.jitter = jitterOf(config.jitter, cfg.jitter);
  return (state, attemptsMade) => {
    if (!config.shouldContinuePolling(state)) return { shouldContinue: false };
    const d = native.waitDecide(cfg, attemptsMade, Math.random());   // perdure_wait_decide
    if (!d.shouldRetry) throw new Error(`waitForCondition exceeded maximum attempts (${cfg.maxAttempts})`);
    return { shouldContinue: true, delay: { seconds: d.delaySeconds } };
  };
}

/**
 * withRetry(context, name?, func(ctx, attempt), config): retries a group of
 * durable operations, waiting `{name}-backoff-{n}` between attempts as the
 * strategy decides; by default inside a child context.
 */
async function withRetry(context, nameOrFunc, funcOrConfig, maybeConfig) {
  const hasName = typeof nameOrFunc === 'string';
  const name = hasName ? nameOrFunc : undefined;
  const func = hasName ? funcOrConfig : nameOrFunc;
  const config = hasName ? maybeConfig : funcOrConfig;
  if (!config) throw new TypeError('withRetry: config is required');
  const { retryStrategy, wrapWithRunInChildContext = true, childContextConfig } = config;
  const loop = async (ctx) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await func(ctx, attempt);
      } catch (err) {
        const decision = retryStrategy(err, attempt);
        if (!decision.shouldRetry) throw err;
        const delay = decision.delay || { seconds: 1 };
        if (name) await ctx.wait(`${name}-backoff-${attempt}`, delay);
        else await ctx.wait(delay);
      }
    }
  };
  if (!wrapWithRunInChildContext) return loop(context);
  return name ? context.runInChildContext(name, loop, childContextConfig)
    : context.runInChildContext(loop, childContextConfig);
}

module.exports = {
  JitterStrategy, RETRY_CONFIG, createRetryStrategy, createLinearRetryStrategy, retryPresets, createWaitStrategy,
  withRetry, posixRegex,
};

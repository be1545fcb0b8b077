'use strict';
/**
 * DurableContext: the operations a durable handler calls, with the names,
 * overloads and defaults of @aws/durable-execution-sdk-js 2.x.
 *
 * Each operation is declared to the C replay VM synchronously, at the call
 * (the VM derives its id from the call order, checks it against the history
 * and decides what happens next), then driven to its answer: run the user's
 * body, replay a recorded result, throw a recorded error, or wait for the
 * service (the promise then never settles and the engine ends the invocation
 * PENDING once nothing else can run). As in the official SDK, an operation
 * starts at once; the DurablePromise it returns gives its outcome when awaited.
 */
const { native, C } = require('./native');
const {
  ChildContextError, InvalidStateError, ValidationError, PromiseCombinatorError, StepInterruptedError,
  UnrecoverableError, errorObject,
} = require('./errors');
const { defaultSerdes, passThroughSerdes, serialize, deserialize } = require('./serdes');
const { durationToSeconds } = require('./duration');
const { BatchResultImpl, BatchItemStatus, NestingType, batchResultSerdes } = require('./batch');
const { JsonLineLogger, contextLogger, durableLoggingContext } = require('./logger');

// A step without a retryStrategy: the default preset, rounded as the JS SDK rounds.
const DEFAULT_STEP_RETRY = Object.freeze({ ...native.retryPreset(C.RETRY_DEFAULT), rounding: C.ROUND_NEAREST });

// The only step configs there are (semantics x who decides retries), each
// converted to its perdure_step_config once rather than at every step.
const STEP_CONFIGS = new Map();
function stepConfig(semantics, callerDecidesRetry) {
  const key = semantics * 2 + (callerDecidesRetry ? 1 : 0);
  let cfg = STEP_CONFIGS.get(key);
  if (!cfg) {
    cfg = native.stepConfig({ semantics, callerDecidesRetry, retry: callerDecidesRetry ? undefined : DEFAULT_STEP_RETRY });
    STEP_CONFIGS.set(key, cfg);
  }
  return cfg;
}

const StepSemantics = Object.freeze({
  AtMostOncePerRetry: 'AT_MOST_ONCE_PER_RETRY',
  AtLeastOncePerRetry: 'AT_LEAST_ONCE_PER_RETRY',
});

const REASONS = {
  [C.COMPLETION_ALL_COMPLETED]: 'ALL_COMPLETED',
  [C.COMPLETION_MIN_SUCCESSFUL_REACHED]: 'MIN_SUCCESSFUL_REACHED',
  [C.COMPLETION_FAILURE_TOLERANCE_EXCEEDED]: 'FAILURE_TOLERANCE_EXCEEDED',
};

/**
 * A promise whose work starts when it is first awaited (then/catch/finally).
 * Operations of DurableContext start their work at once and hand the running
 * promise to it; combinators and callback results stay lazy.
 */
class DurablePromise {
  constructor(executor) {
    this._executor = executor;
    this._promise = null;
    this._isExecuted = false;
  }

  /** A DurablePromise of a value known already (a replayed result): no executor to defer. */
  static resolved(value) {
    const p = new DurablePromise(null);
    p._value = value;
    return p;
  }

  _ensure() {
    if (!this._promise) {
      this._isExecuted = true;
      this._promise = this._executor ? Promise.resolve().then(() => this._executor()) : Promise.resolve(this._value);
    }
    return this._promise;
  }

  then(onfulfilled, onrejected) { return this._ensure().then(onfulfilled, onrejected); }
  catch(onrejected) { return this._ensure().catch(onrejected); }
  finally(onfinally) { return this._ensure().finally(onfinally); }
  get [Symbol.toStringTag]() { return 'DurablePromise'; }
  get isExecuted() { return this._isExecuted; }
}

const PARSE_FAILED = Symbol('parse failed');

/** defaultSerdes.deserialize without its promise ('' is no result); PARSE_FAILED lets deserialize report the error. */
function parseOrFail(text) {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return PARSE_FAILED;
  }
}

function isFatal(e) {
  return e instanceof UnrecoverableError;
}

/** A JSON serdes call that must not wait: the default serdes is run synchronously. */
function serializeNow(serdes, value) {
  if (serdes === defaultSerdes || serdes === undefined) return value === undefined ? undefined : JSON.stringify(value);
  return null;   // a custom serdes: the caller awaits it
}

class DurableContextImpl {
  /**
   * @param {import('./engine').Engine} engine
   * @param {number} handle the perdure_ctx (PERDURE_ROOT or a context operation)
   * @param {string|undefined} parentId the id of the enclosing context operation
   * @param {object} shared {loggerState, serdes: {defaultSerdes, defaultCallbackDeserializer}, lambdaContext}
   */
  constructor(engine, handle, parentId, shared, parentCtx = null) {
    this._engine = engine;
    this._parentCtx = parentCtx;
    this._dead = false;   // an abandoned map/parallel item (reported blocked)
    this._handle = handle;
    this._parentId = parentId;
    this._shared = shared;
    this.lambdaContext = shared.lambdaContext;
    this.executionContext = Object.freeze({ durableExecutionArn: engine.arn });
    this._loggerState = shared.loggerState;
    this.logger = this._logger({});
    this.promise = Object.freeze({
      all: (a, b) => this._combinator(a, b, (ps) => Promise.all(ps)),
      allSettled: (a, b) => this._combinator(a, b, (ps) => Promise.allSettled(ps), settledSerdes),
      any: (a, b) => this._combinator(a, b, (ps) => Promise.any(ps)),
      race: (a, b) => this._combinator(a, b, (ps) => Promise.race(ps)),
    });
  }

  // -- helpers ----------------------------------------------------------------
  _logger(extra) {
    const data = { executionArn: this._engine.arn, durableExecutionArn: this._engine.arn };
    if (this._parentId) data.parentId = this._parentId;
    Object.assign(data, extra);
    const engine = this._engine;
    return contextLogger(this._loggerState, data, () => {
      try { return engine.vm !== null && engine.active && engine.call('vmIsReplaying'); } catch { return false; }
    });
  }

  _opLogger(operationId, operationName, attempt) {
    const extra = { operationId };
    if (operationName) extra.operationName = operationName;
    if (attempt !== undefined) extra.attempt = attempt;
    return this._logger(extra);
  }

  _serdes(s) {
    return s || this._shared.serdes.defaultSerdes || defaultSerdes;
  }

  _child(op, parentId) {
    return new DurableContextImpl(this._engine, op, parentId, this._shared, this);
  }

  _alive() {
    for (let c = this; c; c = c._parentCtx) if (c._dead) return false;
    return true;
  }

  /**
   * Starts an operation: `body` runs now, synchronously up to its first await
   * (so the operation is declared, and gets its id, in call order). Misuse
   * after the invocation ended throws at once; unrecoverable errors end the
   * invocation whether or not user code catches them.
   */
  _launch(body) {
    const engine = this._engine;
    if (!engine.active) {
      throw new InvalidStateError('this DurableContext belongs to an invocation that has already ended: '
        + 'contexts cannot be used after the handler returned (await every operation before returning)');
    }
    let p;
    try {
      engine.checkFatal();
      p = body();
    } catch (e) {
      p = Promise.reject(e);
    }
    if (p instanceof DurablePromise) return p;   // an answer known at the call: nothing left to fail
    p = p.catch((e) => {
      if (e && e.orphaned) return engine.park();   // its map/parallel finished without it
      if (isFatal(e)) engine.fail(e);
      throw e;
    });
    p.catch(() => {});
    return new DurablePromise(() => p);
  }

  /**
   * The operation's answer: its value, its error, or a wait for the service.
   * `text` is the result when vmOpNextResult gave it already.
   */
  async _answer(op, next, serdes, opId, text) {
    const engine = this._engine;
    if (next === C.NEXT_RESULT) {
      const data = text === undefined ? engine.result(op) : text || undefined;
      if (data === undefined || serdes === null) return undefined;
      if (serdes === defaultSerdes) {
        const value = parseOrFail(data);
        if (value !== PARSE_FAILED) return value;
      }
      return deserialize(serdes, data, opId, engine.arn);
    }
    if (next === C.NEXT_ERROR) throw engine.error(op);
    if (next === C.NEXT_SUSPEND) return this._answer(op, await engine.settle(op, this), serdes, opId);
    throw new InvalidStateError(`operation ${opId} wants its body run again (perdure_vm_op_next said ${next})`);
  }

  _call(fn, a, b, c, d) {
    return this._engine.call(fn, this._handle, a, b, c, d);
  }

  // -- step ---------------------------------------------------------------------
  step(a, b, c) {
    const [name, fn, config = {}] = typeof a === 'function' ? [undefined, a, b] : [a, b, c];
    return this._launch(() => {
      if (typeof fn !== 'function') throw new TypeError('step: fn must be a function (stepContext) => Promise<T>');
      const engine = this._engine;
      const strategy = config.retryStrategy;
      const op = this._call('vmStep', name ?? null, stepConfig(                          // perdure_vm_step
        config.semantics === StepSemantics.AtMostOncePerRetry ? C.AT_MOST_ONCE_PER_RETRY : C.AT_LEAST_ONCE_PER_RETRY,
        typeof strategy === 'function'));
      const serdes = this._serdes(config.serdes);
      const first = engine.call('vmOpNextResult', op);   // perdure_vm_op_next, with the result when replayed
      if (typeof first === 'string') {
        // Replayed: the function is not called. The default serdes is
        // JSON.parse, run here rather than through its promise.
        if (serdes === defaultSerdes) {
          const value = parseOrFail(first);
          if (value !== PARSE_FAILED) return DurablePromise.resolved(value);
        }
        return this._answer(op, C.NEXT_RESULT, serdes, engine.opId(op), first);
      }
      return this._runStep(op, engine.opId(op), name, fn, strategy, serdes, first);
    });
  }

  /** Reports a failed attempt: the strategy decides (perdure_vm_op_fail_decided) or the VM's default does. */
  _reportFailure(op, error, strategy, attempt) {
    if (typeof strategy === 'function') {
      let d;
      try {
        d = strategy(error, attempt);
      } catch (e) {
        d = { shouldRetry: false };
      }
      const delay = d && d.shouldRetry ? Math.max(1, durationToSeconds(d.delay || { seconds: 1 }, 'delay')) : 0;
      this._engine.call('vmOpFailDecided', op, errorObject(error), !!(d && d.shouldRetry), delay);
    } else {
      this._engine.call('vmOpFail', op, errorObject(error));      // perdure_vm_op_fail: the VM's strategy
    }
  }

  /** `first` is perdure_vm_op_next's first answer, already taken. */
  async _runStep(op, opId, name, fn, strategy, serdes, first) {
    const engine = this._engine;
    for (;;) {
      const next = await engine.settle(op, this, first);
      first = undefined;
      if (next === C.NEXT_INTERRUPTED) {
        // The process died during the last attempt of an at-most-once step:
        // it is not run again; the strategy decides what follows.
        const interrupted = new StepInterruptedError(opId, name);
        this._reportFailure(op, interrupted, strategy, engine.attempt(op));
        continue;
      }
      if (next !== C.NEXT_EXECUTE) return this._answer(op, next, serdes, opId);
      const attempt = engine.attempt(op);
      const stepContext = { logger: this._opLogger(opId, name, attempt), attempt };
      let value;
      try {
        value = await engine.runBody(() => fn(stepContext));
      } catch (e) {
        if (isFatal(e)) throw e;
        engine.checkFatal();
        this._reportFailure(op, e, strategy, attempt);
        continue;
      }
      engine.checkFatal();
      const payload = await serialize(serdes, value, opId, engine.arn);
      engine.call('vmOpSucceed', op, payload === undefined ? null : payload);   // perdure_vm_op_succeed
    }
  }

  // -- wait -----------------------------------------------------------------------
  wait(a, b) {
    const [name, duration] = typeof a === 'string' ? [a, b] : [undefined, a];
    return this._launch(() => {
      const seconds = durationToSeconds(duration, 'wait duration');
      if (seconds < 1) throw new ValidationError(`wait duration must be at least 1 second, got ${seconds} s`);
      const op = this._call('vmWait', name ?? null, seconds);         // perdure_vm_wait
      const opId = this._engine.opId(op);
      return this._engine.settle(op, this).then((next) => this._answer(op, next, null, opId));
    });
  }

  // -- callbacks ------------------------------------------------------------------------
  _callbackConfig(config) {
    return {
      timeoutSeconds: config.timeout ? durationToSeconds(config.timeout, 'timeout') : 0,
      heartbeatTimeoutSeconds: config.heartbeatTimeout ? durationToSeconds(config.heartbeatTimeout, 'heartbeatTimeout') : 0,
    };
  }

  _callbackSerdes(config) {
    return config.serdes || this._shared.serdes.defaultCallbackDeserializer || passThroughSerdes;
  }

  createCallback(a, b) {
    const [name, config = {}] = a !== null && typeof a === 'object' ? [undefined, a] : [a, b];
    return this._launch(async () => {
      const engine = this._engine;
      const op = this._call('vmCallback', name ?? null, this._callbackConfig(config));   // perdure_vm_callback
      const opId = engine.opId(op);
      await engine.drive(op);   // the START is synchronous: the id exists once it is acknowledged
      const callbackId = engine.callbackId(op);
      const serdes = this._callbackSerdes(config);
      const result = new DurablePromise(() => {
        engine.checkFatal();
        return engine.settle(op, this).then((next) => this._answer(op, next, serdes, opId)).catch((e) => {
          if (isFatal(e)) engine.fail(e);
          throw e;
        });
      });
      return [result, callbackId];
    });
  }

  waitForCallback(a, b, c) {
    const [name, submitter, config = {}] = typeof a === 'function' ? [undefined, a, b] : [a, b, c];
    return this._launch(() => {
      if (typeof submitter !== 'function') throw new TypeError('waitForCallback: submitter must be a function');
      const engine = this._engine;
      const strategy = config.retryStrategy;
      const op = this._call('vmWaitForCallback', name ?? null, this._callbackConfig(config),   // perdure_vm_wait_for_callback
        { semantics: C.AT_LEAST_ONCE_PER_RETRY, callerDecidesRetry: typeof strategy === 'function' });
      const opId = engine.opId(op);
      const serdes = this._callbackSerdes(config);
      return (async () => {
        for (;;) {
          const next = await engine.settle(op, this);
          if (next !== C.NEXT_EXECUTE) return this._answer(op, next, serdes, opId);
          const callbackId = engine.callbackId(op);
          const attempt = engine.attempt(op);
          try {
            await engine.runBody(() => submitter(callbackId, { logger: this._opLogger(opId, name, attempt) }));
          } catch (e) {
            if (isFatal(e)) throw e;
            engine.checkFatal();
            this._reportFailure(op, e, strategy, attempt);
            continue;
          }
          engine.checkFatal();
          engine.call('vmOpSucceed', op, null);
        }
      })();
    });
  }

  // -- waitForCondition ---------------------------------------------------------------------
  waitForCondition(a, b, c) {
    const [name, check, config] = typeof a === 'function' ? [undefined, a, b] : [a, b, c];
    return this._launch(() => {
      if (typeof check !== 'function') throw new TypeError('waitForCondition: checkFunc must be a function');
      if (!config || typeof config.waitStrategy !== 'function') {
        throw new ValidationError('waitForCondition: config.waitStrategy is required (e.g. createWaitStrategy(...))');
      }
      const serdes = this._serdes(config.serdes);
      const initial = serializeNow(serdes, config.initialState);
      if (initial === null) {
        return serialize(serdes, config.initialState, '', this._engine.arn)
          .then((data) => this._runCondition(name, check, config, serdes, data));
      }
      return this._runCondition(name, check, config, serdes, initial);
    });
  }

  async _runCondition(name, check, config, serdes, initial) {
    const engine = this._engine;
    const op = this._call('vmWaitForCondition', name ?? null,        // perdure_vm_wait_for_condition
      { wait: null, initialState: initial === undefined ? null : initial });
    const opId = engine.opId(op);
    for (;;) {
      const next = await engine.settle(op, this);
      if (next !== C.NEXT_EXECUTE) return this._answer(op, next, serdes, opId);
      const attempt = engine.attempt(op);
      const data = engine.result(op);
      const state = data !== undefined ? await deserialize(serdes, data, opId, engine.arn) : config.initialState;
      let decision;
      let payload;
      try {
        const newState = await engine.runBody(() => check(state, { logger: this._opLogger(opId, name, attempt), attempt }));
        decision = config.waitStrategy(newState, attempt);
        payload = await serialize(serdes, newState, opId, engine.arn);
      } catch (e) {
        if (isFatal(e)) throw e;
        engine.checkFatal();
        // A failing check or an exhausted strategy ends the operation.
        engine.call('vmOpFailDecided', op, errorObject(e), false, 0);
        continue;
      }
      engine.checkFatal();
      const cont = !!(decision && decision.shouldContinue);
      const delay = cont ? Math.max(1, durationToSeconds(decision.delay || { seconds: 1 }, 'delay')) : 0;
      engine.call('vmOpConditionDecided', op, payload === undefined ? null : payload, cont, delay);   // perdure_vm_op_condition_decided
    }
  }

  // -- invoke --------------------------------------------------------------------------
  invoke(a, b, c, d) {
    const nameFirst = typeof b === 'string';
    const [name, funcId, input, config = {}] = nameFirst ? [a, b, c, d] : [undefined, a, b, c];
    return this._launch(() => {
      if (typeof funcId !== 'string' || !funcId) throw new TypeError('invoke: funcId must be a function name or ARN');
      const payloadSerdes = config.payloadSerdes || defaultSerdes;
      const resultSerdes = config.resultSerdes || defaultSerdes;
      const declare = (payload) => {
        const op = this._call('vmInvoke', name ?? null, funcId, config.tenantId ?? null,   // perdure_vm_invoke
          payload === undefined ? null : payload);
        const opId = this._engine.opId(op);
        return this._engine.settle(op, this).then((next) => this._answer(op, next, resultSerdes, opId));
      };
      const now = serializeNow(payloadSerdes, input);
      if (now === null) return serialize(payloadSerdes, input, '', this._engine.arn).then(declare);
      return declare(now);
    });
  }

  // -- child contexts ----------------------------------------------------------------------
  runInChildContext(a, b, c) {
    const [name, fn, config = {}] = typeof a === 'function' ? [undefined, a, b] : [a, b, c];
    return this._launch(() => {
      if (typeof fn !== 'function') throw new TypeError('runInChildContext: fn must be a function (ctx) => Promise<T>');
      const op = this._call('vmChild', name ?? null, config.subType ?? null, !!config.virtualContext);   // perdure_vm_child
      return this._runChild(op, fn, config);
    });
  }

  async _runChild(op, fn, config) {
    const engine = this._engine;
    const opId = engine.opId(op);
    const serdes = this._serdes(config.serdes);
    const mapError = (e) => (config.errorMapper && e instanceof ChildContextError ? config.errorMapper(e) : e);
    let next = await engine.drive(op);
    if (next !== C.NEXT_EXECUTE) {
      try {
        return await this._answer(op, next, serdes, opId);
      } catch (e) {
        throw mapError(e);
      }
    }
    const child = this._child(op, config.virtualContext ? this._parentId : opId);
    let value;
    try {
      value = await fn(child);
    } catch (e) {
      if (isFatal(e) || (e && e.orphaned)) throw e;
      engine.checkFatal();
      engine.call('vmOpFail', op, errorObject(e));                     // perdure_vm_op_fail
      next = await engine.drive(op);
      if (next === C.NEXT_ERROR) throw mapError(engine.error(op));
      return this._answer(op, next, serdes, opId);
    }
    engine.checkFatal();
    const payload = await serialize(serdes, value, opId, engine.arn);
    if (payload !== undefined && payload.length > C.REPLAY_CHILDREN_THRESHOLD) {
      engine.call('vmOpSetSummary', op, config.summaryGenerator ? String(config.summaryGenerator(value)) : '');
    }
    engine.call('vmOpSucceed', op, payload === undefined ? null : payload);
    next = await engine.drive(op);
    return next === C.NEXT_RESULT ? value : this._answer(op, next, serdes, opId);
  }

  // -- promise combinators ------------------------------------------------------------------
  _combinator(a, b, combine, serdes) {
    const [name, promises] = Array.isArray(a) ? [undefined, a] : [a, b];
    const config = {
      errorMapper: (error) => new PromiseCombinatorError(error.message, error),
    };
    if (serdes) config.serdes = serdes;
    return new DurablePromise(() => this.runInChildContext(name, () => combine(promises || []), config));
  }

  // -- map / parallel ------------------------------------------------------------------------
  map(a, b, c, d) {
    const [name, items, fn, config = {}] = Array.isArray(a) ? [undefined, a, b, c] : [a, b, c, d];
    return this._launch(() => {
      if (!Array.isArray(items)) throw new TypeError('map: items must be an array');
      if (typeof fn !== 'function') throw new TypeError('map: mapFunc must be a function (ctx, item, index, items)');
      const names = config.itemNamer ? items.map((item, i) => String(config.itemNamer(item, i))) : null;
      return this._batch(C.BATCH_MAP, name, items.length, config, names, (ctx, i) => fn(ctx, items[i], i, items));
    });
  }

  parallel(a, b, c) {
    const [name, branches, config = {}] = Array.isArray(a) ? [undefined, a, b] : [a, b, c];
    return this._launch(() => {
      if (!Array.isArray(branches)) throw new TypeError('parallel: branches must be an array');
      const bodies = branches.map((br, i) => {
        const f = typeof br === 'function' ? br : br && br.func;
        if (typeof f !== 'function') throw new TypeError(`parallel: branch ${i} is neither a function nor {name?, func}`);
        return f;
      });
      let names = null;
      if (branches.some((br) => br && typeof br === 'object' && br.name)) {
        names = branches.map((br, i) => (br && typeof br === 'object' && br.name ? String(br.name) : `parallel-branch-${i}`));
      }
      return this._batch(C.BATCH_PARALLEL, name, branches.length, config, names, (ctx, i) => bodies[i](ctx));
    });
  }

  _batch(kind, name, count, config, itemNames, body) {
    const engine = this._engine;
    const cc = config.completionConfig;
    if (cc && typeof cc.shouldComplete === 'function') {
      throw new ValidationError('completionConfig.shouldComplete (a custom completion predicate) is not supported by perdure yet');
    }
    if (config.maxConcurrency !== undefined && config.maxConcurrency !== null
        && (!Number.isInteger(config.maxConcurrency) || config.maxConcurrency < 1)) {
      throw new ValidationError(`maxConcurrency must be a positive integer, got ${config.maxConcurrency}`);
    }
    const flat = config.nesting === NestingType.FLAT;
    const op = this._call('vmBatch', name ?? null, kind, count, {       // perdure_vm_batch
      maxConcurrency: config.maxConcurrency ?? -1,
      completion: cc ? {
        minSuccessful: cc.minSuccessful ?? -1,
        toleratedFailureCount: cc.toleratedFailureCount ?? -1,
        toleratedFailurePercentage: cc.toleratedFailurePercentage ?? -1,
      } : null,
      nesting: flat ? C.NESTING_FLAT : C.NESTING_NESTED,
      itemNames,
    });
    return this._runBatch(op, config, body, flat, kind);
  }

  async _runBatch(op, config, body, flat, kind) {
    const engine = this._engine;
    const opId = engine.opId(op);
    const serdes = config.serdes || batchResultSerdes;
    const itemSerdes = config.itemSerdes || this._serdes(undefined);
    let next = await engine.settle(op, this);
    if (next === C.NEXT_RESULT) {
      const data = engine.result(op);
      if (data === undefined || data === '') return this._batchResult(op, itemSerdes);   // a summary was recorded
      return deserialize(serdes, data, opId, engine.arn);
    }
    if (next !== C.NEXT_EXECUTE) return this._answer(op, next, serdes, opId);
    const run = new BatchRun(this, op, body, itemSerdes, flat ? opId : null);
    await run.run();
    const result = await this._batchResult(op, itemSerdes);
    const payload = await serialize(serdes, result, opId, engine.arn);
    if (payload !== undefined && payload.length > C.REPLAY_CHILDREN_THRESHOLD) {
      // Too large to store: the protocol's summary envelope is recorded
      // instead (ReplayChildren), and a replay re-runs the items over their records.
      engine.call('vmOpSetSummary', op, summaryEnvelope(kind, result, config.summaryGenerator));
    }
    engine.call('vmOpSucceed', op, payload === undefined ? null : payload);
    next = await engine.drive(op);
    return next === C.NEXT_RESULT ? result : this._answer(op, next, serdes, opId);
  }

  async _batchResult(op, itemSerdes) {
    const engine = this._engine;
    const outcome = engine.call('vmBatchOutcome', op);                 // perdure_vm_batch_outcome
    const all = [];
    for (let i = 0; i < outcome.total; i++) {
      const { status, item } = engine.call('vmBatchItem', op, i);      // perdure_vm_batch_item
      if (status === C.STATUS_SUCCEEDED) {
        const data = engine.result(item);
        const result = data === undefined ? undefined : await deserialize(itemSerdes, data, engine.opId(item), engine.arn);
        all.push({ result, index: i, status: BatchItemStatus.SUCCEEDED });
      } else if (status === C.STATUS_FAILED) {
        all.push({ error: engine.error(item), index: i, status: BatchItemStatus.FAILED });
      } else if (status === C.STATUS_STARTED) {
        all.push({ index: i, status: BatchItemStatus.STARTED });
      }
    }
    return new BatchResultImpl(all, REASONS[outcome.reason] || 'ALL_COMPLETED');
  }

  // -- configuration --------------------------------------------------------------------------
  configureLogger(config = {}) {
    if (config.customLogger !== undefined) {
      this._loggerState.logger = config.customLogger;
      if (typeof config.customLogger.configureDurableLoggingContext === 'function') {
        config.customLogger.configureDurableLoggingContext(durableLoggingContext(this._loggerState));
      }
    }
    if (config.modeAware !== undefined) this._loggerState.modeAware = !!config.modeAware;
  }

  configureSerdes(config = {}) {
    if (config.defaultSerdes !== undefined) this._shared.serdes.defaultSerdes = config.defaultSerdes;
    if (config.defaultCallbackDeserializer !== undefined) {
      this._shared.serdes.defaultCallbackDeserializer = config.defaultCallbackDeserializer;
    }
  }
}

/**
 * The summary of a map/parallel result too large to store (protocol.md 4.11):
 * {type, totalCount, completionReason, startedIndexes|completedIndexes (the
 * shorter), startedCount, successCount, failureCount, status, summary?}.
 */
function summaryEnvelope(kind, result, generator) {
  const started = result.all.filter((i) => i.status === BatchItemStatus.STARTED).map((i) => i.index);
  const completed = result.all.filter((i) => i.status !== BatchItemStatus.STARTED).map((i) => i.index);
  const envelope = { type: kind === C.BATCH_MAP ? 'MapResult' : 'ParallelResult', totalCount: result.totalCount,
    completionReason: result.completionReason };
  if (started.length <= completed.length) envelope.startedIndexes = started;
  else envelope.completedIndexes = completed;
  Object.assign(envelope, { startedCount: result.startedCount, successCount: result.successCount,
    failureCount: result.failureCount, status: result.status });
  if (generator) envelope.summary = String(generator(result));
  return JSON.stringify(envelope);
}

/** allSettled results keep their errors (as the official SDK stores them). */
const settledSerdes = {
  serialize: async (value) => (value === undefined ? undefined : JSON.stringify(value.map((r) => (
    r.status === 'rejected' && r.reason instanceof Error
      ? { ...r, reason: { message: r.reason.message, name: r.reason.name, stack: r.reason.stack } } : r)))),
  deserialize: async (data) => (data === undefined ? undefined : JSON.parse(data).map((r) => {
    if (r.status !== 'rejected' || !r.reason || !r.reason.message) return r;
    const e = new Error(r.reason.message);
    e.name = r.reason.name || 'Error';
    if (r.reason.stack) e.stack = r.reason.stack;
    return { ...r, reason: e };
  })),
};

/**
 * Runs the items of one map/parallel. The VM says which item may start
 * (maxConcurrency and completion are its decisions, perdure_vm_batch_poll);
 * each started item's body runs as a concurrent promise and reports back.
 */
class BatchRun {
  constructor(parent, op, body, itemSerdes, flatParentId) {
    this.parent = parent;
    this.engine = parent._engine;
    this.op = op;
    this.body = body;
    this.itemSerdes = itemSerdes;
    this.flatParentId = flatParentId;
    this.running = new Map();   // index -> {item, reported}
  }

  /** Until DONE; on SUSPEND (nothing can run before the service acts) it waits for a checkpoint response. */
  async run() {
    const engine = this.engine;
    engine.batchRuns.add(this);
    try {
      for (;;) {
        engine.checkFatal();
        const poll = engine.call('vmBatchPoll', this.op);             // perdure_vm_batch_poll
        if (poll.action === C.BATCH_RUN_ITEM) {
          const next = await engine.drive(poll.item);
          if (next === C.NEXT_EXECUTE) this._start(poll.index, poll.item);
        } else if (poll.action === C.BATCH_WAIT) {
          const changed = engine.changed();
          engine.scheduleQuiesce();
          await Promise.race([changed, engine.terminated]);
        } else if (poll.action === C.BATCH_DONE) {
          return;
        } else {
          await engine.parkOp(null, this.parent);
        }
      }
    } finally {
      engine.batchRuns.delete(this);
    }
  }

  _start(index, item) {
    const engine = this.engine;
    const entry = { item, reported: false };
    this.running.set(index, entry);
    const task = async () => {
      const itemId = engine.opId(item);
      const ctx = this.parent._child(item, this.flatParentId || itemId);
      entry.ctx = ctx;
      let value;
      try {
        value = await this.body(ctx, index);
      } catch (e) {
        if (entry.reported || (e && e.orphaned)) return;
        if (isFatal(e)) throw e;
        engine.checkFatal();
        engine.call('vmOpFail', item, errorObject(e));                 // the completion policy decides
        await engine.drive(item);
        return;
      }
      if (entry.reported) return;
      engine.checkFatal();
      const payload = await serialize(this.itemSerdes, value, itemId, engine.arn);
      engine.call('vmOpSucceed', item, payload === undefined ? null : payload);
      await engine.drive(item);
    };
    task().catch((e) => {
      if (e && e.orphaned) return;
      engine.fail(isFatal(e) ? e : new InvalidStateError(`map/parallel item ${index}: ${e && e.message}`));
    }).finally(() => {
      this.running.delete(index);
      engine.wakeAll();
    });
  }

  /** Quiescent: every running item that has not settled is blocked on the service. */
  reportBlocked() {
    let any = false;
    for (const entry of this.running.values()) {
      if (!entry.reported) {
        entry.reported = true;
        if (entry.ctx) entry.ctx._dead = true;   // its parked operations never resume: the VM re-runs the item
        this.engine.call('vmOpSuspended', entry.item);                 // perdure_vm_op_suspended
        any = true;
      }
    }
    if (any) this.engine.wakeAll();
    return any;
  }
}

function createRootContext(engine, lambdaContext) {
  const loggerState = {
    logger: new JsonLineLogger(),
    modeAware: true,
    data: { executionArn: engine.arn, durableExecutionArn: engine.arn },
  };
  loggerState.logger.configureDurableLoggingContext(durableLoggingContext(loggerState));
  const shared = {
    lambdaContext,
    loggerState,
    serdes: { defaultSerdes: undefined, defaultCallbackDeserializer: undefined },
  };
  return new DurableContextImpl(engine, C.ROOT, undefined, shared);
}

module.exports = { DurableContextImpl, DurablePromise, StepSemantics, createRootContext };

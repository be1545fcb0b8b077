'use strict';
/**
 * LocalDurableTestRunner: the official testing package's local runner
 * (@aws/durable-execution-sdk-js-testing), on the real thing. Each runner
 * has its own Perdure store file (in a temporary directory) and serves its
 * handler, and the functions registered for context.invoke, with a Worker in
 * this process: every invocation goes through the store, the lease and the
 * replay VM as in production.
 *
 * Time skipping (setupTestEnvironment({skipTime: true})): the store's clock
 * is virtual (the addon's, so that it also holds off the event loop). When
 * nothing is ready, the runner asks the store for the next wakeup
 * (perdure_store_next_wakeup) and, when it is a wait or a retry delay (a
 * step's, a waitForCondition's), moves the clock to it instead of sleeping.
 * Any other wakeup (a callback or heartbeat timeout, the execution's
 * timeout) is skipped to as well unless the test attends a callback: it
 * waited for a callback operation's data (waitForData STARTED or SUBMITTED)
 * or sent it a heartbeat, so it is about to answer; then time runs for real
 * until it does. (The store times an execution out after 366 days: one that
 * waits longer in total ends TIMED_OUT.)
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { Store } = require('../store');
const { Worker } = require('../worker');
const { isDurable } = require('../execution');
const { WaitingOperationStatus, Index } = require('./model');
const { DurableOperation, reached, callbackOperation, completed } = require('./operation');
const { TestResult } = require('./result');

const FUNCTION = 'test-function';
const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'STOPPED']);
const POLL_MS = 20;                  // reads for pending waitForData while an invocation runs
const LEASE_MS = 15 * 60 * 1000;     // Lambda's longest invocation: a slow test is not taken for a crash
const MAX_TIMER_MS = 2 ** 31 - 1;    // setTimeout's limit
const CLOSE_WAIT_MS = 5000;

const environment = { skipTime: false, sessions: new Set() };

process.once('exit', () => {
  for (const session of environment.sessions) fs.rmSync(session.dir, { recursive: true, force: true });
});

/** "name", "name:qualifier" or a function ARN -> the Worker's "name@version". */
function functionKey(functionName) {
  const marker = functionName.indexOf(':function:');
  const [name, qualifier] = (marker >= 0 ? functionName.slice(marker + ':function:'.length) : functionName).split(':');
  return `${name}@${qualifier || '$LATEST'}`;
}

/**
 * A plain Lambda handler (registerFunction) as the worker serves it: what it
 * returns, resolves, or passes to the callback it gets as third argument.
 */
function lambdaFunction(functionName, handler) {
  const served = (event) => new Promise((resolve, reject) => {
    const context = {
      functionName,
      functionVersion: '$LATEST',
      awsRequestId: crypto.randomUUID(),
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => LEASE_MS,
    };
    const returned = handler(event, context, (err, value) => (err ? reject(err) : resolve(value)));
    if (returned && typeof returned.then === 'function') returned.then(resolve, reject);
    else if (handler.length < 3) resolve(returned);
  });
  Object.defineProperty(served, 'name', { value: handler.name || functionName });
  return served;
}

function toMs(seconds) {
  return typeof seconds === 'number' ? Math.round(seconds * 1000) : undefined;
}

/**
 * The operations a test holds handles on and waits for, between reset()
 * calls: it follows the latest execution run() started.
 */
class View {
  constructor(runner) {
    this.runner = runner;
    this.arn = null;
    this.index = new Index([], () => []);
    this.tracked = [];
    this.waiters = new Set();
    this.attended = new Set();   // ids of callbacks the test is about to answer
  }

  /** A handle found by `query` in `index` (a fixed read), or tracked through the run when index is omitted. */
  handle(query, index) {
    const operation = new DurableOperation(this, query);
    if (index) {
      operation._populate(index);
    } else {
      this.tracked.push(operation);
      operation._populate(this.index);
    }
    return operation;
  }

  follow(arn, store) {
    this.arn = arn;
    this.attended.clear();
    this.refresh(store);
  }

  /** Reads the execution again (its history only if asked for). */
  refresh(store) {
    const arn = this.arn;
    if (arn) this.update(new Index(store.operations(arn), () => store.history(arn)));
  }

  /** A new read of the execution: handles get its data, waits that reached their status resolve. */
  update(index) {
    this.index = index;
    for (const operation of this.tracked) operation._populate(this.index);
    for (const waiter of this.waiters) {
      waiter.operation._populate(this.index);
      if (this._reached(waiter.operation, waiter.status)) {
        this.waiters.delete(waiter);
        waiter.resolve(waiter.operation);
      }
    }
  }

  _reached(operation, status) {
    if (!reached(operation._index, operation._op, status)) return false;
    if (status !== WaitingOperationStatus.COMPLETED) this.attend(callbackOperation(operation._index, operation._op));
    return true;
  }

  waitFor(operation, status) {
    if (this._reached(operation, status)) return Promise.resolve(operation);
    // Made here for a stack that shows the test's call.
    const error = new Error(`Operation was not found after execution completion. Expected status: ${status}. `
      + 'This typically means the operation was never executed or the test is waiting for the wrong operation.');
    const waiting = new Promise((resolve, reject) => {
      this.waiters.add({ operation, status, resolve, reject: () => reject(error) });
    });
    // A test may await it only after run() ended: that rejection is not unhandled.
    waiting.catch(() => {});
    return waiting;
  }

  /** The execution `arn` ended: what was waited for and did not come never will. */
  ended(arn) {
    if (arn !== this.arn) return;
    for (const waiter of this.waiters) waiter.reject();
    this.waiters.clear();
  }

  attend(callback) {
    if (callback && !completed(callback)) this.attended.add(callback.Id);
  }

  attendsCallback() {
    for (const id of this.attended) {
      if (!completed(this.index.byId.get(id))) return true;
    }
    return false;
  }

  /** Answers a callback through the store; the runner looks for work at once. */
  answer(call) {
    return new Promise((resolve) => {
      const session = this.runner._session;
      if (!session) throw new Error('no execution of this runner is running');
      call(session.control);
      session.bump();
      resolve({});
    });
  }
}

/**
 * One runner's store and worker, and the loop that serves its executions
 * while run() calls wait for them.
 */
class Session {
  constructor(runner) {
    this.runner = runner;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'perdure-testing-'));
    const file = path.join(this.dir, 'store.db');
    const options = { virtualClock: true, synchronousNormal: true, leaseMs: LEASE_MS };
    // Two handles: the worker's is used off the event loop (lease waits,
    // checkpoints), the test's (starts, reads, callback answers) never is.
    try {
      this.work = new Store(file, options);
      this.control = new Store(file, options);
    } catch (e) {
      if (this.work) this.work.close();
      fs.rmSync(this.dir, { recursive: true, force: true });
      throw e;
    }
    this.worker = null;
    this.workerFunctions = null;
    this.runs = new Map();      // arn -> {resolve, reject, view}
    this.driving = false;
    this.done = Promise.resolve();
    this.closing = false;
    this.version = 0;
    this.wake = null;
  }

  /** Something changed: the loop looks again. */
  bump() {
    this.version += 1;
    const wake = this.wake;
    this.wake = null;
    if (wake) wake();
  }

  /** Resolves with the TestResult once execution `arn` ended. */
  follow(arn, view) {
    return new Promise((resolve, reject) => {
      this.runs.set(arn, { resolve, reject, view });
      this.bump();
      if (!this.driving) {
        this.driving = true;
        this.done = this._drive();
      }
    });
  }

  async _drive() {
    try {
      while (this.runs.size && !this.closing) await this._step();
    } catch (e) {
      for (const run of this.runs.values()) run.reject(e);
      this.runs.clear();
    } finally {
      this.driving = false;
    }
  }

  _currentWorker() {
    const functions = this.runner._functions;
    if (this.workerFunctions !== functions) {
      this.worker = new Worker(Object.fromEntries(functions), this.work, { workerId: 'perdure-testing' });
      this.workerFunctions = functions;
    }
    return this.worker;
  }

  async _step() {
    const worker = this._currentWorker();
    const ran = await this._runOne(worker);
    const views = new Set([...this.runs.values()].map((run) => run.view));
    for (const view of views) view.refresh(this.control);
    for (const [arn, run] of this.runs) {
      const description = this.control.describe(arn);
      if (!TERMINAL.has(description.Status)) continue;
      this.runs.delete(arn);
      const events = this.control.history(arn);
      const index = new Index(this.control.operations(arn), () => events);
      if (run.view.arn === arn) run.view.update(index);
      run.resolve(new TestResult(description, index, run.view));
    }
    if (!ran && this.runs.size) await this._idle(worker);
  }

  /** One invocation, if one is ready; meanwhile pending waitForData see its checkpoints. */
  async _runOne(worker) {
    let failure = null;
    const poll = setInterval(() => {
      try {
        for (const run of this.runs.values()) if (run.view.waiters.size) run.view.refresh(this.control);
      } catch (e) {
        failure = failure || e;
      }
    }, POLL_MS);   // ref'd: a test may wait for a step that waits for the test
    let ran;
    try {
      ran = await worker.runOne(0);
    } finally {
      clearInterval(poll);
    }
    if (failure) throw failure;
    return ran;
  }

  /** Nothing was ready: skip the clock to the next wakeup, or wait for it or for a change. */
  async _idle(worker) {
    const version = this.version;
    const served = new Set(worker.refs.map((r) => `${r.name}@${r.version}`));
    const running = this.control.list({ status: 'RUNNING' });
    for (const execution of running) {
      const key = functionKey(execution.FunctionArn);
      if (!served.has(key)) {
        const name = key.slice(0, key.indexOf('@'));
        const message = `No function found for function name ${name}.\nPlease configure the function handler for `
          + `"${name}" with LocalDurableTestRunner.registerFunction or registerDurableFunction.`;
        // Ended, so that it does not stay in the store and fail later runs (its invoke fails).
        this.control.stop(execution.DurableExecutionArn, { ErrorType: 'ResourceNotFoundException', ErrorMessage: message });
        throw new Error(message);
      }
    }
    const now = this.control.now();
    const due = this.control.nextWakeup(worker.refs);
    let pause;
    if (due < 0) {
      pause = Infinity;
    } else if (due <= now) {
      pause = 5;   // ready, yet not leased: a lease being released; look again shortly
    } else if (environment.skipTime && (this._timerDue(due, running) || !this._attended())) {
      this.control.advanceClockTo(due);
      this.work.setClockOffset(this.control.clockOffset);
      return;
    } else {
      pause = due - now;
    }
    await this._waitChange(version, pause);
  }

  _attended() {
    for (const run of this.runs.values()) if (run.view.attendsCallback()) return true;
    return false;
  }

  /** Whether what is due at `due` is a wait or a retry delay (not a timeout). */
  _timerDue(due, running) {
    for (const execution of running) {
      for (const op of this.control.operations(execution.DurableExecutionArn)) {
        let end;
        if (op.Type === 'WAIT' && op.Status === 'STARTED') end = toMs((op.WaitDetails || {}).ScheduledEndTimestamp);
        else if (op.Type === 'STEP' && op.Status === 'PENDING') end = toMs((op.StepDetails || {}).NextAttemptTimestamp);
        if (end === due) return true;
      }
    }
    return false;
  }

  _waitChange(version, ms) {
    if (this.version !== version || this.closing) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = ms === Infinity ? null : setTimeout(() => this.bump(), Math.min(ms, MAX_TIMER_MS));
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Stops serving; the store is closed once no handler runs any more. */
  async close() {
    this.closing = true;
    const error = new Error('LocalDurableTestRunner: the test environment was torn down while the execution ran');
    for (const run of this.runs.values()) run.reject(error);
    this.runs.clear();
    this.bump();
    let timer;
    await Promise.race([this.done, new Promise((resolve) => { timer = setTimeout(resolve, CLOSE_WAIT_MS); })]);
    clearTimeout(timer);
    environment.sessions.delete(this);
    if (this.driving) {
      // A handler still runs on the worker's handle: it must outlive it.
      process.emitWarning('LocalDurableTestRunner: a handler still runs at teardown; its store is left open');
      return;
    }
    this.work.close();
    this.control.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

class LocalDurableTestRunner {
  /** @param {{handlerFunction: Function}} params the handler (withDurableExecution's) to run */
  constructor({ handlerFunction } = {}) {
    if (typeof handlerFunction !== 'function') {
      throw new TypeError('LocalDurableTestRunner: handlerFunction must be a function');
    }
    // Replaced, never mutated, by a registration: the session sees the change by identity.
    this._functions = new Map([[`${FUNCTION}@$LATEST`, handlerFunction]]);
    this._view = new View(this);
    this._session = null;
  }

  /**
   * Starts an execution of the handler with `payload` and resolves once it
   * ended (meanwhile, getOperation... handles follow it).
   * @param {{payload?: unknown}} [params]
   */
  async run(params = {}) {
    if (!this._session || this._session.closing) {
      this._session = new Session(this);
      environment.sessions.add(this._session);
    }
    const session = this._session;
    const input = JSON.stringify(params.payload);
    const arn = session.control.start(FUNCTION, undefined, { inputJson: input === undefined ? '' : input });
    const view = this._view;
    view.follow(arn, session.control);
    try {
      return await session.follow(arn, view);
    } finally {
      view.ended(arn);
    }
  }

  _register(functionName, handler) {
    if (typeof functionName !== 'string' || !functionName) throw new TypeError('functionName must be a string');
    this._functions = new Map(this._functions).set(functionKey(functionName), handler);
    if (this._session) this._session.bump();
    return this;
  }

  /** Serves `durableHandler` (withDurableExecution's) to context.invoke(functionName, ...). */
  registerDurableFunction(functionName, durableHandler) {
    if (!isDurable(durableHandler)) {
      throw new TypeError(`registerDurableFunction(${functionName}): the handler must come from withDurableExecution`);
    }
    return this._register(functionName, durableHandler);
  }

  /** Serves a plain Lambda handler (event, context, callback?) to context.invoke(functionName, ...). */
  registerFunction(functionName, handler) {
    if (typeof handler !== 'function') throw new TypeError(`the handler of ${functionName} must be a function`);
    return this._register(functionName, lambdaFunction(functionName, handler));
  }

  /** The first operation named `name` (or its index-th occurrence). */
  getOperation(name, index) { return this._view.handle({ name, index }); }

  /** The index-th operation, in the order they started (nested ones included). */
  getOperationByIndex(index) { return this._view.handle({ index }); }

  getOperationByNameAndIndex(name, index) { return this._view.handle({ name, index }); }

  getOperationById(id) { return this._view.handle({ id }); }

  /** Forgets the handles and waits of earlier runs (registrations stay). */
  reset() {
    this._view = new View(this);
  }

  /** @param {{skipTime?: boolean, checkpointDelay?: number}} [params] checkpointDelay is accepted and ignored */
  static async setupTestEnvironment(params = {}) {
    environment.skipTime = !!params.skipTime;
  }

  /** Stops every runner's worker and removes their stores. */
  static async teardownTestEnvironment() {
    await Promise.all([...environment.sessions].map((session) => session.close()));
    environment.skipTime = false;
  }
}

module.exports = { LocalDurableTestRunner };

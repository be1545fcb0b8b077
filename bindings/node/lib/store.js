'use strict';
/**
 * The embedded service: a SQLite file of executions (perdure_store_*).
 * Readers return the AWS API's JSON shapes as objects. Errors are StoreError
 * with `.code` (the perdure_status name): PERDURE_E_NOT_FOUND,
 * PERDURE_E_CONFLICT, PERDURE_E_BUSY, PERDURE_E_STORE.
 *
 * A Store is one perdure_store handle. Calls that block (the lease wait and
 * checkpoints, which fsync) run off the event loop; `exclusive(fn)` is the
 * per-store promise mutex that keeps every other call off the handle while
 * one of them runs (the addon refuses such a call rather than racing).
 * Meanwhile the synchronous methods of a file store use a second handle.
 */
const { native } = require('./native');

class StoreError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'StoreError';
    this.code = code;
  }
}

function storeError(e) {
  if (e && typeof e.status === 'number') return new StoreError(e.message, e.code);
  return e;
}

function defaultPath() {
  return process.env.PERDURE_STORE || 'perdure.db';
}

class Store {
  /**
   * @param {string} [path] default $PERDURE_STORE, else ./perdure.db; ":memory:" keeps it in this process
   * @param {{leaseMs?: number, synchronousNormal?: boolean, busyTimeoutMs?: number, virtualClock?: boolean}} [options]
   *   virtualClock: the store's clock is the wall clock plus clockOffset, which
   *   advanceClockTo / setClockOffset move forward (test runners skip time so)
   */
  constructor(path, options = {}) {
    this.path = path || defaultPath();
    this.options = options;
    this.clockOffset = 0;
    try {
      this.handle = native.storeOpen(this.path, options);             // perdure_store_open
    } catch (e) {
      throw storeError(e);
    }
    this._lock = Promise.resolve();
  }

  _h() {
    if (!this.handle) throw new StoreError('the store is closed', 'PERDURE_E_MISUSE');
    return this.handle;
  }

  _sync(fn, ...args) {
    try {
      return native[fn](this._syncHandle(), ...args);
    } catch (e) {
      throw storeError(e);
    }
  }

  /**
   * The handle for a call on the event loop. While exclusive work holds the
   * main handle (a worker waiting for a lease on this Store, say), a file
   * store answers through a second handle on the same file, opened once, with
   * the virtual clock kept in step; an in-memory store cannot have one.
   */
  _syncHandle() {
    const main = this._h();
    if (!this._exclusiveRunning || this.path === ':memory:') return main;
    if (!this._side) this._side = native.storeOpen(this.path, this.options);   // perdure_store_open
    if (this.options.virtualClock) native.storeSetClockOffset(this._side, this.clockOffset);
    return this._side;
  }

  /** Runs fn (which may use the handle off the event loop) with the store to itself. */
  exclusive(fn) {
    const run = this._lock.then(async () => {
      this._exclusiveRunning = true;
      try {
        return await fn(this._h());
      } finally {
        this._exclusiveRunning = false;
      }
    });
    this._lock = run.then(() => {}, () => {});
    return run.catch((e) => { throw storeError(e); });
  }

  close() {
    if (this.handle) native.storeClose(this.handle);                  // perdure_store_close
    if (this._side) native.storeClose(this._side);
    this.handle = null;
    this._side = null;
  }

  /** The store's clock, epoch ms (perdure_store_now). */
  now() { return this._sync('storeNow'); }

  /** Moves a virtual clock (virtualClock: true) forward to dueMs, never back; returns the ms skipped. */
  advanceClockTo(dueMs) {
    const gap = dueMs - this.now();
    if (gap > 0) this.setClockOffset(this.clockOffset + gap);
    return Math.max(gap, 0);
  }

  /** Sets a virtual clock's offset from the wall clock, e.g. to another handle's clockOffset. */
  setClockOffset(offsetMs) {
    if (!this.options.virtualClock) {
      throw new StoreError('this store was not opened with {virtualClock: true}', 'PERDURE_E_MISUSE');
    }
    // The main handle's clock even while it is busy: the offset is atomic.
    try {
      native.storeSetClockOffset(this._h(), offsetMs);
    } catch (e) {
      throw storeError(e);
    }
    this.clockOffset = offsetMs;
  }

  /**
   * When something of `functions` ([{name, version}]) may next become ready,
   * epoch ms; -1 when nothing is scheduled (perdure_store_next_wakeup).
   */
  nextWakeup(functions) { return this._sync('storeNextWakeup', functions); }

  /** Starts an execution (or finds the one already started under `name`); returns its ARN (perdure_store_start). */
  start(functionName, input, { name, version, executionTimeout, inputJson } = {}) {
    const text = inputJson !== undefined ? inputJson : (input === undefined ? 'null' : JSON.stringify(input));
    return this._sync('storeStart', {
      functionName, version, name, input: text, executionTimeoutSeconds: executionTimeout || 0,
    }).arn;
  }

  /** GetDurableExecution's shape: Status, Result, Error, ... (perdure_store_describe) */
  describe(arn) { return JSON.parse(this._sync('storeDescribe', arn)); }

  list({ functionName, status } = {}) {
    return JSON.parse(this._sync('storeList', functionName ?? null, status ?? null)).DurableExecutions;
  }

  operations(arn) { return JSON.parse(this._sync('storeOperations', arn)).Operations; }

  history(arn, includeData = true) { return JSON.parse(this._sync('storeHistory', arn, includeData)).Events; }

  stop(arn, error) { this._sync('storeStop', arn, error || null); }

  /** Answers a callback; `result` is the raw body (perdure_store_callback_succeed). */
  callbackSucceed(callbackId, result) { this._sync('storeCallbackSucceed', callbackId, result ?? null); }

  /** error: {ErrorType, ErrorMessage, ErrorData, StackTrace} (perdure_store_callback_fail) */
  callbackFail(callbackId, error = {}) { this._sync('storeCallbackFail', callbackId, error); }

  callbackHeartbeat(callbackId) { this._sync('storeCallbackHeartbeat', callbackId); }

  /** Expires the leases of a worker that died; returns how many (perdure_store_release_worker). */
  releaseWorker(workerId) { return this._sync('storeReleaseWorker', workerId); }

  /** Polls describe() until the execution ends; returns the description. */
  async waitForEnd(arn, { timeoutMs = 60000, pollMs = 50 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const d = this.describe(arn);
      if (d.Status !== 'RUNNING') return d;
      if (Date.now() > deadline) throw new Error(`execution ${arn} still RUNNING after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
}

module.exports = { Store, StoreError, defaultPath };

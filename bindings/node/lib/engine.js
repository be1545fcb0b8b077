'use strict';
/**
 * One invocation's replay VM (perdure_vm), shared by the contexts of a handler.
 *
 * Everything that decides lives in C: replay, ids, retries, batching, when to
 * flush, when a map is complete, when to suspend. This module moves bytes
 * between the VM, the transport (the service) and user code, maps statuses to
 * exceptions, and decides only the one thing the VM cannot see: when the JS
 * program has nothing left to run (then the invocation ends PENDING).
 *
 * Threads and async: the VM is only ever called on the JS thread, synchronously.
 * A checkpoint batch goes to the transport (for a store: the addon's
 * leaseCheckpoint, which runs perdure_lease_checkpoint off the event loop);
 * while it is in flight the VM keeps accepting declarations (it queues them),
 * and `flush()` is a promise mutex, so one batch at most is outstanding (the
 * VM's rule: a batch is answered before the next is taken).
 *
 * Suspension: an operation the service must move on (a wait, a retry delay, a
 * callback, an invoke) answers SUSPEND; its promise then never settles. When
 * the program is quiescent (no step body, check or submitter running, no
 * checkpoint in flight, and a full event-loop turn without a VM call), the
 * engine first tells running map/parallel batches which of their items are
 * blocked (perdure_vm_op_suspended, so the VM may start others or give up), and
 * when nothing moves any more it ends the invocation PENDING.
 */
const { native, C } = require('./native');
const {
  StepError, CallbackExternalError, CallbackTimeoutError, CallbackSubmitterError, ChildContextError, InvokeError,
  WaitForConditionError, NonDeterministicExecutionError, ValidationError, InvalidStateError, ExecutionError,
  TransportError, UnrecoverableError,
} = require('./errors');

const ERROR_CLASSES = {
  [C.ERRK_STEP]: StepError,
  [C.ERRK_STEP_INTERRUPTED]: StepError,
  [C.ERRK_CALLBACK_FAILED]: CallbackExternalError,
  [C.ERRK_CALLBACK_TIMEOUT]: CallbackTimeoutError,
  [C.ERRK_CALLBACK_SUBMITTER]: CallbackSubmitterError,
  [C.ERRK_CHILD]: ChildContextError,
  [C.ERRK_INVOKE]: InvokeError,
  [C.ERRK_WAIT_FOR_CONDITION]: WaitForConditionError,
};

const TICK_MS = 50;

class Engine {
  /**
   * @param {object} o
   * @param {number} o.wire C.WIRE_MSGPACK (embedded store) or C.WIRE_JSON
   * @param {(request: Buffer) => Promise<Buffer>} o.transport carries one checkpoint batch
   * @param {() => number} o.clock the service's time, epoch ms
   */
  constructor({ wire, transport, clock }) {
    this.wire = wire;
    this.transport = transport;
    this.clock = clock;
    this.vm = native.vmNew({ wire, idScheme: C.IDS_MD5_PATH });   // perdure_vm_new
    this.active = false;
    this.arn = '';
    this.fatal = null;          // the first unrecoverable error: ends the invocation
    this.flushing = null;       // the promise of the batch in flight (the mutex)
    this.busy = 0;              // user bodies running + batches in flight
    this.activity = 0;          // bumped by every VM call: quiescence needs a turn without one
    this.parked = new Set();    // operations waiting for the service: {op, ctx, resolve}
    this.batchRuns = new Set(); // map/parallel runs in progress
    this.waiters = new Set();   // wake-ups of batch runs
    this._qScheduled = false;
    this._qSeen = -1;
    let resolve;
    this.terminated = new Promise((r) => { resolve = r; });
    this._terminate = resolve;
    this._timer = null;
  }

  // -- lifecycle --------------------------------------------------------------
  start(payload, nowMs) {
    this.call('vmStart', payload, nowMs);                             // perdure_vm_start
    if (native.vmStateMarker(this.vm) !== null) {                     // perdure_vm_state_marker
      throw new ExecutionError('the invocation input is paged (NextMarker); this transport cannot fetch the remaining state');
    }
    this.arn = native.vmExecutionArn(this.vm) || '';                  // perdure_vm_execution_arn
    this.active = true;
    // Keep the VM's clock moving while user code runs, so that updates it
    // wants out after async_flush_ms (a START behind a long step body) are
    // flushed; the VM decides when (perdure_vm_wants_flush).
    this._timer = setInterval(() => this._tick(), TICK_MS);
    this._timer.unref();
  }

  input() {
    return this.call('vmInput');                                      // perdure_vm_input
  }

  close() {
    this.active = false;
    if (this._timer) clearInterval(this._timer);
    this._timer = null;
    if (this.vm) native.vmFree(this.vm);                              // perdure_vm_free
    this.vm = null;
    this._terminate({ kind: 'closed' });
  }

  _tick() {
    if (!this.active || this.fatal || this.flushing) return;
    try {
      native.vmSetNow(this.vm, this.clock());                         // perdure_vm_set_now
      if (native.vmWantsFlush(this.vm)) this.flush().catch(() => {}); // perdure_vm_wants_flush
    } catch (e) {
      this.fail(this.exception(e));
    }
  }

  /** Ends the invocation with an unrecoverable error (the first one wins). */
  fail(error) {
    if (!this.fatal) this.fatal = error;
    this._terminate({ kind: 'fatal', error: this.fatal });
  }

  // -- errors -----------------------------------------------------------------
  /** The exception for a failed addon call (it carries .code, the status name). */
  exception(e) {
    if (!e || typeof e.status !== 'number') return e;
    const message = e.message;
    switch (e.status) {
      case C.E_NONDETERMINISM: {
        let detail = null;
        try { detail = this.vm ? native.vmNondeterminism(this.vm) : null; } catch { /* poisoned: keep the message */ }
        return new NonDeterministicExecutionError(message, detail);
      }
      case C.E_INVALID:
      case C.E_TOO_LARGE:
        return new ValidationError(message);
      case C.E_MISUSE:
        return new InvalidStateError(message);
      case C.E_ORPHANED: {
        // The operation's map/parallel finished without it: the item is abandoned.
        const err = new Error(message);
        err.orphaned = true;
        return err;
      }
      default:
        return new ExecutionError(`${e.code}: ${message}`);
    }
  }

  /**
   * vm* addon call on this VM; a failure becomes the mapped exception. Fixed
   * parameters rather than rest/spread: this runs several times per operation
   * (the addon reads missing arguments as undefined).
   */
  call(fn, a, b, c, d, e) {
    if (!this.vm || !this.active && fn !== 'vmStart') {
      throw new InvalidStateError('this DurableContext belongs to an invocation that has already ended: '
        + 'contexts cannot be used after the handler returned');
    }
    this.activity++;
    try {
      return native[fn](this.vm, a, b, c, d, e);
    } catch (err) {
      const ex = this.exception(err);
      if (ex instanceof NonDeterministicExecutionError || err.status === C.E_PROTOCOL || err.status === C.E_INTERNAL) {
        this.fail(ex);   // the VM is poisoned: the invocation cannot go on
      }
      throw ex;
    }
  }

  /** Throws the invocation's fatal error, if there is one. */
  checkFatal() {
    if (this.fatal) throw this.fatal;
    if (!this.active) {
      throw new InvalidStateError('this DurableContext belongs to an invocation that has already ended: '
        + 'contexts cannot be used after the handler returned');
    }
  }

  // -- checkpoints --------------------------------------------------------------
  /** Sends batches while the VM wants them flushed; one batch in flight at a time. */
  async flush() {
    while (this.flushing) await this.flushing.catch(() => {});
    this.checkFatal();
    if (!native.vmWantsFlush(this.vm)) return;                        // perdure_vm_wants_flush
    this.flushing = this._flushLoop();
    try {
      await this.flushing;
    } finally {
      this.flushing = null;
    }
  }

  async _flushLoop() {
    this.busy++;
    try {
      while (this.active && native.vmWantsFlush(this.vm)) {
        const request = this.call('vmTakeBatch');                     // perdure_vm_take_batch
        if (!request) break;
        let response;
        try {
          response = await this.transport(request);
        } catch (e) {
          const err = new TransportError(`checkpoint failed: ${e && e.message ? e.message : e}`, e);
          this.fail(err);
          throw err;
        }
        if (!this.active) return;
        try {
          native.vmApplyResponse(this.vm, response);                  // perdure_vm_apply_response
        } catch (e) {
          const err = new TransportError(`checkpoint response refused: ${e.message}`, e);
          this.fail(err);
          throw err;
        }
        this._recheckParked();   // the response may carry the service's completions
        this.wakeAll();          // an acknowledged update may settle a map/parallel item
      }
    } finally {
      this.busy--;
      this.scheduleQuiesce();
    }
  }

  /** perdure_vm_op_next until it says something other than CHECKPOINT; `first`, when given, is its first answer. */
  async drive(op, first) {
    let next = first;
    for (;;) {
      if (next === undefined) {
        this.checkFatal();
        next = this.call('vmOpNext', op);                             // perdure_vm_op_next
      }
      if (next !== C.NEXT_CHECKPOINT) return next;
      await this.flush();
      next = undefined;
    }
  }

  // -- operation views ----------------------------------------------------------
  opId(op) { return this.call('vmOpId', op); }                        // perdure_vm_op_id
  attempt(op) { return this.call('vmOpAttempt', op); }                // perdure_vm_op_attempt
  callbackId(op) { return this.call('vmOpCallbackId', op); }          // perdure_vm_op_callback_id

  /** The recorded result as text, undefined when there is none or it is empty (perdure_vm_op_result). */
  result(op) {
    const buf = this.call('vmOpResult', op);
    return buf === null || buf.length === 0 ? undefined : buf.toString('utf8');
  }

  /** The recorded error as the exception user code catches (perdure_vm_op_error). */
  error(op) {
    const view = this.call('vmOpError', op);
    const cls = ERROR_CLASSES[view.kind] || StepError;
    const cause = new Error(view.ErrorMessage);
    cause.name = view.ErrorType || 'Error';
    if (view.StackTrace) cause.stack = view.StackTrace.join('\n');
    const err = new cls(view.ErrorMessage || undefined, cause, view.ErrorData);
    if (view.StackTrace) err.stackTrace = view.StackTrace;
    err.errorObject = { ErrorType: view.ErrorType, ErrorMessage: view.ErrorMessage, ErrorData: view.ErrorData,
      StackTrace: view.StackTrace };
    return err;
  }

  // -- bodies --------------------------------------------------------------------
  /** Runs user code counted as busy (no quiescence while it runs). */
  async runBody(fn) {
    this.busy++;
    try {
      return await fn();
    } finally {
      this.busy--;
      this.scheduleQuiesce();
    }
  }

  /**
   * perdure_vm_op_next until the operation has an answer: while it waits for
   * the service (SUSPEND) it is parked, and looked at again after every
   * checkpoint response (a wait may end, a callback be answered, a retry
   * become due within the invocation). `ctx` is the calling context: the
   * operations of a map/parallel item reported blocked stay parked for good.
   * `first`, when given, is perdure_vm_op_next's answer already taken.
   */
  async settle(op, ctx, first) {
    let next = await this.drive(op, first);
    while (next === C.NEXT_SUSPEND) {
      next = await this.parkOp(op, ctx);
      if (next === C.NEXT_CHECKPOINT) next = await this.drive(op);
    }
    return next;
  }

  // -- suspension ---------------------------------------------------------------
  /** Resolves with perdure_vm_op_next's new answer once `op` no longer waits (op null: at the next response). */
  parkOp(op, ctx) {
    return new Promise((resolve) => {
      this.parked.add({ op, ctx, resolve });
      this.scheduleQuiesce();
    });
  }

  /** A promise that never settles (an abandoned map/parallel item). */
  park() {
    return new Promise(() => {});
  }

  _recheckParked() {
    for (const e of [...this.parked]) {
      if (e.ctx && !e.ctx._alive()) {
        this.parked.delete(e);   // abandoned with its item: never resumes
        continue;
      }
      if (e.op === null) {
        this.parked.delete(e);
        e.resolve(null);
        continue;
      }
      let next;
      try {
        next = this.call('vmOpNext', e.op);                           // perdure_vm_op_next
      } catch (err) {
        continue;
      }
      if (next !== C.NEXT_SUSPEND) {
        this.parked.delete(e);
        e.resolve(next);
      }
    }
  }

  /** A promise resolved at the next wakeAll (a batch run waiting for its items). */
  changed() {
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  wakeAll() {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }

  scheduleQuiesce() {
    if (this._qScheduled || !this.active) return;
    this._qScheduled = true;
    setImmediate(() => {
      this._qScheduled = false;
      this._quiesceCheck();
    });
  }

  _quiesceCheck() {
    if (!this.active || this.fatal || this.busy > 0) return;
    if (this._qSeen !== this.activity) {   // something ran since: look again after one more turn
      this._qSeen = this.activity;
      this.scheduleQuiesce();
      return;
    }
    // Quiescent. The innermost batch with blocked items hears about them first.
    const runs = [...this.batchRuns].reverse();
    for (const run of runs) {
      if (run.reportBlocked()) {
        this.scheduleQuiesce();
        return;
      }
    }
    if (this.parked.size > 0) this._terminate({ kind: 'suspend' });
  }

  // -- ending ---------------------------------------------------------------------
  /** perdure_vm_finish + flush + perdure_vm_output: the invocation output. */
  async finish(outcome, payload, error) {
    while (this.flushing) await this.flushing.catch(() => {});
    if (this.fatal) throw this.fatal;
    const next = this.call('vmFinish', outcome, payload === undefined ? null : payload, error || null);
    if (next === C.NEXT_CHECKPOINT) {
      this.flushing = this._flushLoop();
      try { await this.flushing; } finally { this.flushing = null; }
    }
    return this.call('vmOutput');                                     // perdure_vm_output
  }

  /** The FAILED output without touching the VM, which may be poisoned (perdure_output_failed). */
  failedOutput(error) {
    return native.outputFailed(this.wire, error);
  }
}

module.exports = { Engine, UnrecoverableError };

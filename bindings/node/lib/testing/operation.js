'use strict';
/**
 * DurableOperation: one operation of a test's execution, found by name,
 * index or id (runner.getOperation...), possibly before it exists. Its data
 * is filled in as the execution runs; waitForData resolves once it reached a
 * WaitingOperationStatus. Callback operations are answered through it.
 */
const { WaitingOperationStatus, COMPLETED, parsePayload, testResultError } = require('./model');

function isWaitForCallback(op) {
  return !!op && op.Type === 'CONTEXT' && op.SubType === 'WaitForCallback';
}

/** The CALLBACK operation behind `op` (itself, or a waitForCallback context's child). */
function callbackOperation(index, op) {
  if (!op) return undefined;
  if (op.Type === 'CALLBACK') return op;
  return isWaitForCallback(op) ? index.children(op.Id).find((c) => c.Type === 'CALLBACK') : undefined;
}

function completed(op) {
  return !!op && COMPLETED.has(op.Status);
}

/**
 * Whether `op` reached `status`. A waitForCallback context is STARTED once its
 * callback exists (so that it can be answered), SUBMITTED once its submitter
 * ran, COMPLETED once the callback was answered or timed out.
 */
function reached(index, op, status) {
  if (!op) return false;
  if (isWaitForCallback(op)) {
    const children = index.children(op.Id);
    const callback = children.find((c) => c.Type === 'CALLBACK');
    const submitter = children.find((c) => c.Type === 'STEP');
    if (status === WaitingOperationStatus.STARTED) return !!callback || completed(op);
    if (status === WaitingOperationStatus.SUBMITTED) return completed(submitter) || completed(callback) || completed(op);
    return completed(callback) || completed(op);
  }
  return status === WaitingOperationStatus.STARTED || completed(op);
}

class DurableOperation {
  /**
   * @param {object} view the runner's View (waits, callback answers)
   * @param {{id?: string, name?: string, index?: number}} query how the operation is found
   */
  constructor(view, query) {
    this._view = view;
    this._query = query;
    this._index = null;
    this._op = undefined;
  }

  /** Called by the view with every new read of the execution. */
  _populate(index) {
    const q = this._query;
    let op;
    if (q.id !== undefined) op = index.byId.get(q.id);
    else if (q.name !== undefined) op = index.byName(q.name, q.index);
    else op = index.byIndex(q.index);
    if (op) {
      this._index = index;
      this._op = op;
    }
  }

  waitForData(status = WaitingOperationStatus.STARTED) {
    return this._view.waitFor(this, status);
  }

  _type(expected, label = expected) {
    const op = this._op;
    if (op && op.Type !== expected) throw new Error(`Operation type ${op.Type} is not ${label}`);
    return op;
  }

  getContextDetails() {
    const op = this._type('CONTEXT');
    if (!op) return undefined;
    const details = op.ContextDetails || {};
    return { result: parsePayload(details.Result), error: testResultError(details.Error) };
  }

  getStepDetails() {
    const op = this._type('STEP');
    if (!op) return undefined;
    const details = op.StepDetails || {};
    return {
      attempt: details.Attempt,
      nextAttemptTimestamp: details.NextAttemptTimestamp,
      result: parsePayload(details.Result),
      error: testResultError(details.Error),
    };
  }

  getChainedInvokeDetails() {
    const op = this._type('CHAINED_INVOKE', 'INVOKE');
    if (!op) return undefined;
    const details = op.ChainedInvokeDetails || {};
    let result;
    try {
      result = details.Result ? JSON.parse(details.Result) : undefined;
    } catch (err) {
      throw new Error('Could not parse result for invoke details', { cause: err });
    }
    return { error: testResultError(details.Error), result };
  }

  getCallbackDetails() {
    const op = this._op;
    if (!op) return undefined;
    if (op.Type !== 'CALLBACK' && !isWaitForCallback(op)) {
      throw new Error(`Operation with Type ${op.Type} and SubType ${op.SubType} is not a valid callback`);
    }
    const callback = callbackOperation(this._index, op);
    if (!callback) throw new Error('Could not find CALLBACK operation in WAIT_FOR_CALLBACK context');
    const details = callback.CallbackDetails || {};
    if (details.CallbackId === undefined) throw new Error('Could not find callback ID in callback details');
    return {
      callbackId: details.CallbackId,
      error: testResultError(details.Error),
      result: parsePayload(details.Result),
    };
  }

  getWaitDetails() {
    const op = this._type('WAIT');
    if (!op) return undefined;
    const started = this._index.eventsOf(op.Id)[0];
    const details = started && started.WaitStartedDetails;
    if (!details) throw new Error('First wait event does not have WaitStartedDetails');
    return { waitSeconds: details.Duration, scheduledEndTimestamp: details.ScheduledEndTimestamp };
  }

  getChildOperations() {
    const op = this._op;
    if (!op) return undefined;
    return this._index.children(op.Id).map((child) => this._view.handle({ id: child.Id }, this._index));
  }

  getOperationData() { return this._op; }

  getEvents() { return this._op ? this._index.eventsOf(this._op.Id) : undefined; }

  getId() { return this._op && this._op.Id; }

  getParentId() { return this._op && this._op.ParentId; }

  getName() { return this._op && this._op.Name; }

  getType() { return this._op && this._op.Type; }

  getSubType() { return this._op && this._op.SubType; }

  isWaitForCallback() { return isWaitForCallback(this._op); }

  isCallback() { return !!this._op && this._op.Type === 'CALLBACK'; }

  getStatus() { return this._op && this._op.Status; }

  getStartTimestamp() { return this._op && this._op.StartTimestamp; }

  getEndTimestamp() { return this._op && this._op.EndTimestamp; }

  _callbackId() {
    const details = this.getCallbackDetails();
    if (!details) throw new Error('Could not find callback details');
    return details.callbackId;
  }

  /** @param {string} [result] the answer's raw text */
  sendCallbackSuccess(result) {
    const id = this._callbackId();
    return this._view.answer((store) => store.callbackSucceed(id, result));
  }

  /** @param {{ErrorMessage?: string, ErrorType?: string, ErrorData?: string, StackTrace?: string[]}} [error] */
  sendCallbackFailure(error) {
    const id = this._callbackId();
    return this._view.answer((store) => store.callbackFail(id, error || {}));
  }

  sendCallbackHeartbeat() {
    const id = this._callbackId();
    this._view.attend(callbackOperation(this._index, this._op));
    return this._view.answer((store) => store.callbackHeartbeat(id));
  }
}

module.exports = { DurableOperation, reached, callbackOperation, completed };

'use strict';
/**
 * The shapes test assertions read, as @aws/durable-execution-sdk-js-testing
 * presents them: the store's JSON (the AWS API's shapes) with timestamps as
 * Date objects (what @aws-sdk/client-lambda hands out), payloads parsed as
 * JSON, errors as TestResultError. An Index is one read of an execution.
 */

const WaitingOperationStatus = Object.freeze({ STARTED: 'STARTED', SUBMITTED: 'SUBMITTED', COMPLETED: 'COMPLETED' });

const ExecutionStatus = Object.freeze({
  RUNNING: 'RUNNING', SUCCEEDED: 'SUCCEEDED', FAILED: 'FAILED', TIMED_OUT: 'TIMED_OUT', STOPPED: 'STOPPED',
});

const InvocationType = Object.freeze({ DryRun: 'DryRun', Event: 'Event', RequestResponse: 'RequestResponse' });

const COMPLETED = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'STOPPED', 'TIMED_OUT']);

/** The store writes epoch seconds; the AWS SDK's shapes carry Dates. */
function withDates(value) {
  if (Array.isArray(value)) return value.map(withDates);
  if (value === null || typeof value !== 'object') return value;
  const out = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = key.endsWith('Timestamp') && typeof v === 'number' ? new Date(Math.round(v * 1000)) : withDates(v);
  }
  return out;
}

/** A payload as the official runner returns it: parsed JSON, else the text itself; empty is undefined. */
function parsePayload(text) {
  if (text === undefined || text === null || text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** An ErrorObject ({ErrorType, ErrorMessage, ErrorData, StackTrace}) as a TestResultError. */
function testResultError(error) {
  if (!error) return undefined;
  return {
    errorData: error.ErrorData,
    errorMessage: error.ErrorMessage,
    errorType: error.ErrorType,
    stackTrace: error.StackTrace ? Array.from(error.StackTrace) : undefined,
  };
}

/** One read of an execution: its operations (EXECUTION left out) and, on demand, its history. */
class Index {
  /**
   * @param {object[]} operations the store's Operations, in the order they started
   * @param {() => object[]} readEvents the execution's history (read once, when first asked)
   */
  constructor(operations, readEvents) {
    this.operations = operations.filter((op) => op.Type !== 'EXECUTION').map(withDates);
    this.byId = new Map(this.operations.map((op) => [op.Id, op]));
    this._readEvents = readEvents;
    this._events = null;
  }

  events() {
    if (!this._events) this._events = withDates(this._readEvents());
    return this._events;
  }

  eventsOf(id) {
    return this.events().filter((e) => e.Id === id);
  }

  children(id) {
    return this.operations.filter((op) => op.ParentId === id);
  }

  byIndex(index) {
    return this.operations.at(index);
  }

  byName(name, index = 0) {
    return this.operations.filter((op) => op.Name === name).at(index);
  }
}

module.exports = {
  WaitingOperationStatus, ExecutionStatus, InvocationType, COMPLETED, Index, withDates, parsePayload,
  testResultError,
};

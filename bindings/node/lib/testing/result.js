'use strict';
/**
 * TestResult: an ended execution as the official testing package reports it
 * (getStatus, getResult, getError, getOperations, getInvocations,
 * getHistoryEvents, print).
 */
const { parsePayload, testResultError } = require('./model');

class TestResult {
  /**
   * @param {object} description the store's describe() of the execution
   * @param {import('./model').Index} index its operations and history
   * @param {object} view the runner's View, for the operations' waits and callback answers
   */
  constructor(description, index, view) {
    this._description = description;
    this._index = index;
    this._view = view;
  }

  getStatus() { return this._description.Status; }

  /** The handler's result; throws the execution's error when it did not succeed. */
  getResult() {
    if (this._description.Status !== 'SUCCEEDED') {
      const failure = this._error();
      const error = new Error(failure.errorMessage && failure.errorMessage.trim() ? failure.errorMessage
        : 'Execution failed');
      if (failure.stackTrace) error.stack = failure.stackTrace.join('\n');
      throw error;
    }
    return parsePayload(this._description.Result);
  }

  getError() {
    if (this._description.Status === 'SUCCEEDED') throw new Error('Cannot get error for succeeded execution');
    return this._error();
  }

  _error() {
    const error = testResultError(this._description.Error);
    if (!error) throw new Error('Could not find error result');
    return error;
  }

  /** Every operation (nested ones too), in the order they started; `status` filters. */
  getOperations(params) {
    const ops = this._index.operations.filter((op) => !params || op.Status === params.status);
    return ops.map((op) => this._view.handle({ id: op.Id }, this._index));
  }

  getInvocations() {
    return this._index.events()
      .filter((e) => e.EventType === 'InvocationCompleted')
      .map((e) => {
        const details = e.InvocationCompletedDetails || {};
        return {
          startTimestamp: details.StartTimestamp,
          endTimestamp: details.EndTimestamp,
          requestId: details.RequestId,
          error: testResultError(details.Error && details.Error.Payload),
        };
      });
  }

  getHistoryEvents() { return this._index.events(); }

  /** console.table of the operations; `config` turns columns off ({name: false, ...}). */
  print(config) {
    const operations = this.getOperations();
    if (!operations.length) {
      console.log('No operations found.');
      return;
    }
    const show = {
      parentId: true, name: true, type: true, subType: true, status: true, startTime: true, endTime: true,
      duration: true, ...config,
    };
    const rows = operations.map((op) => {
      const start = op.getStartTimestamp();
      const end = op.getEndTimestamp();
      const row = {};
      if (show.parentId) row.parentId = op.getParentId() ?? '-';
      if (show.name) row.name = op.getName() ?? '-';
      if (show.type) row.type = op.getType() ?? '-';
      if (show.subType) row.subType = op.getSubType() ?? '-';
      if (show.status) row.status = op.getStatus() ?? '-';
      if (show.startTime) row.startTime = start ? start.toISOString() : '-';
      if (show.endTime) row.endTime = end ? end.toISOString() : '-';
      if (show.duration) row.duration = start && end ? `${end.getTime() - start.getTime()}ms` : '-';
      return row;
    });
    console.table(rows);
  }
}

module.exports = { TestResult };

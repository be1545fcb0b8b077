'use strict';
/** BatchResult of map / parallel, with the official shape and methods. */
const { ChildContextError, DurableOperationError, BatchCompletionError } = require('./errors');

const BatchItemStatus = Object.freeze({ SUCCEEDED: 'SUCCEEDED', FAILED: 'FAILED', STARTED: 'STARTED' });
const NestingType = Object.freeze({ NESTED: 'NESTED', FLAT: 'FLAT' });
const CompletionOutcome = Object.freeze({ SUCCEEDED: 'SUCCEEDED', FAILED: 'FAILED' });
const continueBatch = () => ({ complete: false });
const completeBatch = (outcome) => (outcome === undefined ? { complete: true } : { complete: true, outcome });

class BatchResultImpl {
  constructor(all, completionReason) {
    this.all = all;
    this.completionReason = completionReason;
  }

  succeeded() { return this.all.filter((i) => i.status === BatchItemStatus.SUCCEEDED); }
  failed() { return this.all.filter((i) => i.status === BatchItemStatus.FAILED); }
  started() { return this.all.filter((i) => i.status === BatchItemStatus.STARTED); }
  get successCount() { return this.succeeded().length; }
  get failureCount() { return this.failed().length; }
  get startedCount() { return this.started().length; }
  get totalCount() { return this.all.length; }
  get hasFailure() { return this.failureCount > 0; }
  get status() { return this.hasFailure ? BatchItemStatus.FAILED : BatchItemStatus.SUCCEEDED; }
  getResults() { return this.succeeded().map((i) => i.result); }
  getErrors() { return this.failed().map((i) => i.error); }
  throwIfError() {
    const first = this.all.find((i) => i.status === BatchItemStatus.FAILED);
    if (first) throw first.error;
  }

  /** The stored form: {all: [{index, status, result?, error?: ErrorObject}], completionReason}. */
  toJSON() {
    return {
      all: this.all.map((i) => {
        const o = { index: i.index, status: i.status };
        if (i.result !== undefined) o.result = i.result;
        if (i.error) o.error = i.error instanceof DurableOperationError ? i.error.toErrorObject() : i.error;
        return o;
      }),
      completionReason: this.completionReason,
    };
  }

  static fromJSON(obj) {
    const all = (obj && obj.all ? obj.all : []).map((i) => {
      const item = { index: i.index, status: i.status };
      if (i.result !== undefined) item.result = i.result;
      if (i.error) {
        const e = DurableOperationError.fromErrorObject(i.error);
        item.error = e instanceof ChildContextError ? e : new ChildContextError(e.message, e, e.errorData);
      }
      return item;
    });
    return new BatchResultImpl(all, obj ? obj.completionReason : 'ALL_COMPLETED');
  }
}

/** The default serdes of a map/parallel result: JSON that comes back as a BatchResult. */
const batchResultSerdes = {
  serialize: async (value) => (value !== undefined ? JSON.stringify(value) : undefined),
  deserialize: async (data) => (data !== undefined ? BatchResultImpl.fromJSON(JSON.parse(data)) : undefined),
};

module.exports = {
  BatchItemStatus, NestingType, CompletionOutcome, continueBatch, completeBatch, BatchResultImpl, batchResultSerdes,
  BatchCompletionError,
};

'use strict';
/**
 * perdure: durable execution for Node.js on libperdure, a drop-in for
 * @aws/durable-execution-sdk-js 2.x (same exports, names and defaults), plus
 * Perdure's local runtime: Store, Worker, startWorker, run.
 */
const errors = require('./lib/errors');
const { withDurableExecution, runInvocation } = require('./lib/execution');
const { DurablePromise, StepSemantics } = require('./lib/context');
const {
  JitterStrategy, createRetryStrategy, createLinearRetryStrategy, retryPresets, createWaitStrategy, withRetry,
} = require('./lib/strategies');
const { defaultSerdes, createClassSerdes, createClassSerdesWithDates } = require('./lib/serdes');
const {
  BatchItemStatus, NestingType, CompletionOutcome, continueBatch, completeBatch,
} = require('./lib/batch');
const { Store, StoreError } = require('./lib/store');
const { Worker, startWorker, run, ExecutionFailedError } = require('./lib/worker');
const { native, ADDON_PATH } = require('./lib/native');

const InvocationStatus = Object.freeze({ SUCCEEDED: 'SUCCEEDED', FAILED: 'FAILED', PENDING: 'PENDING' });
const OperationSubType = Object.freeze({
  STEP: 'Step', WAIT: 'Wait', CALLBACK: 'Callback', RUN_IN_CHILD_CONTEXT: 'RunInChildContext', MAP: 'Map',
  MAP_ITERATION: 'MapIteration', PARALLEL: 'Parallel', PARALLEL_BRANCH: 'ParallelBranch',
  WAIT_FOR_CALLBACK: 'WaitForCallback', WAIT_FOR_CONDITION: 'WaitForCondition', CHAINED_INVOKE: 'ChainedInvoke',
});
const OperationType = Object.freeze({
  EXECUTION: 'EXECUTION', CONTEXT: 'CONTEXT', STEP: 'STEP', WAIT: 'WAIT', CALLBACK: 'CALLBACK',
  CHAINED_INVOKE: 'CHAINED_INVOKE',
});
const OperationStatus = Object.freeze({
  STARTED: 'STARTED', PENDING: 'PENDING', READY: 'READY', SUCCEEDED: 'SUCCEEDED', FAILED: 'FAILED',
  CANCELLED: 'CANCELLED', TIMED_OUT: 'TIMED_OUT', STOPPED: 'STOPPED',
});
const OperationAction = Object.freeze({
  START: 'START', SUCCEED: 'SUCCEED', FAIL: 'FAIL', RETRY: 'RETRY', CANCEL: 'CANCEL',
});

/** This package's version (the official SDK exports its own as SDK_VERSION). */
const SDK_VERSION = require('./package.json').version;
/** The default logger reads AWS_LAMBDA_LOG_LEVEL at every record: nothing to refresh. */
const refreshLogConfig = () => {};

module.exports = {
  // the official API
  withDurableExecution,
  SDK_VERSION,
  refreshLogConfig,
  DurablePromise,
  StepSemantics,
  JitterStrategy,
  NestingType,
  BatchItemStatus,
  CompletionOutcome,
  continueBatch,
  completeBatch,
  InvocationStatus,
  OperationSubType,
  OperationType,
  OperationStatus,
  OperationAction,
  createRetryStrategy,
  createLinearRetryStrategy,
  retryPresets,
  createWaitStrategy,
  withRetry,
  defaultSerdes,
  createClassSerdes,
  createClassSerdesWithDates,
  DurableOperationError: errors.DurableOperationError,
  StepError: errors.StepError,
  CallbackError: errors.CallbackError,
  CallbackExternalError: errors.CallbackExternalError,
  CallbackTimeoutError: errors.CallbackTimeoutError,
  CallbackSubmitterError: errors.CallbackSubmitterError,
  InvokeError: errors.InvokeError,
  ChildContextError: errors.ChildContextError,
  WaitForConditionError: errors.WaitForConditionError,
  PromiseCombinatorError: errors.PromiseCombinatorError,
  BatchCompletionError: errors.BatchCompletionError,
  StepInterruptedError: errors.StepInterruptedError,
  // Perdure's own
  NonDeterministicExecutionError: errors.NonDeterministicExecutionError,
  InvalidStateError: errors.InvalidStateError,
  ValidationError: errors.ValidationError,
  SerdesFailedError: errors.SerdesFailedError,
  TransportError: errors.TransportError,
  UnrecoverableError: errors.UnrecoverableError,
  UnrecoverableExecutionError: errors.UnrecoverableExecutionError,
  UnrecoverableInvocationError: errors.UnrecoverableInvocationError,
  isUnrecoverableError: errors.isUnrecoverableError,
  isUnrecoverableExecutionError: errors.isUnrecoverableExecutionError,
  isUnrecoverableInvocationError: errors.isUnrecoverableInvocationError,
  Store,
  StoreError,
  Worker,
  startWorker,
  run,
  runInvocation,
  ExecutionFailedError,
  native,
  ADDON_PATH,
};

'use strict';
/**
 * Error classes, with the names and constructors of @aws/durable-execution-sdk-js
 * 2.x, plus Perdure's own: NonDeterministicExecutionError (a replay that does
 * not match the history fails the execution), InvalidStateError (a context used
 * after its invocation ended), ValidationError (bad arguments), SerdesFailedError
 * and TransportError.
 */

class DurableOperationError extends Error {
  constructor(message, cause, errorData) {
    super(message);
    this.name = this.constructor.name;
    this.cause = cause;
    this.errorData = errorData;
  }

  static fromErrorObject(errorObject) {
    const eo = errorObject || {};
    const cause = new Error(eo.ErrorMessage);
    cause.name = eo.ErrorType || 'Error';
    if (eo.StackTrace) cause.stack = eo.StackTrace.join('\n');
    const cls = KNOWN[eo.ErrorType] || StepError;
    const fallback = DEFAULT_MESSAGES[eo.ErrorType] || 'Unknown error';
    return new cls(eo.ErrorMessage || fallback, cause, eo.ErrorData);
  }

  toErrorObject() {
    let errorData = this.errorData;
    if (errorData === undefined) {
      let node = this.cause;
      for (let i = 0; i < 10 && node; i++) {
        if (node instanceof DurableOperationError && typeof node.errorData === 'string') {
          errorData = node.errorData;
          break;
        }
        node = node instanceof Error ? node.cause : undefined;
      }
    }
    return { ErrorType: this.errorType, ErrorMessage: this.message, ErrorData: errorData, StackTrace: undefined };
  }
}

class StepError extends DurableOperationError {
  constructor(message = 'Step failed', cause, errorData) { super(message, cause, errorData); this.errorType = 'StepError'; }
}
class CallbackError extends DurableOperationError {
  constructor(message = 'Callback failed', cause, errorData) { super(message, cause, errorData); this.errorType = 'CallbackError'; }
}
class CallbackExternalError extends CallbackError {
  constructor(message = 'Callback failed', cause, errorData) { super(message, cause, errorData); this.errorType = 'CallbackExternalError'; }
}
class CallbackTimeoutError extends CallbackError {
  constructor(message = 'Callback timed out', cause, errorData) { super(message, cause, errorData); this.errorType = 'CallbackTimeoutError'; }
}
class CallbackSubmitterError extends CallbackError {
  constructor(message = 'Callback submitter failed', cause, errorData) { super(message, cause, errorData); this.errorType = 'CallbackSubmitterError'; }
}
class InvokeError extends DurableOperationError {
  constructor(message = 'Invoke failed', cause, errorData) { super(message, cause, errorData); this.errorType = 'InvokeError'; }
}
class ChildContextError extends DurableOperationError {
  constructor(message = 'Child context failed', cause, errorData) { super(message, cause, errorData); this.errorType = 'ChildContextError'; }
}
class PromiseCombinatorError extends DurableOperationError {
  constructor(message = 'Promise combinator failed', cause, errorData) { super(message, cause, errorData); this.errorType = 'PromiseCombinatorError'; }
}
class WaitForConditionError extends DurableOperationError {
  constructor(message = 'Wait for condition failed', cause, errorData) { super(message, cause, errorData); this.errorType = 'WaitForConditionError'; }
}
class BatchCompletionError extends DurableOperationError {
  constructor(completionReason, message, cause, errorData) {
    super(message || `Batch completed as failed by shouldComplete (${completionReason})`, cause, errorData);
    this.completionReason = completionReason;
    this.errorType = 'BatchCompletionError';
  }
}

const KNOWN = {
  StepError, CallbackError, CallbackExternalError, CallbackTimeoutError, CallbackSubmitterError, InvokeError,
  ChildContextError, PromiseCombinatorError, WaitForConditionError,
};
const DEFAULT_MESSAGES = {
  StepError: 'Step failed', CallbackError: 'Callback failed', CallbackExternalError: 'Callback failed',
  CallbackTimeoutError: 'Callback timed out', CallbackSubmitterError: 'Callback submitter failed',
  InvokeError: 'Invoke failed', ChildContextError: 'Child context failed',
  WaitForConditionError: 'Wait for condition failed', PromiseCombinatorError: 'Promise combinator failed',
};

/** An at-most-once step whose attempt was interrupted (the process died while it ran). */
class StepInterruptedError extends Error {
  constructor(stepId, stepName) {
    super(`The step execution process was initiated but failed to reach completion due to an interruption.`);
    this.name = 'StepInterruptedError';
    this.stepId = stepId;
    this.stepName = stepName;
  }
}

/** Ends the invocation (not just the operation): the execution fails or is re-invoked. */
class UnrecoverableError extends Error {
  constructor(message, originalError) {
    super(message);
    this.name = this.constructor.name;
    this.originalError = originalError;
    this.isUnrecoverable = true;
  }
}
/** The execution fails (terminal). */
class UnrecoverableExecutionError extends UnrecoverableError {
  constructor(message, originalError) { super(message, originalError); this.isUnrecoverableExecution = true; }
}
/** The invocation is abandoned and re-run from its last checkpoint. */
class UnrecoverableInvocationError extends UnrecoverableError {
  constructor(message, originalError) { super(message, originalError); this.isUnrecoverableInvocation = true; }
}

/** A replay that declares an operation other than the recorded one (type, sub-type or name). */
class NonDeterministicExecutionError extends UnrecoverableExecutionError {
  constructor(message, detail) { super(message); this.detail = detail; }
}
/** A context or handle used in a state that forbids it (e.g. after its handler returned). */
class InvalidStateError extends UnrecoverableExecutionError {}
/** An argument out of range (a wait under 1 s, maxConcurrency 0, a payload over the limits). */
class ValidationError extends UnrecoverableExecutionError {}
/** A value a Serdes could not serialize or deserialize: the execution fails. */
class SerdesFailedError extends UnrecoverableExecutionError {}
/** A checkpoint could not be written: the invocation is re-run from its last checkpoint. */
class TransportError extends UnrecoverableInvocationError {}
/** A libperdure failure that is none of the above (the message names the status). */
class ExecutionError extends UnrecoverableExecutionError {}

// As the official SDK's type guards: an Error whose flag is exactly true.
function isUnrecoverableError(e) { return e instanceof Error && e.isUnrecoverable === true; }
function isUnrecoverableExecutionError(e) { return e instanceof Error && e.isUnrecoverableExecution === true; }
function isUnrecoverableInvocationError(e) { return e instanceof Error && e.isUnrecoverableInvocation === true; }

/** The ErrorObject recorded for an error thrown by user code (as the official SDK writes it). */
function errorObject(error) {
  if (error instanceof DurableOperationError) return error.toErrorObject();
  if (error && typeof error === 'object' && typeof error.message === 'string') {
    return { ErrorType: error.name || 'Error', ErrorMessage: error.message };
  }
  return { ErrorMessage: error === undefined ? 'Unknown error' : String(error) };
}

module.exports = {
  DurableOperationError, StepError, CallbackError, CallbackExternalError, CallbackTimeoutError,
  CallbackSubmitterError, InvokeError, ChildContextError, PromiseCombinatorError, WaitForConditionError,
  BatchCompletionError, StepInterruptedError, UnrecoverableError, UnrecoverableExecutionError,
  UnrecoverableInvocationError, NonDeterministicExecutionError, InvalidStateError, ValidationError,
  SerdesFailedError, TransportError, ExecutionError, isUnrecoverableError, isUnrecoverableExecutionError,
  isUnrecoverableInvocationError, errorObject,
};

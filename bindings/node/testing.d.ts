// Type declarations of `perdure/testing`: the local runner of
// @aws/durable-execution-sdk-js-testing (same names and shapes), running on a
// Perdure store. Timestamps are Dates, payloads parsed JSON, as there.

import type { DurableLambdaHandler, ErrorObject, OperationStatus, OperationSubType, OperationType } from "./index";

export { OperationStatus, OperationType } from "./index";

export declare enum WaitingOperationStatus {
  /** The operation exists (a waitForCallback: its callback exists, so it can be answered). */
  STARTED = "STARTED",
  /** COMPLETED, except for a waitForCallback: its submitter has run. */
  SUBMITTED = "SUBMITTED",
  /** SUCCEEDED, FAILED, CANCELLED, STOPPED or TIMED_OUT. */
  COMPLETED = "COMPLETED",
}
export declare enum ExecutionStatus {
  RUNNING = "RUNNING",
  SUCCEEDED = "SUCCEEDED",
  FAILED = "FAILED",
  TIMED_OUT = "TIMED_OUT",
  STOPPED = "STOPPED",
}
export declare enum InvocationType {
  DryRun = "DryRun",
  Event = "Event",
  RequestResponse = "RequestResponse",
}

export interface TestResultError {
  errorMessage: string | undefined;
  errorType: string | undefined;
  errorData: string | undefined;
  stackTrace: string[] | undefined;
}
export interface ContextDetails<TResult = unknown> {
  readonly result: TResult | undefined;
  readonly error: TestResultError | undefined;
}
export interface StepDetails<TResult = unknown> {
  readonly attempt: number | undefined;
  readonly nextAttemptTimestamp: Date | undefined;
  readonly result: TResult | undefined;
  readonly error: TestResultError | undefined;
}
export interface CallbackDetails<TResult = unknown> {
  readonly callbackId: string;
  readonly error?: TestResultError;
  readonly result?: TResult;
}
export interface ChainedInvokeDetails<TResult = unknown> {
  readonly error?: TestResultError;
  readonly result?: TResult;
}
export interface WaitResultDetails {
  readonly waitSeconds?: number;
  readonly scheduledEndTimestamp?: Date;
}

/** An operation in the AWS API's shape (GetDurableExecutionState), timestamps as Dates. */
export interface Operation {
  Id?: string;
  ParentId?: string;
  Name?: string;
  Type?: OperationType;
  SubType?: string;
  StartTimestamp?: Date;
  EndTimestamp?: Date;
  Status?: OperationStatus;
  [details: string]: unknown;
}
/** A history event in the AWS API's shape (GetDurableExecutionHistory), timestamps as Dates. */
export interface Event {
  EventType?: string;
  SubType?: string;
  EventId?: number;
  Id?: string;
  Name?: string;
  EventTimestamp?: Date;
  ParentId?: string;
  [details: string]: unknown;
}

/** The service's answer to a callback call (empty here). */
export type SendDurableExecutionCallbackResponse = Record<string, never>;

export interface DurableOperation<TResult = any> {
  /** Resolves once the operation reached `status` (default STARTED); rejects if the execution ends first. */
  waitForData(status?: WaitingOperationStatus): Promise<DurableOperation<TResult>>;
  getContextDetails(): ContextDetails<TResult> | undefined;
  getStepDetails(): StepDetails<TResult> | undefined;
  getChainedInvokeDetails(): ChainedInvokeDetails<TResult> | undefined;
  getCallbackDetails(): CallbackDetails<TResult> | undefined;
  getWaitDetails(): WaitResultDetails | undefined;
  getChildOperations(): DurableOperation[] | undefined;
  getOperationData(): Operation | undefined;
  getEvents(): Event[] | undefined;
  getId(): string | undefined;
  getParentId(): string | undefined;
  getName(): string | undefined;
  getType(): OperationType | undefined;
  getSubType(): OperationSubType | undefined;
  isWaitForCallback(): boolean;
  isCallback(): boolean;
  getStatus(): OperationStatus | undefined;
  getStartTimestamp(): Date | undefined;
  getEndTimestamp(): Date | undefined;
  sendCallbackSuccess(result?: string): Promise<SendDurableExecutionCallbackResponse>;
  sendCallbackFailure(error?: ErrorObject): Promise<SendDurableExecutionCallbackResponse>;
  sendCallbackHeartbeat(): Promise<SendDurableExecutionCallbackResponse>;
}

export interface Invocation {
  startTimestamp: Date | undefined;
  endTimestamp: Date | undefined;
  requestId: string | undefined;
  error: TestResultError | undefined;
}

export interface TestResult<TResult = any> {
  /** Every operation, nested ones included, in the order they started. */
  getOperations(params?: { status: OperationStatus }): DurableOperation[];
  getInvocations(): Invocation[];
  getStatus(): ExecutionStatus | undefined;
  /** Throws the execution's error when it did not succeed. */
  getResult(): TResult | undefined;
  /** Throws when the execution succeeded. */
  getError(): TestResultError;
  getHistoryEvents(): Event[];
  print(config?: {
    parentId?: boolean;
    name?: boolean;
    type?: boolean;
    subType?: boolean;
    status?: boolean;
    startTime?: boolean;
    endTime?: boolean;
    duration?: boolean;
  }): void;
}

export interface InvokeRequest {
  payload?: unknown;
}

export interface DurableTestRunner<TDurableOperation extends DurableOperation, ResultType> {
  run(params?: InvokeRequest): Promise<TestResult<ResultType>>;
  getOperation(name: string): TDurableOperation;
  getOperationByIndex(index: number): TDurableOperation;
  getOperationByNameAndIndex(name: string, index: number): TDurableOperation;
  getOperationById(id: string): TDurableOperation;
}

export interface LocalDurableTestRunnerParameters {
  handlerFunction: DurableLambdaHandler;
}
export interface LocalDurableTestRunnerSetupParameters {
  /** Skip waits, retry delays and (unless the test attends the callback) timeouts. Default false. */
  skipTime?: boolean;
  /** Accepted for compatibility; checkpoints go to a local SQLite file, with no delay added. */
  checkpointDelay?: number;
}

export declare class LocalDurableTestRunner<TResult = any> implements DurableTestRunner<DurableOperation, TResult> {
  constructor(params: LocalDurableTestRunnerParameters);
  run(params?: InvokeRequest): Promise<TestResult<TResult>>;
  registerDurableFunction(functionName: string, durableHandler: DurableLambdaHandler): this;
  registerFunction(functionName: string,
    handler: (event: any, context: any, callback: (error?: unknown, result?: unknown) => void) => unknown): this;
  getOperation<TOperationResult = any>(name: string, index?: number): DurableOperation<TOperationResult>;
  getOperationByIndex<TOperationResult = any>(index: number): DurableOperation<TOperationResult>;
  getOperationByNameAndIndex<TOperationResult = any>(name: string, index: number): DurableOperation<TOperationResult>;
  getOperationById<TOperationResult = any>(id: string): DurableOperation<TOperationResult>;
  reset(): void;
  static setupTestEnvironment(params?: LocalDurableTestRunnerSetupParameters): Promise<void>;
  static teardownTestEnvironment(): Promise<void>;
}

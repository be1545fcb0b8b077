// Type declarations of `perdure`, the Node.js SDK of Perdure: the public API of
// @aws/durable-execution-sdk-js 2.x (same names and shapes), plus Perdure's
// local runtime (Store, Worker, startWorker, run) and its own error classes.

// ---- durations and enums -------------------------------------------------------

/** Whole seconds on the wire; at least one unit must be given. */
export type Duration =
  | { days: number; hours?: number; minutes?: number; seconds?: number }
  | { hours: number; minutes?: number; seconds?: number }
  | { minutes: number; seconds?: number }
  | { seconds: number };

export declare enum StepSemantics {
  AtMostOncePerRetry = "AT_MOST_ONCE_PER_RETRY",
  AtLeastOncePerRetry = "AT_LEAST_ONCE_PER_RETRY",
}
export declare enum JitterStrategy {
  NONE = "NONE",
  FULL = "FULL",
  HALF = "HALF",
}
export declare enum NestingType {
  NESTED = "NESTED",
  FLAT = "FLAT",
}
export declare enum BatchItemStatus {
  SUCCEEDED = "SUCCEEDED",
  FAILED = "FAILED",
  STARTED = "STARTED",
}
export declare enum CompletionOutcome {
  SUCCEEDED = "SUCCEEDED",
  FAILED = "FAILED",
}
export declare enum InvocationStatus {
  SUCCEEDED = "SUCCEEDED",
  FAILED = "FAILED",
  PENDING = "PENDING",
}
export declare enum OperationSubType {
  STEP = "Step",
  WAIT = "Wait",
  CALLBACK = "Callback",
  RUN_IN_CHILD_CONTEXT = "RunInChildContext",
  MAP = "Map",
  MAP_ITERATION = "MapIteration",
  PARALLEL = "Parallel",
  PARALLEL_BRANCH = "ParallelBranch",
  WAIT_FOR_CALLBACK = "WaitForCallback",
  WAIT_FOR_CONDITION = "WaitForCondition",
  CHAINED_INVOKE = "ChainedInvoke",
}
export declare enum OperationType {
  EXECUTION = "EXECUTION",
  CONTEXT = "CONTEXT",
  STEP = "STEP",
  WAIT = "WAIT",
  CALLBACK = "CALLBACK",
  CHAINED_INVOKE = "CHAINED_INVOKE",
}
export declare enum OperationStatus {
  STARTED = "STARTED",
  PENDING = "PENDING",
  READY = "READY",
  SUCCEEDED = "SUCCEEDED",
  FAILED = "FAILED",
  CANCELLED = "CANCELLED",
  TIMED_OUT = "TIMED_OUT",
  STOPPED = "STOPPED",
}
export declare enum OperationAction {
  START = "START",
  SUCCEED = "SUCCEED",
  FAIL = "FAIL",
  RETRY = "RETRY",
  CANCEL = "CANCEL",
}

// ---- errors -----------------------------------------------------------------------

export interface ErrorObject {
  ErrorType?: string;
  ErrorMessage?: string;
  ErrorData?: string;
  StackTrace?: string[];
}

export declare abstract class DurableOperationError extends Error {
  readonly errorType: string;
  cause?: Error;
  errorData?: string;
  stackTrace?: string[];
  constructor(message: string, cause?: Error, errorData?: string);
  static fromErrorObject(errorObject: ErrorObject): DurableOperationError;
  toErrorObject(): ErrorObject;
}
export declare class StepError extends DurableOperationError {
  constructor(message?: string, cause?: Error, errorData?: string);
}
export declare class CallbackError extends DurableOperationError {
  constructor(message?: string, cause?: Error, errorData?: string);
}
export declare class CallbackExternalError extends CallbackError {}
export declare class CallbackTimeoutError extends CallbackError {}
export declare class CallbackSubmitterError extends CallbackError {}
export declare class InvokeError extends DurableOperationError {
  constructor(message?: string, cause?: Error, errorData?: string);
}
export declare class ChildContextError extends DurableOperationError {
  constructor(message?: string, cause?: Error, errorData?: string);
}
export declare class WaitForConditionError extends DurableOperationError {
  constructor(message?: string, cause?: Error, errorData?: string);
}
export declare class PromiseCombinatorError extends DurableOperationError {
  constructor(message?: string, cause?: Error, errorData?: string);
}
export declare class BatchCompletionError extends DurableOperationError {
  readonly completionReason: CompletionReason;
  constructor(completionReason: CompletionReason, message?: string, cause?: Error, errorData?: string);
}
export declare class StepInterruptedError extends Error {
  constructor(stepId: string, stepName?: string);
}

/** Ends the invocation whether or not user code catches it. */
export declare abstract class UnrecoverableError extends Error {
  readonly originalError?: Error;
  readonly isUnrecoverable: true;
  constructor(message: string, originalError?: Error);
}
/** The execution fails. */
export declare abstract class UnrecoverableExecutionError extends UnrecoverableError {}
/** The invocation is re-run from its last checkpoint. */
export declare abstract class UnrecoverableInvocationError extends UnrecoverableError {}
export declare function isUnrecoverableError(error: unknown): error is UnrecoverableError;
export declare function isUnrecoverableExecutionError(error: unknown): error is UnrecoverableExecutionError;
export declare function isUnrecoverableInvocationError(error: unknown): error is UnrecoverableInvocationError;

export interface NonDeterminismDetail {
  operationId: string;
  position: number;
  contextId: string;
  expectedType: string;
  actualType: string;
  expectedSubType: string | null;
  actualSubType: string | null;
  expectedName: string | null;
  actualName: string | null;
}
/** (Perdure) A replay declared an operation other than the recorded one: the execution fails. */
export declare class NonDeterministicExecutionError extends UnrecoverableExecutionError {
  readonly detail: NonDeterminismDetail | null;
}
/** (Perdure) A context used after its invocation ended, or another misuse. */
export declare class InvalidStateError extends UnrecoverableExecutionError {}
/** (Perdure) An argument out of range (a wait under 1 s, maxConcurrency 0, an oversized payload). */
export declare class ValidationError extends UnrecoverableExecutionError {}
/** (Perdure) A value a Serdes could not (de)serialize: the execution fails. */
export declare class SerdesFailedError extends UnrecoverableExecutionError {}
/** (Perdure) A checkpoint could not be written: the invocation is re-run. */
export declare class TransportError extends UnrecoverableInvocationError {}

// ---- serdes -------------------------------------------------------------------------

export interface SerdesContext {
  entityId: string;
  durableExecutionArn: string;
}
export interface Serdes<T> {
  serialize: (value: T | undefined, context: SerdesContext) => Promise<string | undefined>;
  deserialize: (data: string | undefined, context: SerdesContext) => Promise<T | undefined>;
}
export type AnySerdes = Serdes<any>;
export type AnySerdesDeserializer = Pick<AnySerdes, "deserialize">;
export interface SerdesConfig {
  defaultSerdes?: AnySerdes;
  defaultCallbackDeserializer?: AnySerdesDeserializer;
}
export declare const defaultSerdes: Serdes<any>;
export declare function createClassSerdes<T extends object>(cls: new () => T): Serdes<T>;
export declare function createClassSerdesWithDates<T extends object>(cls: new () => T, dateProps: string[]): Serdes<T>;

// ---- strategies -----------------------------------------------------------------------

export interface RetryDecision {
  shouldRetry: boolean;
  delay?: Duration;
}
export type RetryStrategy = (error: Error, attemptsMade: number) => RetryDecision;

export interface RetryStrategyConfig {
  maxAttempts?: number;
  initialDelay?: Duration;
  maxDelay?: Duration;
  backoffRate?: number;
  jitter?: JitterStrategy | `${JitterStrategy}`;
  retryableErrors?: (string | RegExp)[];
  retryableErrorTypes?: (new (...args: any[]) => Error)[];
}
export interface LinearRetryStrategyConfig {
  maxAttempts?: number;
  initialDelay?: Duration;
  increment?: Duration;
  maxDelay?: Duration;
  jitter?: JitterStrategy | `${JitterStrategy}`;
  retryableErrors?: (string | RegExp)[];
  retryableErrorTypes?: (new (...args: any[]) => Error)[];
}
/** Exponential backoff; defaults: 3 attempts, 5 s initial, 5 min max, rate 2, FULL jitter. */
export declare const createRetryStrategy: (config?: RetryStrategyConfig) => RetryStrategy;
/** Linear backoff; defaults: 6 attempts, 1 s initial, +1 s, 5 min max, FULL jitter. */
export declare const createLinearRetryStrategy: (config?: LinearRetryStrategyConfig) => RetryStrategy;
export declare const retryPresets: {
  /** 6 attempts, 5 s .. 60 s, x2, FULL jitter (a step without a strategy). */
  default: RetryStrategy;
  /** 6 attempts, 1 s, 2 s, 3 s, ... no jitter. */
  linear: RetryStrategy;
  /** 1 attempt. */
  noRetry: RetryStrategy;
};

export type WaitForConditionDecision = { shouldContinue: true; delay: Duration } | { shouldContinue: false };
export type WaitForConditionWaitStrategyFunc<T> = (state: T, attempt: number) => WaitForConditionDecision;
export interface WaitStrategyConfig<T> {
  maxAttempts?: number;
  initialDelay?: Duration;
  maxDelay?: Duration;
  backoffRate?: number;
  jitter?: JitterStrategy | `${JitterStrategy}`;
  shouldContinuePolling: (result: T) => boolean;
  timeoutSeconds?: number;
}
/** Defaults: 60 attempts, 5 s initial, 300 s max, rate 1.5, FULL jitter; exhaustion throws. */
export declare const createWaitStrategy: <T>(config: WaitStrategyConfig<T>) => WaitForConditionWaitStrategyFunc<T>;

// ---- logging ---------------------------------------------------------------------------

export interface DurableLogData {
  executionArn: string;
  durableExecutionArn?: string;
  operationId?: string;
  operationName?: string;
  attempt?: number;
  [key: string]: unknown;
}
export interface DurableLoggingContext {
  getDurableLogData: () => DurableLogData;
}
export interface DurableLogger {
  log?(level: "INFO" | "WARN" | "ERROR" | "DEBUG", ...params: any): void;
  error(...params: any): void;
  warn(...params: any): void;
  info(...params: any): void;
  debug(...params: any): void;
  configureDurableLoggingContext?(durableLoggingContext: DurableLoggingContext): void;
}
export type DurableContextLogger<Logger extends DurableLogger = DurableLogger> =
  Pick<Logger, "log" | "warn" | "info" | "error" | "debug">;
export interface LoggerConfig<Logger extends DurableLogger = DurableLogger> {
  customLogger?: Logger;
  /** Silent while replaying (default true). */
  modeAware?: boolean;
}

// ---- operations ---------------------------------------------------------------------------

export declare class DurablePromise<T> implements Promise<T> {
  constructor(executor: () => Promise<T>);
  then<TResult1 = T, TResult2 = never>(
    onfulfilled?: ((value: T) => TResult1 | PromiseLike<TResult1>) | undefined | null,
    onrejected?: ((reason: unknown) => TResult2 | PromiseLike<TResult2>) | undefined | null,
  ): Promise<TResult1 | TResult2>;
  catch<TResult = never>(onrejected?: ((reason: unknown) => TResult | PromiseLike<TResult>) | undefined | null): Promise<T | TResult>;
  finally(onfinally?: (() => void) | undefined | null): Promise<T>;
  get [Symbol.toStringTag](): string;
  get isExecuted(): boolean;
}

export interface StepContext<Logger extends DurableLogger = DurableLogger> {
  logger: DurableContextLogger<Logger>;
  /** 1-based. */
  attempt: number;
}
export type WaitForConditionContext<Logger extends DurableLogger = DurableLogger> = StepContext<Logger>;
export interface WaitForCallbackContext<Logger extends DurableLogger = DurableLogger> {
  logger: DurableContextLogger<Logger>;
}

export type StepFunc<T, Logger extends DurableLogger = DurableLogger> = (context: StepContext<Logger>) => Promise<T>;
export interface StepConfig<T> {
  retryStrategy?: RetryStrategy;
  semantics?: StepSemantics;
  serdes?: Serdes<T>;
}
export interface CreateCallbackConfig<TOutput = string> {
  timeout?: Duration;
  heartbeatTimeout?: Duration;
  serdes?: Omit<Serdes<TOutput>, "serialize">;
}
export interface WaitForCallbackConfig<TOutput = string> {
  timeout?: Duration;
  heartbeatTimeout?: Duration;
  retryStrategy?: RetryStrategy;
  serdes?: Omit<Serdes<TOutput>, "serialize">;
}
export type CreateCallbackResult<T = string> = [DurablePromise<T>, string];
export type WaitForCallbackSubmitterFunc<Logger extends DurableLogger = DurableLogger> =
  (callbackId: string, context: WaitForCallbackContext<Logger>) => Promise<void>;
export type WaitForConditionCheckFunc<T, Logger extends DurableLogger = DurableLogger> =
  (state: T, context: WaitForConditionContext<Logger>) => Promise<T>;
export interface WaitForConditionConfig<T> {
  waitStrategy: WaitForConditionWaitStrategyFunc<T>;
  initialState: T;
  serdes?: Serdes<T>;
}
export type ChildFunc<T, Logger extends DurableLogger = DurableLogger> = (context: DurableContext<Logger>) => Promise<T>;
export interface ChildConfig<T> {
  serdes?: Serdes<T>;
  subType?: string;
  summaryGenerator?: (result: T) => string;
  errorMapper?: (originalError: DurableOperationError) => DurableOperationError;
  virtualContext?: boolean;
}
export interface InvokeConfig<I, O> {
  payloadSerdes?: Serdes<I>;
  resultSerdes?: Serdes<O>;
  tenantId?: string;
}

export type CompletionReason =
  | "ALL_COMPLETED"
  | "MIN_SUCCESSFUL_REACHED"
  | "FAILURE_TOLERANCE_EXCEEDED"
  | "CUSTOM_COMPLETION_SUCCEEDED"
  | "CUSTOM_COMPLETION_FAILED";
export interface BatchItem<TResult> {
  result?: TResult;
  error?: ChildContextError;
  index: number;
  status: BatchItemStatus;
}
export interface BatchResult<TResult> {
  all: Array<BatchItem<TResult>>;
  succeeded(): Array<BatchItem<TResult> & { result: TResult }>;
  failed(): Array<BatchItem<TResult> & { error: ChildContextError }>;
  started(): Array<BatchItem<TResult> & { status: BatchItemStatus.STARTED }>;
  status: BatchItemStatus.SUCCEEDED | BatchItemStatus.FAILED;
  completionReason: CompletionReason;
  hasFailure: boolean;
  throwIfError(): void;
  getResults(): Array<TResult>;
  getErrors(): Array<ChildContextError>;
  successCount: number;
  failureCount: number;
  startedCount: number;
  totalCount: number;
}
export type CompletionDecision = { complete: false } | { complete: true; outcome?: CompletionOutcome };
export declare const continueBatch: () => CompletionDecision;
export declare const completeBatch: (outcome?: CompletionOutcome) => CompletionDecision;
export interface CompletionItemStatus {
  index: number;
  name?: string;
  status?: BatchItemStatus;
}
export interface CompletionStatus {
  successCount: number;
  failureCount: number;
  completedCount: number;
  totalCount: number;
  items: readonly CompletionItemStatus[];
}
export interface ThresholdCompletionConfig {
  minSuccessful?: number;
  toleratedFailureCount?: number;
  toleratedFailurePercentage?: number;
  shouldComplete?: never;
}
/** Declared for source compatibility; perdure refuses it (ValidationError) for now. */
export interface CustomCompletionConfig {
  shouldComplete: (status: CompletionStatus) => CompletionDecision;
  minSuccessful?: never;
  toleratedFailureCount?: never;
  toleratedFailurePercentage?: never;
}
export type CompletionConfig = ThresholdCompletionConfig | CustomCompletionConfig;

export type MapFunc<TInput, TOutput, Logger extends DurableLogger = DurableLogger> =
  (context: DurableContext<Logger>, item: TInput, index: number, array: TInput[]) => Promise<TOutput>;
export interface MapConfig<TItem, TResult> {
  maxConcurrency?: number;
  itemNamer?: (item: TItem, index: number) => string;
  serdes?: Serdes<BatchResult<TResult>>;
  itemSerdes?: Serdes<TResult>;
  completionConfig?: CompletionConfig;
  summaryGenerator?: (result: BatchResult<TResult>) => string;
  nesting?: NestingType;
}
export type ParallelFunc<TResult, Logger extends DurableLogger = DurableLogger> =
  (context: DurableContext<Logger>) => Promise<TResult>;
export interface NamedParallelBranch<TResult, Logger extends DurableLogger = DurableLogger> {
  name?: string;
  func: ParallelFunc<TResult, Logger>;
}
export interface ParallelConfig<TResult> {
  maxConcurrency?: number;
  serdes?: Serdes<BatchResult<TResult>>;
  itemSerdes?: Serdes<TResult>;
  completionConfig?: CompletionConfig;
  summaryGenerator?: (result: BatchResult<TResult>) => string;
  nesting?: NestingType;
}

export interface DurableContext<TLogger extends DurableLogger = DurableLogger> {
  lambdaContext: any;
  logger: DurableContextLogger<TLogger>;
  executionContext: { readonly durableExecutionArn: string };

  step<TOutput>(name: string | undefined, fn: StepFunc<TOutput, TLogger>, config?: StepConfig<TOutput>): DurablePromise<TOutput>;
  step<TOutput>(fn: StepFunc<TOutput, TLogger>, config?: StepConfig<TOutput>): DurablePromise<TOutput>;

  invoke<TInput, TOutput>(name: string, funcId: string, input?: TInput, config?: InvokeConfig<TInput, TOutput>): DurablePromise<TOutput>;
  invoke<TInput, TOutput>(funcId: string, input?: TInput, config?: InvokeConfig<TInput, TOutput>): DurablePromise<TOutput>;

  runInChildContext<TOutput>(name: string | undefined, fn: ChildFunc<TOutput, TLogger>, config?: ChildConfig<TOutput>): DurablePromise<TOutput>;
  runInChildContext<TOutput>(fn: ChildFunc<TOutput, TLogger>, config?: ChildConfig<TOutput>): DurablePromise<TOutput>;

  wait(name: string, duration: Duration): DurablePromise<void>;
  wait(duration: Duration): DurablePromise<void>;

  waitForCondition<TOutput>(name: string | undefined, checkFunc: WaitForConditionCheckFunc<TOutput, TLogger>,
    config: WaitForConditionConfig<TOutput>): DurablePromise<TOutput>;
  waitForCondition<TOutput>(checkFunc: WaitForConditionCheckFunc<TOutput, TLogger>,
    config: WaitForConditionConfig<TOutput>): DurablePromise<TOutput>;

  createCallback<TOutput = string>(name: string | undefined, config?: CreateCallbackConfig<TOutput>): DurablePromise<CreateCallbackResult<TOutput>>;
  createCallback<TOutput = string>(config?: CreateCallbackConfig<TOutput>): DurablePromise<CreateCallbackResult<TOutput>>;

  waitForCallback<TOutput = string>(name: string | undefined, submitter: WaitForCallbackSubmitterFunc<TLogger>,
    config?: WaitForCallbackConfig<TOutput>): DurablePromise<TOutput>;
  waitForCallback<TOutput = string>(submitter: WaitForCallbackSubmitterFunc<TLogger>,
    config?: WaitForCallbackConfig<TOutput>): DurablePromise<TOutput>;

  map<TInput, TOutput>(name: string | undefined, items: TInput[], mapFunc: MapFunc<TInput, TOutput, TLogger>,
    config?: MapConfig<TInput, TOutput>): DurablePromise<BatchResult<TOutput>>;
  map<TInput, TOutput>(items: TInput[], mapFunc: MapFunc<TInput, TOutput, TLogger>,
    config?: MapConfig<TInput, TOutput>): DurablePromise<BatchResult<TOutput>>;

  parallel<TOutput>(name: string | undefined,
    branches: (ParallelFunc<TOutput, TLogger> | NamedParallelBranch<TOutput, TLogger>)[],
    config?: ParallelConfig<TOutput>): DurablePromise<BatchResult<TOutput>>;
  parallel<TOutput>(branches: (ParallelFunc<TOutput, TLogger> | NamedParallelBranch<TOutput, TLogger>)[],
    config?: ParallelConfig<TOutput>): DurablePromise<BatchResult<TOutput>>;

  promise: {
    all<TOutput>(name: string | undefined, promises: DurablePromise<TOutput>[]): DurablePromise<TOutput[]>;
    all<TOutput>(promises: DurablePromise<TOutput>[]): DurablePromise<TOutput[]>;
    allSettled<TOutput>(name: string | undefined, promises: DurablePromise<TOutput>[]): DurablePromise<PromiseSettledResult<TOutput>[]>;
    allSettled<TOutput>(promises: DurablePromise<TOutput>[]): DurablePromise<PromiseSettledResult<TOutput>[]>;
    any<TOutput>(name: string | undefined, promises: DurablePromise<TOutput>[]): DurablePromise<TOutput>;
    any<TOutput>(promises: DurablePromise<TOutput>[]): DurablePromise<TOutput>;
    race<TOutput>(name: string | undefined, promises: DurablePromise<TOutput>[]): DurablePromise<TOutput>;
    race<TOutput>(promises: DurablePromise<TOutput>[]): DurablePromise<TOutput>;
  };

  configureLogger(config: LoggerConfig<TLogger>): void;
  configureSerdes(config: SerdesConfig): void;
}

export interface WithRetryConfig<T> {
  retryStrategy: RetryStrategy;
  wrapWithRunInChildContext?: boolean;
  childContextConfig?: ChildConfig<T>;
}
export type RetryableFunc<T> = (context: DurableContext, attempt: number) => Promise<T>;
export declare function withRetry<T>(context: DurableContext, name: string, func: RetryableFunc<T>, config: WithRetryConfig<T>): Promise<T>;
export declare function withRetry<T>(context: DurableContext, func: RetryableFunc<T>, config: WithRetryConfig<T>): Promise<T>;

// ---- the durable function -----------------------------------------------------------------

export type DurableExecutionHandler<TEvent = any, TResult = any, TLogger extends DurableLogger = DurableLogger> =
  (event: TEvent, context: DurableContext<TLogger>) => Promise<TResult>;
export interface DurableExecutionInvocationInput {
  DurableExecutionArn: string;
  CheckpointToken: string;
  UpdatedOperationIds?: string[];
  InitialExecutionState: { Operations: unknown[]; NextMarker?: string };
}
export type DurableExecutionInvocationOutput =
  | { Status: InvocationStatus.SUCCEEDED; Result?: string }
  | { Status: InvocationStatus.FAILED; Error: ErrorObject }
  | { Status: InvocationStatus.PENDING };
export type DurableLambdaHandler = (event: DurableExecutionInvocationInput, context: any) => Promise<DurableExecutionInvocationOutput>;
export interface DurableExecutionConfig {
  client?: unknown;
  durableExecutionClient?: unknown;
  /** Refused by perdure for now. */
  plugins?: unknown[];
  pluginsConfig?: { childOperationsDepth?: number };
}
/** Makes handler durable; the result is served by Perdure's workers. */
export declare const withDurableExecution: <TEvent = any, TResult = any, TLogger extends DurableLogger = DurableLogger>(
  handler: DurableExecutionHandler<TEvent, TResult, TLogger>, config?: DurableExecutionConfig) => DurableLambdaHandler;

/** The package version. */
export declare const SDK_VERSION: string;
/** Re-reads the log level (the default logger reads AWS_LAMBDA_LOG_LEVEL at every record). */
export declare const refreshLogConfig: () => void;

// ---- Perdure's local runtime ------------------------------------------------------------------

export declare class StoreError extends Error {
  /** The perdure_status name: PERDURE_E_NOT_FOUND, PERDURE_E_CONFLICT, PERDURE_E_BUSY, PERDURE_E_STORE, ... */
  readonly code: string;
}
export interface StoreOptions {
  /** Lease length (default 60000): an invocation not finished by then is taken as crashed. */
  leaseMs?: number;
  synchronousNormal?: boolean;
  busyTimeoutMs?: number;
  /** The store's clock is the wall clock plus clockOffset (advanceClockTo, setClockOffset): test runners skip time so. */
  virtualClock?: boolean;
}
/** The embedded store: a SQLite file of executions (AWS API shapes out). */
export declare class Store {
  readonly path: string;
  constructor(path?: string, options?: StoreOptions);
  close(): void;
  now(): number;
  /** A virtual clock's offset from the wall clock, ms. */
  readonly clockOffset: number;
  /** Moves a virtual clock forward to dueMs (never back); returns the ms skipped. */
  advanceClockTo(dueMs: number): number;
  setClockOffset(offsetMs: number): void;
  /** When something of `functions` may next become ready, epoch ms; -1 when nothing is scheduled. */
  nextWakeup(functions: { name: string; version?: string }[]): number;
  start(functionName: string, input?: unknown,
    options?: { name?: string; version?: string; executionTimeout?: number; inputJson?: string }): string;
  describe(arn: string): any;
  list(filter?: { functionName?: string; status?: string }): any[];
  operations(arn: string): any[];
  history(arn: string, includeData?: boolean): any[];
  stop(arn: string, error?: ErrorObject): void;
  callbackSucceed(callbackId: string, result?: string | Uint8Array): void;
  callbackFail(callbackId: string, error?: ErrorObject): void;
  callbackHeartbeat(callbackId: string): void;
  releaseWorker(workerId: string): number;
  waitForEnd(arn: string, options?: { timeoutMs?: number; pollMs?: number }): Promise<any>;
  exclusive<T>(fn: (handle: object) => T | Promise<T>): Promise<T>;
}
export type ServedFunction = DurableLambdaHandler | ((event: any, context: any) => any);
export declare class Worker {
  readonly workerId: string;
  readonly store: Store;
  constructor(functions: Record<string, ServedFunction>, store?: string | Store, options?: { workerId?: string; leaseMs?: number });
  runOne(maxWaitMs?: number): Promise<boolean>;
  serveForever(pollMs?: number): Promise<void>;
  stop(): void;
  close(): void;
}
export interface StartedWorker {
  worker: Worker;
  workerId: string;
  done: Promise<void>;
  /** Resolves once the current invocation is done. */
  stop(): Promise<void>;
}
export declare function startWorker(options: {
  store?: string | Store;
  functions: Record<string, ServedFunction>;
  workerId?: string;
  leaseMs?: number;
  pollMs?: number;
}): StartedWorker;
export declare class ExecutionFailedError extends Error {
  readonly description: any;
  readonly status: string;
  readonly error: ErrorObject;
}
/** Runs one execution to its end in this process (store default ":memory:") and returns its result. */
export declare function run<T = any>(handler: ServedFunction, input?: unknown,
  options?: { name?: string; functionName?: string; store?: string }): Promise<T>;
/** One invocation of `fn` over raw invocation input bytes (for custom transports). */
export declare function runInvocation(fn: ServedFunction, payload: Uint8Array, options: {
  wire: number;
  transport: (request: Uint8Array) => Promise<Uint8Array>;
  clock: () => number;
  lambdaContext?: unknown;
}): Promise<Uint8Array>;
/** The addon: each function wraps libperdure (native.wraps names the C function or functions). */
export declare const native: Record<string, any> & { wraps: Record<string, string> };
export declare const ADDON_PATH: string;

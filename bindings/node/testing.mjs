// perdure/testing (ESM): the CommonJS module re-exported by name.
import cjs from "./testing.js";

export default cjs;
export const {
  LocalDurableTestRunner,
  WaitingOperationStatus,
  OperationType,
  OperationStatus,
  ExecutionStatus,
  InvocationType,
} = cjs;

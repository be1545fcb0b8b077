// Invoke target: a durable function that always fails.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

class TargetFunctionError extends Error {
  constructor(message) { super(message); this.name = 'TargetFunctionError'; }
}

export const handler = withDurableExecution(async () => {
  throw new TargetFunctionError('target function failed');
});

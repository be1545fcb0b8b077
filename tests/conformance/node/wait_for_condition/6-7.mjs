// 6-7: the check throws on its first attempt; uncaught, so the execution fails.
import { withDurableExecution, CallbackError, CallbackTimeoutError, WaitForConditionError, createRetryStrategy, createWaitStrategy, JitterStrategy } from '../../../../bindings/node/index.mjs';

class CheckFailedError extends Error { constructor(m) { super(m); this.name = 'CheckFailedError'; } }

export const handler = withDurableExecution(async (event, context) => context.waitForCondition(async () => {
  throw new CheckFailedError('condition check failed');
}, { waitStrategy: () => ({ shouldContinue: false }), initialState: 0 }));

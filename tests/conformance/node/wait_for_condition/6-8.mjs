// 6-8: the check throws on its first attempt; the handler catches it and recovers.
import { withDurableExecution, CallbackError, CallbackTimeoutError, WaitForConditionError, createRetryStrategy, createWaitStrategy, JitterStrategy } from '../../../../bindings/node/index.mjs';

class CheckFailedError extends Error { constructor(m) { super(m); this.name = 'CheckFailedError'; } }

export const handler = withDurableExecution(async (event, context) => {
  try {
    return await context.waitForCondition(async () => { throw new CheckFailedError('condition check failed'); },
      { waitStrategy: () => ({ shouldContinue: false }), initialState: 0 });
  } catch (e) {
    if (e instanceof WaitForConditionError) return 'recovered';
    throw e;
  }
});

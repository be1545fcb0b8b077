// 6-10: the check returns nothing and the strategy stops at once.
import { withDurableExecution, CallbackError, CallbackTimeoutError, WaitForConditionError, createRetryStrategy, createWaitStrategy, JitterStrategy } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) =>
  context.waitForCondition(async () => null, { waitStrategy: () => ({ shouldContinue: false }), initialState: null }));

// 6-2: the condition (state >= 5) already holds on the first check; no suspension.
import { withDurableExecution, CallbackError, CallbackTimeoutError, WaitForConditionError, createRetryStrategy, createWaitStrategy, JitterStrategy } from '../../../../bindings/node/index.mjs';

const upTo = (threshold) => (state) => (state >= threshold ? { shouldContinue: false } : { shouldContinue: true, delay: { seconds: 1 } });

export const handler = withDurableExecution(async (event, context) =>
  context.waitForCondition(async (state) => state, { waitStrategy: upTo(5), initialState: 5 }));

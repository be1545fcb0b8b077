// 6-4: initial state 5, incremented per check until the input threshold.
import { withDurableExecution, CallbackError, CallbackTimeoutError, WaitForConditionError, createRetryStrategy, createWaitStrategy, JitterStrategy } from '../../../../bindings/node/index.mjs';

const upTo = (threshold) => (state) => (state >= threshold ? { shouldContinue: false } : { shouldContinue: true, delay: { seconds: 1 } });

export const handler = withDurableExecution(async (event, context) =>
  context.waitForCondition(async (state) => state + 1, { waitStrategy: upTo(event), initialState: 5 }));

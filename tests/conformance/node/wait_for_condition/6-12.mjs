// 6-12: count from 0 to the input threshold, then a step multiplies the result by 10.
import { withDurableExecution, CallbackError, CallbackTimeoutError, WaitForConditionError, createRetryStrategy, createWaitStrategy, JitterStrategy } from '../../../../bindings/node/index.mjs';

const upTo = (threshold) => (state) => (state >= threshold ? { shouldContinue: false } : { shouldContinue: true, delay: { seconds: 1 } });

export const handler = withDurableExecution(async (event, context) => {
  const finalState = await context.waitForCondition(async (state) => state + 1, { waitStrategy: upTo(event), initialState: 0 });
  return context.step(async () => finalState * 10);
});

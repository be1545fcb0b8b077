// 6-3: waitForCondition named "poll-status"; counts from 0 to the input threshold.
import { withDurableExecution, CallbackError, CallbackTimeoutError, WaitForConditionError, createRetryStrategy, createWaitStrategy, JitterStrategy } from '../../../../bindings/node/index.mjs';

const upTo = (threshold) => (state) => (state >= threshold ? { shouldContinue: false } : { shouldContinue: true, delay: { seconds: 1 } });

export const handler = withDurableExecution(async (event, context) =>
  context.waitForCondition('poll-status', async (state) => state + 1, { waitStrategy: upTo(event), initialState: 0 }));

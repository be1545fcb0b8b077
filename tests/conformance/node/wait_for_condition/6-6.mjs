// 6-6: a fixed 1 s wait strategy capped at 3 attempts; the condition never holds, the execution fails.
import { withDurableExecution, CallbackError, CallbackTimeoutError, WaitForConditionError, createRetryStrategy, createWaitStrategy, JitterStrategy } from '../../../../bindings/node/index.mjs';

const waitStrategy = createWaitStrategy({ shouldContinuePolling: () => true, maxAttempts: 3, initialDelay: { seconds: 1 },
  maxDelay: { seconds: 1 }, backoffRate: 1, jitter: JitterStrategy.NONE });

export const handler = withDurableExecution(async (event, context) =>
  context.waitForCondition(async (state) => state + 1, { waitStrategy, initialState: event }));

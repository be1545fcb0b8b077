// 6-9: an object state {status, attempts} threaded until status becomes DONE.
import { withDurableExecution, CallbackError, CallbackTimeoutError, WaitForConditionError, createRetryStrategy, createWaitStrategy, JitterStrategy } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => context.waitForCondition(async (state) => {
  const attempts = state.attempts + 1;
  return { status: attempts >= 2 ? 'DONE' : 'PENDING', attempts };
}, {
  waitStrategy: (state) => (state.status === 'PENDING' ? { shouldContinue: true, delay: { seconds: 1 } } : { shouldContinue: false }),
  initialState: { status: 'PENDING', attempts: 0 },
}));

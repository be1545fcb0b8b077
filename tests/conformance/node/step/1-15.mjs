// 1-15: a user-written strategy retries only TransientError.
import { withDurableExecution, createRetryStrategy, JitterStrategy, StepSemantics, retryPresets } from '../../../../bindings/node/index.mjs';

class TransientError extends Error { constructor(m) { super(m); this.name = 'TransientError'; } }

export const handler = withDurableExecution(async (event, context) => context.step(async (s) => {
  if (s.attempt === 1) throw new TransientError('temporary glitch');
  return 'recovered';
}, {
  retryStrategy: (error, attemptsMade) => (error instanceof TransientError && attemptsMade < 3
    ? { shouldRetry: true, delay: { seconds: 1 } } : { shouldRetry: false }),
}));

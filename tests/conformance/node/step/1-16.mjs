// 1-16: the strategy refuses TransientError: the step and the execution fail.
import { withDurableExecution, createRetryStrategy, JitterStrategy, StepSemantics, retryPresets } from '../../../../bindings/node/index.mjs';

class TransientError extends Error { constructor(m) { super(m); this.name = 'TransientError'; } }

export const handler = withDurableExecution(async (event, context) => context.step(async () => {
  throw new TransientError('temporary glitch');
}, {
  retryStrategy: (error, attemptsMade) => (error instanceof TransientError || attemptsMade >= 3
    ? { shouldRetry: false } : { shouldRetry: true, delay: { seconds: 1 } }),
}));

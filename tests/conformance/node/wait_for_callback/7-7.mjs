// 7-7: a submitter that always throws; 2 attempts 1 s apart, then the operation and the execution fail.
import { withDurableExecution, CallbackError, CallbackTimeoutError, WaitForConditionError, createRetryStrategy, createWaitStrategy, JitterStrategy } from '../../../../bindings/node/index.mjs';

class SubmitterError extends Error { constructor(m) { super(m); this.name = 'SubmitterError'; } }

export const handler = withDurableExecution(async (event, context) => context.waitForCallback(event, async () => {
  throw new SubmitterError('submitter failed');
}, { retryStrategy: createRetryStrategy({ maxAttempts: 2, initialDelay: { seconds: 1 }, maxDelay: { seconds: 1 },
  backoffRate: 1, jitter: JitterStrategy.NONE }) }));

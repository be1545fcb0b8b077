// 1-12: a step that always fails exhausts its 4 attempts.
import { withDurableExecution, createRetryStrategy, JitterStrategy, StepSemantics, retryPresets } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => context.step(async (s) => {
  throw new Error(`attempt ${s.attempt} failed`);
}, { retryStrategy: createRetryStrategy({ maxAttempts: 4, initialDelay: { seconds: 1 }, backoffRate: 1, jitter: JitterStrategy.NONE }) }));

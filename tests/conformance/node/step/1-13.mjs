// 1-13: no strategy: the default one retries until attempt 3 succeeds.
import { withDurableExecution, createRetryStrategy, JitterStrategy, StepSemantics, retryPresets } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => context.step(async (s) => {
  if (s.attempt < 3) throw new Error(`attempt ${s.attempt} failed`);
  return 'succeeded on attempt 3';
}));

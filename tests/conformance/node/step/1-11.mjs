// 1-11: a step that fails on its first attempt and succeeds on the retry.
import { withDurableExecution, createRetryStrategy, JitterStrategy, StepSemantics, retryPresets } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => context.step(async (s) => {
  if (s.attempt === 1) throw new Error('transient failure');
  return 'Operation succeeded';
}, { retryStrategy: createRetryStrategy({ maxAttempts: 3, initialDelay: { seconds: 1 }, jitter: JitterStrategy.NONE }) }));

// 1-19: a step that fails permanently fails the execution.
import { withDurableExecution, createRetryStrategy, JitterStrategy, StepSemantics, retryPresets } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => context.step(async () => {
  const e = new Error('something went wrong');
  e.name = 'ValueError';
  throw e;
}, { retryStrategy: retryPresets.noRetry }));

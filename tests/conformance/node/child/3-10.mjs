// 3-10: a named child context with a step (returning the input) followed by a 1 s wait.
import { withDurableExecution, retryPresets, createRetryStrategy, JitterStrategy, ChildContextError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => context.runInChildContext('step_then_wait', async (child) => {
  const result = await child.step(async () => event);
  await child.wait({ seconds: 1 });
  return result;
}));

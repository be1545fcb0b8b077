// 3-3: a named child context with two sequential steps; the second returns the first one's result.
import { withDurableExecution, retryPresets, createRetryStrategy, JitterStrategy, ChildContextError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => context.runInChildContext('two_steps', async (child) => {
  const first = await child.step(async () => event);
  return child.step(async () => first);
}));

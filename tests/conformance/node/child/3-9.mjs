// 3-9: a child context, then a 1 s wait; on replay the child returns its recorded result.
import { withDurableExecution, retryPresets, createRetryStrategy, JitterStrategy, ChildContextError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const result = await context.runInChildContext(async (child) => child.step(async () => event));
  await context.wait({ seconds: 1 });
  return result;
});

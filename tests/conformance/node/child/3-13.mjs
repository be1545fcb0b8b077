// 3-13: a named child context holding only a 1 s wait, then a step outside it returning the input.
import { withDurableExecution, retryPresets, createRetryStrategy, JitterStrategy, ChildContextError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  await context.runInChildContext('just_wait', async (child) => {
    await child.wait({ seconds: 1 });
    return event;
  });
  return context.step(async () => event);
});

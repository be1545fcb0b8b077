// 9-1: map basic — one greeting step per input item, run one at a time.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const results = await context.map('map', event,
    async (ctx, item) => ctx.step('greet', async () => `Hello, ${item}!`), { maxConcurrency: 1 });
  return results.getResults();
});

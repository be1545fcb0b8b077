// 9-17: a wait after a successful map suspends; replay skips the completed map.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const result = await context.map('then-wait', ['a', 'b'], async (ctx, item) => item.toUpperCase(), { maxConcurrency: 1 });
  await context.wait({ seconds: 1 });
  return result.getResults();
});

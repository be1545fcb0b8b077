// 9-11: map with maxConcurrency 2 returns results in item order.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) =>
  (await context.map('concurrent', ['i0', 'i1', 'i2'], async (ctx, item, index) => `r${index}`, { maxConcurrency: 2 })).getResults());

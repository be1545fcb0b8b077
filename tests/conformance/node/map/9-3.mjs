// 9-3: the map function receives the item and its index and returns item + index.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) =>
  (await context.map('indexed', event, async (ctx, item, index) => item + index, { maxConcurrency: 1 })).getResults());

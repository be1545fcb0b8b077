// 9-2: map without an operation name; each item is doubled directly.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) =>
  (await context.map(event, async (ctx, item) => item * 2, { maxConcurrency: 1 })).getResults());

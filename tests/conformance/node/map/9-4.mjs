// 9-4: map over an empty list completes at once with no results.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) =>
  (await context.map('empty', event, async (ctx, item) => item)).getResults());

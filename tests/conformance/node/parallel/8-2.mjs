// 8-2: parallel without an operation name; branches return directly.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) =>
  (await context.parallel([async () => 'alpha', async () => 'beta'], { maxConcurrency: 1 })).getResults());

// 8-4: parallel branches return a string, a number and an object; each keeps its type.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => (await context.parallel('hetero',
  [async () => 'hello', async () => 42, async () => ({ k: 'v' })], { maxConcurrency: 1 })).getResults());

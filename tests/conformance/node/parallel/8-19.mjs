// 8-19: maxConcurrency 0 is a validation error; the execution fails.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => (await context.parallel('bad-concurrency',
  [async () => 'b0', async () => 'b1'], { maxConcurrency: 0 })).getResults());

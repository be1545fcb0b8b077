// 8-11: parallel with maxConcurrency 2 returns results in branch order.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => (await context.parallel('concurrent',
  [async () => 'r0', async () => 'r1', async () => 'r2'], { maxConcurrency: 2 })).getResults());

// 8-1: parallel basic — two branches, one step each, run one at a time.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const result = await context.parallel('parallel', [
    async (ctx) => ctx.step(async () => 'task-1'),
    async (ctx) => ctx.step(async () => 'task-2'),
  ], { maxConcurrency: 1 });
  return result.getResults();
});

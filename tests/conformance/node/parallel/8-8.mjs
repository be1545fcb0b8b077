// 8-8: parallel with minSuccessful 2 completes early after two branches succeed.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const r = await context.parallel('min-successful', [async () => 'b0', async () => 'b1', async () => 'b2', async () => 'b3'],
    { maxConcurrency: 1, completionConfig: { minSuccessful: 2 } });
  return { completionReason: r.completionReason, successCount: r.successCount, totalCount: r.totalCount };
});

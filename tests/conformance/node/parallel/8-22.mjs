// 8-22: a failure percentage exactly at toleratedFailurePercentage 25 does not stop the parallel.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

const summary = (r, withStatus = true) => ({ completionReason: r.completionReason, ...(withStatus ? { status: r.status } : {}),
  successCount: r.successCount, failureCount: r.failureCount, totalCount: r.totalCount });
const fail = async () => { const e = new Error('branch 0 failed'); e.name = 'ValueError'; throw e; };

export const handler = withDurableExecution(async (event, context) => summary(await context.parallel('pct-boundary',
  [fail, async () => 'b1', async () => 'b2', async () => 'b3'],
  { maxConcurrency: 1, completionConfig: { toleratedFailurePercentage: 25 } })));

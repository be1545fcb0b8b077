// 8-13: parallel stops once failures exceed toleratedFailurePercentage 25 (of 4 branches).
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

const summary = (r, withStatus = true) => ({ completionReason: r.completionReason, ...(withStatus ? { status: r.status } : {}),
  successCount: r.successCount, failureCount: r.failureCount, totalCount: r.totalCount });
const fail = async () => { const e = new Error('branch failed'); e.name = 'ValueError'; throw e; };

export const handler = withDurableExecution(async (event, context) => summary(await context.parallel('tolerated-pct',
  [fail, fail, async () => 'never', async () => 'never'],
  { maxConcurrency: 1, completionConfig: { toleratedFailurePercentage: 25 } }), false));

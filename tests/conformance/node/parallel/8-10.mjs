// 8-10: parallel stops once failures exceed toleratedFailureCount 1.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

const summary = (r, withStatus = true) => ({ completionReason: r.completionReason, ...(withStatus ? { status: r.status } : {}),
  successCount: r.successCount, failureCount: r.failureCount, totalCount: r.totalCount });
const fail = async () => { const e = new Error('branch failed'); e.name = 'ValueError'; throw e; };

export const handler = withDurableExecution(async (event, context) => summary(await context.parallel('tolerated-exceeded',
  [fail, fail, async () => 'never'], { maxConcurrency: 1, completionConfig: { toleratedFailureCount: 1 } }), false));

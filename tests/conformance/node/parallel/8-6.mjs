// 8-6: parallel fail-fast (toleratedFailureCount 0) stops after the first failed branch.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

const summary = (r, withStatus = true) => ({ completionReason: r.completionReason, ...(withStatus ? { status: r.status } : {}),
  successCount: r.successCount, failureCount: r.failureCount, totalCount: r.totalCount });
const fail = async () => { const e = new Error('branch 1 failed'); e.name = 'ValueError'; throw e; };

export const handler = withDurableExecution(async (event, context) => summary(await context.parallel('failfast',
  [async () => 'ok', fail, async () => 'never'], { maxConcurrency: 1, completionConfig: { toleratedFailureCount: 0 } })));

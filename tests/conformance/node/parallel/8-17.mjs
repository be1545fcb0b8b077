// 8-17: minSuccessful 3 never reached: all branches run, ALL_COMPLETED, status FAILED.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

const summary = (r, withStatus = true) => ({ completionReason: r.completionReason, ...(withStatus ? { status: r.status } : {}),
  successCount: r.successCount, failureCount: r.failureCount, totalCount: r.totalCount });
const fail = async () => { const e = new Error('branch 1 failed'); e.name = 'ValueError'; throw e; };

export const handler = withDurableExecution(async (event, context) => summary(await context.parallel('min-not-reached',
  [async () => 'b0', fail, async () => 'b2'], { maxConcurrency: 1, completionConfig: { minSuccessful: 3 } })));

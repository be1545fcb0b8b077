// 8-16: every branch fails within toleratedFailureCount 3: ALL_COMPLETED, status FAILED.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

const summary = (r, withStatus = true) => ({ completionReason: r.completionReason, ...(withStatus ? { status: r.status } : {}),
  successCount: r.successCount, failureCount: r.failureCount, totalCount: r.totalCount });
const fail = async () => { const e = new Error('branch failed'); e.name = 'ValueError'; throw e; };

export const handler = withDurableExecution(async (event, context) => summary(await context.parallel('all-fail',
  [fail, fail, fail], { maxConcurrency: 1, completionConfig: { toleratedFailureCount: 3 } })));

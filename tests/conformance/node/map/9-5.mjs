// 9-5: map fail-fast (toleratedFailureCount 0) stops after the first failed item.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

const summary = (r, withStatus = true) => ({ completionReason: r.completionReason, ...(withStatus ? { status: r.status } : {}),
  successCount: r.successCount, failureCount: r.failureCount, totalCount: r.totalCount });
const process = async (ctx, item, index) => { if (item === "fail") throw new Error(`item ${index} failed`); return item; };

export const handler = withDurableExecution(async (event, context) => summary(await context.map('failfast', ['ok', 'fail', 'ok'],
  process, { maxConcurrency: 1, completionConfig: { toleratedFailureCount: 0 } })));

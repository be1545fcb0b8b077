// 9-8: one failure within toleratedFailureCount 1: every item runs, ALL_COMPLETED, status FAILED.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

const summary = (r, withStatus = true) => ({ completionReason: r.completionReason, ...(withStatus ? { status: r.status } : {}),
  successCount: r.successCount, failureCount: r.failureCount, totalCount: r.totalCount });
const process = async (ctx, item, index) => { if (item === "fail") throw new Error(`item ${index} failed`); return item; };

export const handler = withDurableExecution(async (event, context) => summary(await context.map('tolerated', ['ok', 'fail', 'ok'],
  process, { maxConcurrency: 1, completionConfig: { toleratedFailureCount: 1 } })));

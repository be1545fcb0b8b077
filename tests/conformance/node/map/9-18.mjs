// 9-18: a wait after a map with a tolerated failure suspends; replay skips the completed map.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

const summary = (r, withStatus = true) => ({ completionReason: r.completionReason, ...(withStatus ? { status: r.status } : {}),
  successCount: r.successCount, failureCount: r.failureCount, totalCount: r.totalCount });
const process = async (ctx, item, index) => { if (item === "fail") throw new Error(`item ${index} failed`); return item; };

export const handler = withDurableExecution(async (event, context) => {
  const result = await context.map('fail-then-wait', ['ok', 'fail'], process,
    { maxConcurrency: 1, completionConfig: { toleratedFailureCount: 1 } });
  await context.wait({ seconds: 1 });
  return summary(result);
});

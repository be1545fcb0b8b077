// 9-10: map stops once failures exceed toleratedFailurePercentage 25 (of 4 items).
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

const summary = (r, withStatus = true) => ({ completionReason: r.completionReason, ...(withStatus ? { status: r.status } : {}),
  successCount: r.successCount, failureCount: r.failureCount, totalCount: r.totalCount });
const process = async (ctx, item, index) => { if (item === "fail") throw new Error(`item ${index} failed`); return item; };

export const handler = withDurableExecution(async (event, context) => summary(await context.map('tolerated-pct',
  ['fail', 'fail', 'ok', 'ok'], process, { maxConcurrency: 1, completionConfig: { toleratedFailurePercentage: 25 } }), false));

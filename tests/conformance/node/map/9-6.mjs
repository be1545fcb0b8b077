// 9-6: throwIfError() on the map result rethrows the item failure; the execution fails.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

const process = async (ctx, item, index) => { if (item === "fail") throw new Error(`item ${index} failed`); return item; };

export const handler = withDurableExecution(async (event, context) => {
  const result = await context.map('throwing', ['fail', 'ok'], process,
    { maxConcurrency: 1, completionConfig: { toleratedFailureCount: 0 } });
  result.throwIfError();
  return result.getResults();
});

// 8-7: throwIfError() on the parallel result rethrows the branch failure; the execution fails.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

const fail = async () => { const e = new Error('branch 0 failed'); e.name = 'ValueError'; throw e; };

export const handler = withDurableExecution(async (event, context) => {
  const result = await context.parallel('throwing', [fail, async () => 'never'],
    { maxConcurrency: 1, completionConfig: { toleratedFailureCount: 0 } });
  result.throwIfError();
  return result.getResults();
});

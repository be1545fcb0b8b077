// 8-20: BatchResult accessors (hasFailure, succeeded(), failed(), getErrors()) on a parallel result.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

const fail = async () => { const e = new Error('branch 1 failed'); e.name = 'ValueError'; throw e; };

export const handler = withDurableExecution(async (event, context) => {
  const r = await context.parallel('accessors', [async () => 'b0', fail, async () => 'b2'],
    { maxConcurrency: 1, completionConfig: { toleratedFailureCount: 1 } });
  return { hasFailure: r.hasFailure, successCount: r.succeeded().length, failureCount: r.failed().length,
    errorCount: r.getErrors().length };
});

// 3-5: a child context whose step fails; the handler catches the ChildContextError and recovers.
import { withDurableExecution, retryPresets, createRetryStrategy, JitterStrategy, ChildContextError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  try {
    return await context.runInChildContext(async (child) => child.step('failing_step',
      async () => { throw new Error('step inside child failed'); }, { retryStrategy: retryPresets.noRetry }));
  } catch (e) {
    if (!(e instanceof ChildContextError)) throw e;
    return context.step(async () => event);
  }
});

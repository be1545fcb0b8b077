// 3-4: a named child context whose step fails without retry; the ChildContextError fails the execution.
import { withDurableExecution, retryPresets, createRetryStrategy, JitterStrategy, ChildContextError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => context.runInChildContext('failing_child',
  async (child) => child.step('failing_step', async () => { throw new Error('step inside child failed'); },
    { retryStrategy: retryPresets.noRetry })));

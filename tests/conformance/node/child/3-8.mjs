// 3-8: a named child context whose step always fails; 2 attempts, then the step, child and execution fail.
import { withDurableExecution, retryPresets, createRetryStrategy, JitterStrategy, ChildContextError } from '../../../../bindings/node/index.mjs';

const RETRY = createRetryStrategy({ maxAttempts: 2, initialDelay: { seconds: 1 }, jitter: JitterStrategy.NONE });

export const handler = withDurableExecution(async (event, context) => context.runInChildContext('exhausting_child',
  async (child) => child.step('always_fail', async (s) => { throw new Error(`attempt ${s.attempt} failed`); },
    { retryStrategy: RETRY })));

// 3-7: a named child context whose step fails on attempt 1 and succeeds on attempt 2.
import { withDurableExecution, retryPresets, createRetryStrategy, JitterStrategy, ChildContextError } from '../../../../bindings/node/index.mjs';

const RETRY = createRetryStrategy({ maxAttempts: 3, initialDelay: { seconds: 1 }, jitter: JitterStrategy.NONE });

export const handler = withDurableExecution(async (event, context) => context.runInChildContext('child_with_retry',
  async (child) => child.step('flaky', async (s) => {
    if (s.attempt === 1) throw new Error('first attempt fails');
    return event;
  }, { retryStrategy: RETRY })));

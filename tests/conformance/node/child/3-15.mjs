// 3-15: a named child context whose function throws directly, without any durable operation.
import { withDurableExecution, retryPresets, createRetryStrategy, JitterStrategy, ChildContextError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => context.runInChildContext('raising_child', async () => {
  const e = new Error('child failed without any operation');
  e.name = 'ValueError';
  throw e;
}));

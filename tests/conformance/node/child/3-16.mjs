// 3-16: a named child context that returns nothing, without any durable operation.
import { withDurableExecution, retryPresets, createRetryStrategy, JitterStrategy, ChildContextError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => context.runInChildContext('returns_none', async () => null));

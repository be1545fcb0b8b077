// 2-5: a wait of one hour, checkpointed as 3600 s.
import { withDurableExecution, retryPresets, createRetryStrategy, JitterStrategy, ChildContextError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => { await context.wait({ hours: 1 }); });

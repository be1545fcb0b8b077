// 2-4: a wait of one minute, checkpointed as 60 s.
import { withDurableExecution, retryPresets, createRetryStrategy, JitterStrategy, ChildContextError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => { await context.wait({ minutes: 1 }); });

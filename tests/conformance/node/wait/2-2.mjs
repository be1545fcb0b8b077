// 2-2: a 2 s wait named "custom_wait_name".
import { withDurableExecution, retryPresets, createRetryStrategy, JitterStrategy, ChildContextError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => { await context.wait('custom_wait_name', { seconds: 2 }); });

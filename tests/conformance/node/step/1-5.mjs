// 1-5: a step returning nothing.
import { withDurableExecution, createRetryStrategy, JitterStrategy, StepSemantics, retryPresets } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => context.step('do_nothing', async () => null));

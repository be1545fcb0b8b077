// 7-3: waitForCallback with only an inline anonymous submitter and no name.
import { withDurableExecution, CallbackError, CallbackTimeoutError, WaitForConditionError, createRetryStrategy, createWaitStrategy, JitterStrategy } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => context.waitForCallback(async () => {}));

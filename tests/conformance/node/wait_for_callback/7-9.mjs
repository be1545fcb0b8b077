// 7-9: two sequential waitForCallback operations, "first" then "second"; returns the second result.
import { withDurableExecution, CallbackError, CallbackTimeoutError, WaitForConditionError, createRetryStrategy, createWaitStrategy, JitterStrategy } from '../../../../bindings/node/index.mjs';

const submit = async (callbackId, ctx) => { ctx.logger.info(`callback id registered: ${callbackId}`); };

export const handler = withDurableExecution(async (event, context) => {
  await context.waitForCallback('first', submit);
  return context.waitForCallback('second', submit);
});

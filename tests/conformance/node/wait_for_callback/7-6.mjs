// 7-6: waitForCallback failed by the external system; the handler catches the error and recovers.
import { withDurableExecution, CallbackError, CallbackTimeoutError, WaitForConditionError, createRetryStrategy, createWaitStrategy, JitterStrategy } from '../../../../bindings/node/index.mjs';

const submit = async (callbackId, ctx) => { ctx.logger.info(`callback id registered: ${callbackId}`); };

export const handler = withDurableExecution(async (event, context) => {
  try {
    return await context.waitForCallback(event, submit);
  } catch (e) {
    if (e instanceof CallbackError) return 'recovered';
    throw e;
  }
});

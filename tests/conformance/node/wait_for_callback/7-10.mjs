// 7-10: a 1 s wait, a step returning fixed data, then waitForCallback named by the input.
import { withDurableExecution, CallbackError, CallbackTimeoutError, WaitForConditionError, createRetryStrategy, createWaitStrategy, JitterStrategy } from '../../../../bindings/node/index.mjs';

const submit = async (callbackId, ctx) => { ctx.logger.info(`callback id registered: ${callbackId}`); };

export const handler = withDurableExecution(async (event, context) => {
  await context.wait({ seconds: 1 });
  await context.step(async () => ({ data: 'fixed' }));
  return context.waitForCallback(event, submit);
});

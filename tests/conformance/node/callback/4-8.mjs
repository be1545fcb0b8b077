// 4-8: createCallback with a 5 s timeout, then a step, then wait for the callback, which times out.
import { withDurableExecution, CallbackError, CallbackTimeoutError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const [result, callbackId] = await context.createCallback(event, { timeout: { seconds: 5 } });
  await context.step(async () => `notified approver of ${callbackId}`);
  return result;
});

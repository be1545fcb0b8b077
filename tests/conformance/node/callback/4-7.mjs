// 4-7: createCallback, then a step, then wait for the callback, which the external system fails.
import { withDurableExecution, CallbackError, CallbackTimeoutError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const [result, callbackId] = await context.createCallback(event);
  await context.step(async () => `notified approver of ${callbackId}`);
  return result;
});

// 4-12: wait for a callback's result, then a 2 s wait, then return the callback result.
import { withDurableExecution, CallbackError, CallbackTimeoutError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const [promise] = await context.createCallback(event);
  const result = await promise;
  await context.wait({ seconds: 2 });
  return result;
});

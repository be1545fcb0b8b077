// 4-3: a callback with a 5 s timeout that nobody completes; CallbackTimeoutError is not caught.
import { withDurableExecution, CallbackError, CallbackTimeoutError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const [result] = await context.createCallback(event, { timeout: { seconds: 5 } });
  return result;
});

// 4-14: a callback with a 3 s timeout times out; the handler catches it, waits 2 s and returns.
import { withDurableExecution, CallbackError, CallbackTimeoutError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const [promise] = await context.createCallback(event, { timeout: { seconds: 3 } });
  let message;
  try {
    message = await promise;
  } catch (error) {
    if (!(error instanceof CallbackTimeoutError)) throw error;
    message = `callback timed out: ${error.message}`;
  }
  await context.wait({ seconds: 2 });
  return message;
});

// 4-13: a failed callback is caught and turned into a message, then a 2 s wait.
import { withDurableExecution, CallbackError, CallbackTimeoutError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const [promise] = await context.createCallback(event);
  let message;
  try {
    message = await promise;
  } catch (error) {
    if (!(error instanceof CallbackError)) throw error;
    message = `callback failed: ${error.message}`;
  }
  await context.wait({ seconds: 2 });
  return message;
});

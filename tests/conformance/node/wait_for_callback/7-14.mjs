// 7-14: waitForCallback with a 3 s timeout that nobody answers; the handler catches the timeout.
import { withDurableExecution, CallbackTimeoutError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  try {
    return await context.waitForCallback(event, async () => {}, { timeout: { seconds: 3 } });
  } catch (e) {
    if (e instanceof CallbackTimeoutError) return 'timed-out-handled';
    throw e;
  }
});

// 4-9: createCallback, then a 5 s wait, then the callback result; the callback succeeds during the wait.
import { withDurableExecution, CallbackError, CallbackTimeoutError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const [result] = await context.createCallback(event);
  await context.wait({ seconds: 5 });
  return result;
});

// 4-6: a callback failed by the external system; the error is not caught, so the execution fails.
import { withDurableExecution, CallbackError, CallbackTimeoutError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const [result] = await context.createCallback(event);
  return result;
});

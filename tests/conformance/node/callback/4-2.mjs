// 4-2: createCallback named "approval", then wait for its result.
import { withDurableExecution, CallbackError, CallbackTimeoutError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const [result] = await context.createCallback('approval');
  return result;
});

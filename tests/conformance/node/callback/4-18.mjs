// 4-18: callbacks A and B are both created, then awaited in order; returns both results.
import { withDurableExecution, CallbackError, CallbackTimeoutError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const [nameA, nameB] = event;
  const [a] = await context.createCallback(nameA);
  const [b] = await context.createCallback(nameB);
  return [await a, await b];
});

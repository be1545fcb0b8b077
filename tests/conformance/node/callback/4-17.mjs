// 4-17: callback A is created and awaited, then callback B; returns both results.
import { withDurableExecution, CallbackError, CallbackTimeoutError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const [nameA, nameB] = event;
  const [a] = await context.createCallback(nameA);
  const resultA = await a;
  const [b] = await context.createCallback(nameB);
  return [resultA, await b];
});

// 4-16: a callback whose serdes turns the payload into a number; returns it and its double.
import { withDurableExecution, CallbackError, CallbackTimeoutError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const [promise] = await context.createCallback(event, { serdes: { deserialize: async (data) => parseInt(data, 10) } });
  const count = await promise;
  return { count, doubled: count * 2 };
});

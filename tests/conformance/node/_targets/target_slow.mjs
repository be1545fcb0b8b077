// Invoke target: a durable function that takes a while (a durable wait), then echoes its input.
// The wait length comes from the input's "delaySeconds" when present (default 10 s).
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const seconds = event && typeof event === 'object' && event.delaySeconds !== undefined ? event.delaySeconds : 10;
  await context.wait('slow', { seconds });
  return event;
});

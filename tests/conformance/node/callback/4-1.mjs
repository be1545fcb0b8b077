// 4-1: createCallback named by the input, then wait for its result (completed externally).
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const [result, callbackId] = await context.createCallback(event);
  context.logger.info(`callback id: ${callbackId}`);
  return result;
});

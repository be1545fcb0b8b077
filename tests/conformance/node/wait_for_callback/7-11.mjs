// 7-11: waitForCallback decoding the payload as JSON; returns its status field.
import { withDurableExecution, CallbackError, CallbackTimeoutError, WaitForConditionError, createRetryStrategy, createWaitStrategy, JitterStrategy } from '../../../../bindings/node/index.mjs';

const submit = async (callbackId, ctx) => { ctx.logger.info(`callback id registered: ${callbackId}`); };

export const handler = withDurableExecution(async (event, context) =>
  (await context.waitForCallback(event, submit, { serdes: { deserialize: async (d) => JSON.parse(d) } })).status);

// 7-2: waitForCallback with the static name "approval".
import { withDurableExecution, CallbackError, CallbackTimeoutError, WaitForConditionError, createRetryStrategy, createWaitStrategy, JitterStrategy } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) =>
  context.waitForCallback('approval', async (callbackId, ctx) => { ctx.logger.info(`approval requested, callback id ${callbackId}`); }));

// 7-12: waitForCallback with a 5 s heartbeat timeout and no heartbeat; the timeout is not caught.
import { withDurableExecution, CallbackError, CallbackTimeoutError, WaitForConditionError, createRetryStrategy, createWaitStrategy, JitterStrategy } from '../../../../bindings/node/index.mjs';

const submit = async (callbackId, ctx) => { ctx.logger.info(`callback id registered: ${callbackId}`); };

export const handler = withDurableExecution(async (event, context) =>
  context.waitForCallback(event, submit, { heartbeatTimeout: { seconds: 5 } }));

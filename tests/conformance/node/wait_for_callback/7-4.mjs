// 7-4: waitForCallback failed by the external system; the error is not caught.
import { withDurableExecution, CallbackError, CallbackTimeoutError, WaitForConditionError, createRetryStrategy, createWaitStrategy, JitterStrategy } from '../../../../bindings/node/index.mjs';

const submit = async (callbackId, ctx) => { ctx.logger.info(`callback id registered: ${callbackId}`); };

export const handler = withDurableExecution(async (event, context) => context.waitForCallback(event, submit));

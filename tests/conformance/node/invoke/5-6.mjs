// 5-6: invoke a failing target; the InvokeError is caught and a fallback returned.
import { withDurableExecution, InvokeError } from '../../../../bindings/node/index.mjs';

export const TARGET_FUNCTION_NAME = 'target_error';
const target = () => process.env.TARGET_FUNCTION_NAME;

export const handler = withDurableExecution(async (event, context) => {
  try {
    return await context.invoke(undefined, target(), event);
  } catch (e) {
    if (e instanceof InvokeError) return { fallback: true };
    throw e;
  }
});

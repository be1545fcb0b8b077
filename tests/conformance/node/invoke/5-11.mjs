// 5-11: a step, then an invoke of the echo target with the step's result.
import { withDurableExecution, InvokeError } from '../../../../bindings/node/index.mjs';

export const TARGET_FUNCTION_NAME = 'target_echo';
const target = () => process.env.TARGET_FUNCTION_NAME;

export const handler = withDurableExecution(async (event, context) => {
  const stepResult = await context.step(async () => ({ value: 42 }));
  return context.invoke(undefined, target(), stepResult);
});

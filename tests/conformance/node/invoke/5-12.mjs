// 5-12: an invoke, then a step that processes its result.
import { withDurableExecution, InvokeError } from '../../../../bindings/node/index.mjs';

export const TARGET_FUNCTION_NAME = 'target_echo';
const target = () => process.env.TARGET_FUNCTION_NAME;

export const handler = withDurableExecution(async (event, context) => {
  const r = await context.invoke(undefined, target(), { value: 21 });
  return context.step(async () => ({ processed: r.value * 2 }));
});

// 5-9: invoke, then wait 1 s; on replay the invoke result comes from the checkpoint.
import { withDurableExecution, InvokeError } from '../../../../bindings/node/index.mjs';

export const TARGET_FUNCTION_NAME = 'target_echo';
const target = () => process.env.TARGET_FUNCTION_NAME;

export const handler = withDurableExecution(async (event, context) => {
  const result = await context.invoke(undefined, target(), event);
  await context.wait({ seconds: 1 });
  return result;
});

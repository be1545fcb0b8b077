// 5-7: invoke the echo target with a payload just under the 256 KiB limit.
import { withDurableExecution, InvokeError } from '../../../../bindings/node/index.mjs';

export const TARGET_FUNCTION_NAME = 'target_echo';
const target = () => process.env.TARGET_FUNCTION_NAME;

export const handler = withDurableExecution(async (event, context) => {
  const result = await context.invoke(undefined, target(), { data: 'x'.repeat(240 * 1024) });
  return { receivedSize: result.data.length };
});

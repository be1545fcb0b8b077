// 5-3: invoke the echo target with a nested object; it comes back unchanged.
import { withDurableExecution, InvokeError } from '../../../../bindings/node/index.mjs';

export const TARGET_FUNCTION_NAME = 'target_echo';
const target = () => process.env.TARGET_FUNCTION_NAME;

export const handler = withDurableExecution(async (event, context) => context.invoke(undefined, target(), event));

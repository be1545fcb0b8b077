// 5-2: invoke the echo target with an operation name taken from the input.
import { withDurableExecution, InvokeError } from '../../../../bindings/node/index.mjs';

export const TARGET_FUNCTION_NAME = 'target_echo';
const target = () => process.env.TARGET_FUNCTION_NAME;

export const handler = withDurableExecution(async (event, context) => context.invoke(event.name, target(), event.payload));

// 5-1: invoke the echo target with the input and return its result.
// The input is a string, so the name slot is passed explicitly (undefined):
// invoke(funcId, "text") would read "text" as the function id, as in the official SDK.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const TARGET_FUNCTION_NAME = 'target_echo';

export const handler = withDurableExecution(async (event, context) =>
  context.invoke(undefined, process.env.TARGET_FUNCTION_NAME, event));

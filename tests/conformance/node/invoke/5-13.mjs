// 5-13: an invoke inside runInChildContext; the child returns the invoke result.
import { withDurableExecution, InvokeError } from '../../../../bindings/node/index.mjs';

export const TARGET_FUNCTION_NAME = 'target_echo';
const target = () => process.env.TARGET_FUNCTION_NAME;

export const handler = withDurableExecution(async (event, context) =>
  context.runInChildContext(async (child) => child.invoke(undefined, target(), event)));

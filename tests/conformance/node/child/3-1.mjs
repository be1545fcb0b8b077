// 3-1: a child context holding one step that returns the input.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) =>
  context.runInChildContext(async (child) => child.step(async () => event)));

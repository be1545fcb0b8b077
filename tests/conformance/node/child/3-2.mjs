// 3-2: a child context named by input.name, whose step returns input.value.
import { withDurableExecution, retryPresets, createRetryStrategy, JitterStrategy, ChildContextError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) =>
  context.runInChildContext(event.name, async (child) => child.step(async () => event.value)));

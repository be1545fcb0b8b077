// 1-1: step basic — one step greets the input and succeeds on its first attempt.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) =>
  context.step(async () => `Hello, ${event}!`));

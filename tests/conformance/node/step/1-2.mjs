// 1-2: step with an explicit name ("custom_step_name").
import { withDurableExecution, retryPresets, StepError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) =>
  context.step('custom_step_name', async () => `Hello, ${event}!`));

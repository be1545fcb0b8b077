// 1-3: two sequential steps; the second uses the first one's result.
import { withDurableExecution, retryPresets, StepError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const first = await context.step('step_one', async () => 'first');
  return context.step('step_two', async () => `${first}_second`);
});

// 1-8: a step, then a 2 s wait; the replay after the wait skips the completed step.
import { withDurableExecution, retryPresets, StepError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const result = await context.step(async () => 'computed');
  await context.wait({ seconds: 2 });
  return result;
});

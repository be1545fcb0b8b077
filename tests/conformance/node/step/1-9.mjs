// 1-9: a logged step, then a 1 s wait; on replay the step returns its checkpointed result.
import { withDurableExecution, retryPresets, StepError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const result = await context.step(async (s) => {
    s.logger.info('step executed');
    return 'cached_value';
  });
  await context.wait({ seconds: 1 });
  return result;
});

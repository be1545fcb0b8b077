// 1-10: a permanently failing step inside try/catch, then a 1 s wait; on replay the recorded
// error is thrown again without running the step.
import { withDurableExecution, retryPresets, StepError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  let outcome;
  try {
    await context.step(async (s) => {
      s.logger.info('step executed');
      throw new Error('step failed permanently');
    }, { retryStrategy: retryPresets.noRetry });
    outcome = 'no error';
  } catch (error) {
    if (!(error instanceof StepError)) throw error;
    outcome = `caught: ${error.message}`;
  }
  await context.wait({ seconds: 1 });
  return outcome;
});

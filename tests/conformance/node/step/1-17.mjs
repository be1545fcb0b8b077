// 1-17: an at-most-once step whose process dies mid-step is not run again on replay, and fails.
import { withDurableExecution, createRetryStrategy, JitterStrategy, StepSemantics, retryPresets } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => context.step('at_most_once_flaky_step', async (s) => {
  s.logger.info(`processing ${event}`);
  process.exit(1);   // the runtime dies mid-step
}, { semantics: StepSemantics.AtMostOncePerRetry, retryStrategy: retryPresets.noRetry }));

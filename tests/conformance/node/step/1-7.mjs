// 1-7: the step logs through its context logger.
import { withDurableExecution, createRetryStrategy, JitterStrategy, StepSemantics, retryPresets } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => context.step('greet', async (s) => {
  s.logger.info(`Greeting step started for: ${event}`);
  const greeting = `Hello, ${event}!`;
  s.logger.info(`Greeting step completed with: ${greeting}`);
  return greeting;
}));

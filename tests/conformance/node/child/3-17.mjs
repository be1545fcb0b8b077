// 3-17: a named child context that only logs (with mode-aware logging off, a re-run would log twice), then a 1 s wait.
import { withDurableExecution, retryPresets, createRetryStrategy, JitterStrategy, ChildContextError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const result = await context.runInChildContext('log_only', async (child) => {
    child.configureLogger({ modeAware: false });
    child.logger.info(`child context got ${event}`);
    child.configureLogger({ modeAware: true });
    return event;
  });
  await context.wait({ seconds: 1 });
  return result;
});

// 1-4: a step returning a complex object.
import { withDurableExecution, createRetryStrategy, JitterStrategy, StepSemantics, retryPresets } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => context.step('build_response', async () => (
  { user: { name: event.name, tags: [...event.tags] }, count: event.tags.length })));

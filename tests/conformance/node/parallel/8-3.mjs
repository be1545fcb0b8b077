// 8-3: parallel with named branch objects ("first", "second").
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => (await context.parallel('named', [
  { name: 'first', func: async () => 'one' }, { name: 'second', func: async () => 'two' },
], { maxConcurrency: 1 })).getResults());

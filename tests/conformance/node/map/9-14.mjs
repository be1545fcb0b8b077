// 9-14: map with a custom itemSerdes: each iteration is checkpointed as "wrapped:<value>".
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

const wrapped = {
  serialize: async (value) => `wrapped:${value}`,
  deserialize: async (data) => data.replace(/^wrapped:/, ''),
};

export const handler = withDurableExecution(async (event, context) => (await context.map('serdes', ['x', 'y'],
  async (ctx, item) => item.toUpperCase(), { maxConcurrency: 1, itemSerdes: wrapped })).getResults());

// 9-19: map with an operation-level serdes: the Map result is checkpointed as "OPSERDE:X,Y".
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

const opSerdes = {
  serialize: async (result) => `OPSERDE:${result.getResults().join(',')}`,
  deserialize: async (data) => {
    const results = data.replace(/^OPSERDE:/, '').split(',');
    return { getResults: () => results };
  },
};

export const handler = withDurableExecution(async (event, context) => (await context.map('op-serde', ['x', 'y'],
  async (ctx, item) => item.toUpperCase(), { maxConcurrency: 1, serdes: opSerdes })).getResults());

// 8-15: parallel with a custom itemSerdes that checkpoints {"wrapped": v} and reads back v.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

const wrapping = {
  serialize: async (value) => JSON.stringify({ wrapped: value }),
  deserialize: async (data) => JSON.parse(data).wrapped,
};

export const handler = withDurableExecution(async (event, context) => (await context.parallel('serde',
  [async () => 'x', async () => 'y'], { maxConcurrency: 1, itemSerdes: wrapping })).getResults());

// 9-15: a wait inside map iteration 1 suspends mid-map; replay skips the finished iteration 0.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => (await context.map('suspend', ['r0', 'r1'],
  async (ctx, item, index) => {
    if (index === 1) await ctx.wait({ seconds: 1 });
    return ctx.step(`step-${index}`, async () => item);
  }, { maxConcurrency: 1 })).getResults());

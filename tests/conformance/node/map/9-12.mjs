// 9-12: map with FLAT nesting: item steps sit directly under the Map context.
import { withDurableExecution, NestingType } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => (await context.map('flat', ['fa', 'fb'],
  async (ctx, item, index) => ctx.step(`step-${index}`, async () => item), { maxConcurrency: 1, nesting: NestingType.FLAT })).getResults());

// 8-12: parallel with FLAT nesting: branch steps sit directly under the Parallel context.
import { withDurableExecution, NestingType } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => (await context.parallel('flat', [
  async (ctx) => ctx.step('fa', async () => 'fa'), async (ctx) => ctx.step('fb', async () => 'fb'),
], { maxConcurrency: 1, nesting: NestingType.FLAT })).getResults());

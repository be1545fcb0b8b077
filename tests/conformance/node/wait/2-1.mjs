// 2-1: wait basic — one 2 s wait.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  await context.wait({ seconds: 2 });
});

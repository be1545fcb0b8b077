// 7-1: waitForCallback named by the input; the submitter does nothing durable.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) =>
  context.waitForCallback(event, async () => {}));

// 8-5: parallel with an empty branch list completes at once with no results.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => (await context.parallel('empty', [])).getResults());

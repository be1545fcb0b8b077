// Invoke target: a durable function that returns its input unchanged.
import { withDurableExecution } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event) => event);

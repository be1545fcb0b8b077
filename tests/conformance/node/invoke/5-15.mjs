// 5-15: a payload serdes that uppercases the payload before it is sent.
import { withDurableExecution, InvokeError } from '../../../../bindings/node/index.mjs';

export const TARGET_FUNCTION_NAME = 'target_echo';
const target = () => process.env.TARGET_FUNCTION_NAME;

const upper = { serialize: async (v) => JSON.stringify(v).toUpperCase(), deserialize: async (d) => JSON.parse(d) };

export const handler = withDurableExecution(async (event, context) =>
  context.invoke(undefined, target(), event, { payloadSerdes: upper }));

// 5-16: a result serdes whose deserializer uppercases the raw result text.
import { withDurableExecution, InvokeError } from '../../../../bindings/node/index.mjs';

export const TARGET_FUNCTION_NAME = 'target_echo';
const target = () => process.env.TARGET_FUNCTION_NAME;

const upper = { serialize: async (v) => JSON.stringify(v), deserialize: async (d) => d.toUpperCase() };

export const handler = withDurableExecution(async (event, context) =>
  context.invoke(undefined, target(), event, { resultSerdes: upper }));

// 6-11: a custom state serdes ("STATE:<value>"); the string state grows by "x" until it is "xx".
import { withDurableExecution, CallbackError, CallbackTimeoutError, WaitForConditionError, createRetryStrategy, createWaitStrategy, JitterStrategy } from '../../../../bindings/node/index.mjs';

const serdes = {
  serialize: async (value) => `STATE:${value}`,
  deserialize: async (data) => data.replace(/^STATE:/, ''),
};

export const handler = withDurableExecution(async (event, context) => context.waitForCondition(async (state) => `${state}x`, {
  waitStrategy: (state) => (state.length >= 2 ? { shouldContinue: false } : { shouldContinue: true, delay: { seconds: 1 } }),
  initialState: '', serdes,
}));

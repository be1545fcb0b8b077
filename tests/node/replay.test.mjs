// Replay of recorded steps: the one-crossing path (vmOpNextResult) and the
// default serdes parsed without its promise must keep the official SDK's
// behaviour: the function is not called again, results come back through the
// configured serdes, errors are rebuilt, the logger stays silent.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { perdure, execute } from './helpers.mjs';

const require = createRequire(import.meta.url);
const { native, C } = require('../../bindings/node/lib/native.js');
const { withDurableExecution, SerdesFailedError } = perdure;

test('replayed steps: values of every JSON kind, no result, the function not called again', async () => {
  const calls = new Map();
  const values = [{ a: [1, 'x', null] }, 'text', 0, false, null, [], undefined];
  const h = withDurableExecution(async (_event, ctx) => {
    const got = [];
    for (const [i, v] of values.entries()) {
      got.push(await ctx.step(`s${i}`, async () => {
        calls.set(i, (calls.get(i) || 0) + 1);
        return v;
      }));
    }
    await ctx.wait({ seconds: 1 });   // the second invocation replays every step
    return got.map((v) => (v === undefined ? 'undefined' : v));
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.description.Status, 'SUCCEEDED');
  assert.deepEqual(r.result, [{ a: [1, 'x', null] }, 'text', 0, false, null, [], 'undefined']);
  assert.deepEqual([...calls.values()], values.map(() => 1));
});

test('replayed steps: a custom serdes gets the entity id; a recorded error is rethrown as recorded', async () => {
  const seen = [];
  const serdes = {
    serialize: async (v) => JSON.stringify({ wrapped: v }),
    deserialize: async (data, context) => {
      seen.push(context.entityId);
      return JSON.parse(data).wrapped;
    },
  };
  let runs = 0;
  const h = withDurableExecution(async (_event, ctx) => {
    const v = await ctx.step('custom', async () => 41, { serdes });
    let message;
    try {
      await ctx.step('bad', async () => { runs++; throw new Error('recorded failure'); },
        { retryStrategy: () => ({ shouldRetry: false }) });
    } catch (e) {
      message = `${e.name}: ${e.message}`;
    }
    await ctx.wait({ seconds: 1 });
    return { v: v + 1, message };
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.deepEqual(r.result, { v: 42, message: 'StepError: recorded failure' });
  assert.equal(runs, 1);
  assert.equal(seen.length, 2);   // the first invocation's deserialize, then the replay's
  assert.equal(seen[0], seen[1]);
  assert.match(seen[0], /^[0-9a-f]{16,}$/);
});

test('a replayed result the default serdes cannot parse fails the execution with SerdesFailedError', async () => {
  let invocation = 0;
  const raw = { serialize: async () => 'not json', deserialize: async (d) => d };
  const h = withDurableExecution(async (_event, ctx) => {
    invocation++;
    // First invocation: written by a serdes that is not JSON; on replay the
    // step has no serdes, so the default serdes parses it.
    await ctx.step('s', async () => 1, invocation === 1 ? { serdes: raw } : {});
    await ctx.wait({ seconds: 1 });
    return 'unreachable';
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.description.Status, 'FAILED');
  assert.equal(r.description.Error.ErrorType, SerdesFailedError.name);
  assert.match(r.description.Error.ErrorMessage, /^Deserialization failed for id: /);
});

test('replay-aware logger: silent while replaying, writes once the replay reaches new code', async () => {
  const lines = [];
  const logger = { info: (...p) => lines.push(p.join(' ')), error() {}, warn() {}, debug() {} };
  const h = withDurableExecution(async (_event, ctx) => {
    ctx.configureLogger({ customLogger: logger });
    await ctx.step('a', async () => 1);
    ctx.logger.info('after a');
    await ctx.wait({ seconds: 1 });
    ctx.logger.info('after the wait');
    return true;
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.result, true);
  assert.deepEqual(lines, ['after a', 'after the wait']);
});

test('addon: stepConfig handles are accepted by vmStep; vmOpNextResult answers a number for a new step', () => {
  assert.equal(native.wraps.stepConfig, 'perdure_step_config');
  const cfg = native.stepConfig({ semantics: C.AT_MOST_ONCE_PER_RETRY, callerDecidesRetry: true });
  assert.throws(() => native.stepConfig({ retry: { retryableErrors: [{}] } }), /pattern must be a string/);
  const vm = native.vmNew({ wire: C.WIRE_JSON, idScheme: C.IDS_MD5_PATH });
  const input = JSON.stringify({
    DurableExecutionArn: 'arn:aws:lambda:us-east-1:0:function:f/durable-execution/x/1', CheckpointToken: 't',
    InitialExecutionState: { Operations: [{ Id: 'exec', Type: 'EXECUTION', Status: 'STARTED',
      ExecutionDetails: { InputPayload: '{}' } }] },
  });
  native.vmStart(vm, Buffer.from(input), 0);
  const op = native.vmStep(vm, C.ROOT, 'fresh', cfg);
  const next = native.vmOpNextResult(vm, op);
  assert.equal(typeof next, 'number');
  assert.notEqual(next, C.NEXT_RESULT);
  assert.throws(() => native.vmOpNextResult(vm, 9999), (e) => e.code === 'PERDURE_E_MISUSE');
  assert.equal(typeof native.vmStep(vm, C.ROOT, 'plain', { semantics: C.AT_LEAST_ONCE_PER_RETRY }), 'number');
  native.vmFree(vm);
});

test('addon: leaseCheckpointSync answers a checkpoint of an in-memory store on the JS thread', async () => {
  assert.equal(native.wraps.leaseCheckpointSync, 'perdure_lease_checkpoint');
  const st = native.storeOpen(':memory:', {});
  native.storeStart(st, { functionName: 'f', input: '1' });
  const lease = await native.storeLeaseWait(st, [{ name: 'f' }], 'w', 1000);
  const vm = native.vmNew({ wire: C.WIRE_MSGPACK, idScheme: C.IDS_MD5_PATH });
  native.vmStart(vm, native.leaseInput(lease), native.storeNow(st));
  const op = native.vmStep(vm, C.ROOT, 's', native.stepConfig({ semantics: C.AT_MOST_ONCE_PER_RETRY }));
  assert.equal(native.vmOpNextResult(vm, op), C.NEXT_CHECKPOINT);   // at-most-once: START first
  const response = native.leaseCheckpointSync(lease, native.vmTakeBatch(vm));
  assert.ok(Buffer.isBuffer(response));
  native.vmApplyResponse(vm, response);
  assert.equal(native.vmOpNextResult(vm, op), C.NEXT_EXECUTE);
  assert.throws(() => native.leaseCheckpointSync(lease, Buffer.from('not msgpack')), (e) => typeof e.code === 'string');
  native.leaseAbandon(lease, 'test');
  assert.throws(() => native.leaseCheckpointSync(lease, Buffer.alloc(0)), /lease has ended/);
  native.vmFree(vm);
  native.storeClose(st);
});

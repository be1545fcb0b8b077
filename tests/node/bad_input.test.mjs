// Bad input and misuse: clear errors, never a crash.
import test from 'node:test';
import assert from 'node:assert/strict';
import { perdure, execute, tmpStorePath, waitForOperation } from './helpers.mjs';

const { withDurableExecution, native, Store, StoreError, InvalidStateError, retryPresets } = perdure;

test('a step result JSON cannot hold fails the execution with SerdesFailedError', async () => {
  const h = withDurableExecution(async (event, ctx) => {
    try {
      await ctx.step('big', async () => 10n);
    } catch (e) {
      return 'swallowed';   // unrecoverable: catching it does not save the execution
    }
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.description.Status, 'FAILED');
  assert.equal(r.description.Error.ErrorType, 'SerdesFailedError');
  assert.match(r.description.Error.ErrorMessage, /Serialization failed for id: c4ca4238a0b92382: .*BigInt/);
});

test('a handler result JSON cannot hold fails the execution with a clear message', async () => {
  const h = withDurableExecution(async () => { const o = {}; o.self = o; return o; });
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.description.Status, 'FAILED');
  assert.match(r.description.Error.ErrorMessage, /result is not JSON serializable/);
});

test('an unknown callback id is refused with PERDURE_E_NOT_FOUND; a second answer with PERDURE_E_CONFLICT', async () => {
  const h = withDurableExecution(async (event, ctx) => {
    const [p] = await ctx.createCallback('cb');
    return p;
  });
  let unknown;
  let again;
  const r = await execute({ fn: h }, 'fn', null, {
    during: async (store, arn) => {
      try { store.callbackSucceed('bm9wZQ==', 'x'); } catch (e) { unknown = e; }
      const op = await waitForOperation(store, arn, (o) => o.Name === 'cb' && o.Status === 'STARTED');
      store.callbackSucceed(op.CallbackDetails.CallbackId, 'first');
      try { store.callbackSucceed(op.CallbackDetails.CallbackId, 'second'); } catch (e) { again = e; }
    },
  });
  assert.equal(r.result, 'first');
  assert.ok(unknown instanceof StoreError);
  assert.equal(unknown.code, 'PERDURE_E_NOT_FOUND');
  assert.equal(again.code, 'PERDURE_E_CONFLICT');
});

test('a context used after its handler returned throws InvalidStateError', async () => {
  let saved;
  const h = withDurableExecution(async (event, ctx) => { saved = ctx; return 'done'; });
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.result, 'done');
  assert.throws(() => saved.step(async () => 1), (e) => e instanceof InvalidStateError
    && /already ended/.test(e.message));
  assert.throws(() => saved.wait({ seconds: 1 }), InvalidStateError);
});

test('replay that does not match the history fails with NonDeterministicExecutionError', async () => {
  let invocation = 0;
  const h = withDurableExecution(async (event, ctx) => {
    invocation++;
    await ctx.step(invocation === 1 ? 'charge' : 'refund', async () => 1);
    await ctx.wait({ seconds: 1 });
    return 'unreachable';
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.description.Status, 'FAILED');
  assert.equal(r.description.Error.ErrorType, 'NonDeterministicExecutionError');
  assert.match(r.description.Error.ErrorMessage, /charge/);
  assert.match(r.description.Error.ErrorMessage, /refund/);
});

test('invalid arguments: a wait under 1 s, maxConcurrency 0, a non-function step', async () => {
  for (const [name, body] of [
    ['wait', async (ctx) => ctx.wait({ seconds: 0 })],
    ['negative', async (ctx) => ctx.wait({ seconds: -5 })],
    ['concurrency', async (ctx) => ctx.map([1], async () => 1, { maxConcurrency: 0 })],
  ]) {
    const r = await execute({ fn: withDurableExecution(async (e, ctx) => body(ctx)) }, 'fn', null);
    assert.equal(r.description.Status, 'FAILED', name);
    assert.equal(r.description.Error.ErrorType, 'ValidationError', name);
  }
  const r = await execute({ fn: withDurableExecution(async (e, ctx) => ctx.step('x', 42)) }, 'fn', null);
  assert.equal(r.description.Status, 'FAILED');
  assert.equal(r.description.Error.ErrorType, 'TypeError');
});

test('a step result over the 256 KiB limit fails the execution', async () => {
  const h = withDurableExecution(async (event, ctx) => ctx.step('huge', async () => 'x'.repeat(300 * 1024),
    { retryStrategy: retryPresets.noRetry }));
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.description.Status, 'FAILED');
  assert.equal(r.description.Error.ErrorType, 'ValidationError');
});

test('addon handles: foreign objects, freed VMs, closed stores and ended leases throw, never crash', async () => {
  assert.throws(() => native.vmStep({}, 0, 'x', null), /expected a perdure_vm handle/);
  assert.throws(() => native.vmStep(native.storeOpen(':memory:', {}), 0, 'x', null), /expected a perdure_vm handle/);
  const vm = native.vmNew({ wire: 1, idScheme: 1 });
  assert.throws(() => native.vmStep(vm, 0, 'x', null), (e) => e.code === 'PERDURE_E_MISUSE');   // not started
  assert.throws(() => native.vmOpNext(vm, 12345), (e) => e.code === 'PERDURE_E_MISUSE');
  assert.throws(() => native.vmStart(vm, Buffer.from('not msgpack'), 0), (e) => e.code === 'PERDURE_E_DECODE');
  native.vmFree(vm);
  native.vmFree(vm);   // twice is a no-op
  assert.throws(() => native.vmOpNext(vm, 1), /freed/);
  assert.throws(() => native.vmWait(123, 0, null, 1), TypeError);
  const st = native.storeOpen(tmpStorePath(), {});
  const arn = native.storeStart(st, { functionName: 'f', input: '1' }).arn;
  const leasing = native.storeLeaseWait(st, [{ name: 'f' }], 'w', 1000);
  assert.throws(() => native.storeDescribe(st, arn), /in use by a call running off the event loop/);
  const lease = await leasing;
  assert.ok(lease);
  assert.equal(native.leaseArn(lease), arn);
  native.leaseAbandon(lease, 'test');
  assert.throws(() => native.leaseArn(lease), /lease has ended/);
  native.storeClose(st);
  assert.throws(() => native.storeDescribe(st, arn), /closed/);
  assert.throws(() => new Store('/nonexistent/dir/x.db'), (e) => e instanceof StoreError);
  assert.equal(native.wraps.vmStep, 'perdure_vm_step');
  assert.equal(native.wraps.leaseCheckpoint, 'perdure_lease_checkpoint');
});

test('ESM and CommonJS entry points export the same names', async () => {
  const esm = await import('../../bindings/node/index.mjs');
  const cjsNames = Object.keys(perdure).sort();
  const esmNames = Object.keys(esm).filter((k) => k !== 'default').sort();
  assert.deepEqual(esmNames, cjsNames);
});

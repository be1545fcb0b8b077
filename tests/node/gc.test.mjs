// Addon handle lifetimes under garbage collection: what happens when the JS
// object of a perdure_vm, perdure_store or perdure_lease is collected, also
// while async work (a lease wait, a checkpoint) runs on the libuv pool.
import test from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { perdure, tmpStorePath } from './helpers.mjs';

const { native } = perdure;

// gc() even without --expose-gc (node --test does not pass it).
v8.setFlagsFromString('--expose-gc');
const gc = globalThis.gc || vm.runInNewContext('gc');

/** Collects garbage until `done()` is true (a FinalizationRegistry saw the object go), at most `ms`. */
async function collectUntil(done, ms = 400) {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) {
    gc();
    await new Promise((r) => setTimeout(r, 5));
  }
  // The addon's finalizers run from an immediate after the GC that found the object.
  await new Promise((r) => setImmediate(r));
}

const F = [{ name: 'f' }];

test('a lease collected while its store is busy is abandoned once the store is free, not held until lease_ms', async () => {
  const st = native.storeOpen(tmpStorePath(), { leaseMs: 60000 });
  const arn = native.storeStart(st, { functionName: 'f', input: '1' }).arn;
  let collected = false;
  const registry = new FinalizationRegistry(() => { collected = true; });
  await (async () => {
    const lease = await native.storeLeaseWait(st, F, 'w', 1000);
    assert.equal(native.leaseArn(lease), arn);
    registry.register(lease, 'lease');
  })();   // the lease is leased and unreachable now
  // Nothing else is ready: the wait sleeps, the store busy, while the lease is collected.
  let waitEnded = false;
  const waiting = native.storeLeaseWait(st, F, 'w', 1000).then((l) => { waitEnded = true; return l; });
  await collectUntil(() => collected);
  assert.ok(collected);
  assert.equal(waitEnded, false, 'the lease was collected while the store was busy');
  assert.equal(await waiting, null);
  // Abandoned when the wait ended: re-run after the service's 1 s invocation retry delay.
  const again = await native.storeLeaseWait(st, F, 'w', 5000);
  assert.ok(again, 'the execution is leased again within seconds, not after lease_ms (60 s)');
  assert.equal(native.leaseArn(again), arn);
  native.leaseAbandon(again, 'test done');
  const history = JSON.parse(native.storeHistory(st, arn, true)).Events;
  assert.ok(JSON.stringify(history).includes('garbage-collected'), 'the crash names the reason');
  native.storeClose(st);
});

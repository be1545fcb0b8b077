// The README's testing example, verbatim but for the import paths: the Node
// order workflow under perdure/testing, its approval answered, its flaky
// gateway retried with the delays skipped.
import test from 'node:test';
import assert from 'node:assert/strict';
import { LocalDurableTestRunner, WaitingOperationStatus } from '../../bindings/node/testing.mjs';
import { handler } from '../../examples/node/order-processing.mjs';

test('the order is approved, charged after two gateway timeouts, and no time is spent waiting', async () => {
  const began = Date.now();
  await LocalDurableTestRunner.setupTestEnvironment({ skipTime: true });   // retry delays: skipped
  try {
    const runner = new LocalDurableTestRunner({ handlerFunction: handler });
    const approval = runner.getOperation('approval');
    const execution = runner.run({ payload: { orderId: 'o-1', amount: 42 } });
    await approval.waitForData(WaitingOperationStatus.STARTED);           // suspended on the approval callback
    await approval.sendCallbackSuccess('approved');
    const result = await execution;
    assert.equal(result.getStatus(), 'SUCCEEDED');
    assert.deepEqual(result.getResult(), { orderId: 'o-1', status: 'charged', charged: 42, gatewayCalls: 3 });
    assert.equal(runner.getOperation('charge-card').getStepDetails().attempt, 3);
  } finally {
    await LocalDurableTestRunner.teardownTestEnvironment();
  }
  // Waiting out the 1 s + 2 s retry delays would take at least 3 s.
  assert.ok(Date.now() - began < 3000, `took ${Date.now() - began} ms: the retry delays were not skipped`);
});

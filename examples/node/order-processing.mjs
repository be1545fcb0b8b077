/**
 * An order workflow, durable with Perdure: the Node.js twin of
 * examples/python/order_processing.py.
 *
 * validate the order -> create an approval callback (24 h timeout) -> send it
 * for approval -> suspend until someone approves -> charge the card (a flaky
 * payment gateway, retried with a custom strategy) -> done.
 *
 * Serve it with a worker and drive it with the CLI (README.md walks through it):
 *
 *   node bindings/node/bin/perdure-worker.mjs --store orders.db order_processing=examples/node/order-processing.mjs
 *   perdure --store orders.db start order_processing --name order-1 --input '{"orderId": "o-1", "amount": 42}'
 *
 * or run `node examples/node/order-processing.mjs`, which does the whole
 * walk-through by itself in one store file.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Outside this repository (after `npm install <repo>/bindings/node`): from 'perdure'.
import { createRetryStrategy, Store, startWorker, withDurableExecution } from '../../bindings/node/index.mjs';

class PaymentGatewayTimeout extends Error {
  constructor(message) {
    super(message);
    this.name = 'PaymentGatewayTimeout';
  }
}

// A stand-in for a payment gateway that times out on the first two calls for
// an order, then answers.
const gatewayCalls = new Map();
function chargeThroughGateway(order) {
  const call = (gatewayCalls.get(order.orderId) || 0) + 1;
  gatewayCalls.set(order.orderId, call);
  if (call < 3) throw new PaymentGatewayTimeout(`gateway timeout on call ${call}`);
  return { charged: order.amount, gatewayCalls: call };
}

const paymentRetries = createRetryStrategy({
  maxAttempts: 5,
  initialDelay: { seconds: 1 },
  backoffRate: 2,
  retryableErrorTypes: [PaymentGatewayTimeout],
});

export const handler = withDurableExecution(async (event, context) => {
  const order = await context.step('validate-order', async (step) => {
    if (!event.orderId || !(event.amount > 0)) throw new Error(`invalid order: ${JSON.stringify(event)}`);
    step.logger.info(`order ${event.orderId} is valid`);
    return { orderId: event.orderId, amount: event.amount };
  });
  const [approval, callbackId] = await context.createCallback('approval', { timeout: { hours: 24 } });
  await context.step('send-for-approval', async (step) => {
    // A real system would e-mail a link carrying the callback id.
    step.logger.info(`approval requested for ${order.orderId}: callback id ${callbackId}`);
  });
  const decision = await approval;   // suspends here until the callback is answered
  if (decision !== 'approved') return { orderId: order.orderId, status: 'rejected', decision };
  const receipt = await context.step('charge-card', async (step) => {
    try {
      const answer = chargeThroughGateway(order);
      step.logger.info(`charged ${order.amount} for ${order.orderId}`);
      return answer;
    } catch (e) {
      step.logger.warn(`charging ${order.orderId}: ${e.message}`);
      throw e;
    }
  }, { retryStrategy: paymentRetries });
  return { orderId: order.orderId, status: 'charged', ...receipt };
});

// ---- the self-running walk-through --------------------------------------------

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The `perdure` CLI: $PERDURE_CLI, else this checkout's build, else the one on PATH. */
function cliPath() {
  if (process.env.PERDURE_CLI) return process.env.PERDURE_CLI;
  const built = path.join(REPO, 'build', 'perdure');
  return fs.existsSync(built) ? built : 'perdure';
}

function cli(store, ...args) {
  console.log(`\n$ perdure --store ${store} ${args.join(' ')}`);
  spawnSync(cliPath(), ['--store', store, ...args], { stdio: 'inherit' });
}

async function waitFor(predicate, what, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = predicate();
    if (found) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function walkThrough(storePath) {
  const worker = startWorker({ store: storePath, functions: { order_processing: handler }, pollMs: 200 });
  const store = new Store(storePath);
  try {
    const name = `order-${Date.now()}`;
    const arn = store.start('order_processing', { orderId: 'o-1', amount: 42 }, { name });
    console.log(`started ${name}`);
    const openCallback = () => store.operations(arn)
      .find((op) => op.Type === 'CALLBACK' && op.Status === 'STARTED')?.CallbackDetails.CallbackId;
    const id = await waitFor(openCallback, 'the approval callback');
    await waitFor(() => store.describe(arn).Status === 'RUNNING' && store.history(arn).length >= 6,
      'the invocation to suspend');
    cli(storePath, 'list');
    cli(storePath, 'show', name);
    console.log('\nThe execution is suspended on its approval callback; no process holds it. Approving it:');
    cli(storePath, 'callback', 'succeed', id, 'approved');
    const end = await store.waitForEnd(arn, { timeoutMs: 30000 });
    cli(storePath, 'history', name);
    cli(storePath, 'show', name);
    return end.Status === 'SUCCEEDED' ? 0 : 1;
  } finally {
    store.close();
    await worker.stop();
  }
}

async function main() {
  const at = process.argv.indexOf('--store');
  if (at > 0) return walkThrough(process.argv[at + 1]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'perdure-orders-'));
  try {
    return await walkThrough(path.join(dir, 'orders.db'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main();
}

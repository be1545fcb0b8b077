// One measurement of the official JS SDK with its local test runner, printed as one JSON line.
//
//     node benches/peers/node_peer.mjs sequential --steps N
//     node benches/peers/node_peer.mjs map --items N --concurrency C
//
// The packages (@aws/durable-execution-sdk-js and -testing) are resolved from
// $PERDURE_PEER_NODE (the folder benches/run npm-installs them into,
// build/bench-peers/node). The handlers are those of benches/sdk/node_bench.mjs
// with the official import; each runs once under LocalDurableTestRunner with
// skipTime, timed from run() to its result.
import path from 'node:path';
import { createRequire } from 'node:module';

const peer = process.env.PERDURE_PEER_NODE;
if (!peer) throw new Error('node_peer.mjs: set PERDURE_PEER_NODE to the folder holding node_modules/@aws');
const require = createRequire(path.join(path.resolve(peer), 'package.json'));
const { withDurableExecution } = require('@aws/durable-execution-sdk-js');
const { LocalDurableTestRunner } = require('@aws/durable-execution-sdk-js-testing');

// skipTime installs fake timers, which also fake Date and performance.now:
// this reference is taken before they are installed.
const hrtime = process.hrtime.bigint;
const now = () => Number(hrtime()) / 1e9;

/** The ~100-byte JSON object of benches/sdk/node_bench.mjs. */
function payload(i) {
  let note = '';
  for (let n = 0; n < 28; n++) note += String.fromCharCode(97 + (i + n) % 26);
  return { id: i, sku: `SKU-${String(i * 7919 % 1000000).padStart(6, '0')}`, qty: i % 997, status: 'shipped', note };
}

async function timed(handler) {
  await LocalDurableTestRunner.setupTestEnvironment({ skipTime: true });
  try {
    const runner = new LocalDurableTestRunner({ handlerFunction: handler });
    const t = now();
    const execution = await runner.run({ payload: { order: 42 } });
    const dt = now() - t;
    if (execution.getStatus() !== 'SUCCEEDED') {
      throw new Error(`the execution did not succeed: ${execution.getStatus()} ${JSON.stringify(execution.getError())}`);
    }
    return { result: execution.getResult(), dt };
  } finally {
    await LocalDurableTestRunner.teardownTestEnvironment();
  }
}

async function sequential(o) {
  const n = o.steps;
  const handler = withDurableExecution(async (_event, context) => {
    for (let i = 0; i < n; i++) await context.step('s', async () => payload(i));
    return true;
  });
  const { dt } = await timed(handler);
  return { workload: 'sequential', sdk: 'js-official', steps: n, seconds: dt, steps_per_s: n / dt };
}

async function map(o) {
  const items = Array.from({ length: o.items }, (_, i) => i);
  const handler = withDurableExecution(async (_event, context) => {
    const result = await context.map('m', items, async (ctx, item) => ctx.step('s', async () => payload(item)),
      { maxConcurrency: o.concurrency });
    return result.getResults().length;
  });
  const { result, dt } = await timed(handler);
  if (result !== o.items) throw new Error(`unexpected result ${result}`);
  return { workload: 'map', sdk: 'js-official', items: o.items, max_concurrency: o.concurrency, seconds: dt,
    items_per_s: o.items / dt };
}

const [workload, ...rest] = process.argv.slice(2);
const o = { steps: 1000, items: 1000, concurrency: 50 };
for (let i = 0; i < rest.length; i += 2) {
  const key = rest[i].replace(/^--/, '');
  if (!(key in o) || i + 1 >= rest.length) throw new Error(`unknown option ${rest[i]}`);
  o[key] = parseInt(rest[i + 1], 10);
}
const workloads = { sequential, map };
if (!workloads[workload]) {
  console.error('usage: node_peer.mjs sequential|map [options]');
  process.exit(2);
}
console.log(JSON.stringify(await workloads[workload](o)));

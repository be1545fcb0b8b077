// 10,000 executions through the public API (a Worker over a Store file) leak
// no memory: RSS after them is within LEAK_BOUND_MIB of RSS after a warm-up.
//
// The measurement runs in a child `node --expose-gc` (this file again, with
// PERDURE_LEAK_CHILD set), so that gc() can be forced before each reading and
// nothing else of the test run (other files, a forced-GC preload) is in it.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { perdure, tmpDir } from './helpers.mjs';

const EXECUTIONS = 10000;
const WARMUP = 1000;
// Measured growth is under 1 MiB (SQLite's page cache and V8's heap settle
// during the warm-up). A leak of 1 KiB per execution, less than one leaked
// perdure_vm or one leaked checkpoint response with its Buffer, grows RSS by
// 10,000 x 1 KiB = 9.8 MiB, so it cannot stay under the bound.
const LEAK_BOUND_MIB = 8;

async function measure() {
  const { withDurableExecution, Store, Worker } = perdure;
  const handler = withDurableExecution(async (event, ctx) => {
    const a = await ctx.step('a', async () => event.n + 1);
    const b = await ctx.step('b', async () => a * 2);
    return { b };
  });
  const dir = tmpDir('perdure-leak-');
  // A file, not ":memory:": an in-memory store grows with every execution it
  // keeps, a file only by its bounded page cache. synchronousNormal: no fsync
  // per commit, which would only make the test slow.
  const store = new Store(`${dir}/store.db`, { synchronousNormal: true });
  const worker = new Worker({ double: handler }, store);
  let next = 0;
  const runMany = async (n) => {
    for (let i = 0; i < n; i++, next++) {
      const arn = store.start('double', { n: next });
      assert.equal(await worker.runOne(0), true);
      const d = store.describe(arn);
      assert.equal(d.Status, 'SUCCEEDED');
      assert.equal(JSON.parse(d.Result).b, (next + 1) * 2);
    }
  };
  const rss = () => {
    globalThis.gc();
    globalThis.gc();
    return process.memoryUsage().rss;
  };
  await runMany(WARMUP);
  const before = rss();
  const t0 = performance.now();
  await runMany(EXECUTIONS);
  const seconds = (performance.now() - t0) / 1000;
  const after = rss();
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
  process.stdout.write(JSON.stringify({ before, after, seconds }));
}

if (process.env.PERDURE_LEAK_CHILD) {
  await measure();
} else {
  test(`${EXECUTIONS} executions grow RSS by less than ${LEAK_BOUND_MIB} MiB`, { timeout: 180000 }, (t) => {
    const env = { ...process.env, PERDURE_LEAK_CHILD: '1' };
    delete env.NODE_OPTIONS;          // no forced-GC preload in the measured process
    delete env.NODE_TEST_CONTEXT;
    const child = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url)],
      { env, encoding: 'utf8', maxBuffer: 1 << 20 });
    assert.equal(child.status, 0, child.stderr);
    const { before, after, seconds } = JSON.parse(child.stdout);
    const mib = (n) => (n / 2 ** 20).toFixed(1);
    const growth = (after - before) / 2 ** 20;
    t.diagnostic(`RSS ${mib(before)} -> ${mib(after)} MiB; ${EXECUTIONS} executions in ${seconds.toFixed(1)} s`);
    assert.ok(growth < LEAK_BOUND_MIB,
      `RSS grew ${growth.toFixed(1)} MiB over ${EXECUTIONS} executions (${mib(before)} -> ${mib(after)} MiB)`);
  });
}

// One measurement of one workload of the Perdure Node SDK, printed as one JSON line.
//
//     node benches/sdk/node_bench.mjs sequential --store memory|durable --steps N
//     node benches/sdk/node_bench.mjs map --store memory|durable --items N --concurrency C
//     node benches/sdk/node_bench.mjs replay --ops N
//
// benches/run calls it (a fresh process each time) at least five times per
// workload and takes medians. Handlers use the public API a user would:
// withDurableExecution, context.step, context.map with maxConcurrency, run() on
// ":memory:" or on a store file. Durable stores are created in
// $PERDURE_BENCH_DIR (default: the current directory) and removed afterwards.
//
// replay hands runInvocation (the SDK's entry point for custom transports, the
// one its Worker uses) an invocation input holding N SUCCEEDED steps, built
// here as the store would send it (msgpack, schema/records.md 1.6), with a
// transport answering every checkpoint as the store does for a plain step: the
// same measurement as the C row (perdure_bench replay).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { withDurableExecution, run, runInvocation } =
  require(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bindings', 'node'));

const EPOCH_MS = 1767225600000;
const ARN = 'arn:aws:lambda:us-east-1:000000000000:function:bench:$LATEST/durable-execution/b/1';
const now = () => Number(process.hrtime.bigint()) / 1e9;

/** A JSON object of ~100 bytes once serialized, different for each i (as in bench.c). */
function payload(i) {
  let note = '';
  for (let n = 0; n < 28; n++) note += String.fromCharCode(97 + (i + n) % 26);
  return { id: i, sku: `SKU-${String(i * 7919 % 1000000).padStart(6, '0')}`, qty: i % 997, status: 'shipped', note };
}

function storePath(kind) {
  if (kind === 'memory') return { dir: null, file: undefined };
  const dir = fs.mkdtempSync(path.join(process.env.PERDURE_BENCH_DIR || '.', 'nodesdk.'));
  return { dir, file: path.join(dir, 'bench.db') };
}

async function sequential(o) {
  const n = o.steps;
  const handler = withDurableExecution(async (_event, context) => {
    for (let i = 0; i < n; i++) await context.step('s', async () => payload(i));
    return true;
  });
  const { dir, file } = storePath(o.store);
  try {
    const t = now();
    const ok = await run(handler, { order: 42 }, file ? { store: file } : {});
    const dt = now() - t;
    if (ok !== true) throw new Error(`unexpected result ${ok}`);
    return { workload: 'sequential', sdk: 'node', store: o.store, steps: n, seconds: dt, steps_per_s: n / dt };
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function map(o) {
  const items = Array.from({ length: o.items }, (_, i) => i);
  const handler = withDurableExecution(async (_event, context) => {
    const result = await context.map('m', items, async (ctx, item) => ctx.step('s', async () => payload(item)),
      { maxConcurrency: o.concurrency });
    return result.getResults().length;
  });
  const { dir, file } = storePath(o.store);
  try {
    const t = now();
    const done = await run(handler, { order: 42 }, file ? { store: file } : {});
    const dt = now() - t;
    if (done !== o.items) throw new Error(`unexpected result ${done}`);
    return { workload: 'map', sdk: 'node', store: o.store, items: o.items, max_concurrency: o.concurrency,
      seconds: dt, items_per_s: o.items / dt };
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---- replay: a msgpack invocation input (schema/records.md 1.3, 1.6) ----------

// Written into one growing buffer: millions of small Buffers would leave
// garbage that the collector frees during the measured replay.
class MsgPack {
  constructor() { this.buf = Buffer.alloc(1 << 20); this.len = 0; }
  reserve(n) {
    if (this.len + n <= this.buf.length) return;
    const bigger = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }
  raw(...bytes) {
    this.reserve(bytes.length);
    for (const b of bytes) this.buf[this.len++] = b;
  }
  uint(v) {
    if (v < 128) return this.raw(v);
    this.reserve(9);
    this.buf[this.len] = 0xcf;   // the decoder accepts any integer form
    this.buf.writeBigUInt64BE(BigInt(v), this.len + 1);
    this.len += 9;
  }
  put(b) {
    this.reserve(b.length);
    this.len += b.copy(this.buf, this.len);
  }
  str(s) {
    const b = Buffer.from(s);
    if (b.length < 32) this.raw(0xa0 | b.length);
    else if (b.length < 256) this.raw(0xd9, b.length);
    else this.raw(0xda, b.length >> 8, b.length & 255);
    this.put(b);
  }
  bin(b) {
    if (b.length < 256) this.raw(0xc4, b.length);
    else this.raw(0xc5, b.length >> 8, b.length & 255);
    this.put(b);
  }
  array(n) { this.raw(0xdd, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255); }
  bytes() { return this.buf.subarray(0, this.len); }
}

const TYPE_EXECUTION = 0, TYPE_STEP = 1, STATUS_STARTED = 1, STATUS_SUCCEEDED = 4;   // perdure.h
const WIRE_MSGPACK = 1;   // PERDURE_WIRE_MSGPACK, the wire the store and Worker use

/** EXECUTION plus `ops` SUCCEEDED root steps named "s", with the JS SDK's ids
 * (md5 of the raw path, as the official SDK hashes them) and JSON results as
 * its default serdes writes them. */
function replayInput(ops) {
  const m = new MsgPack();
  m.raw(0x84); m.uint(0); m.uint(1); m.uint(1); m.str(ARN); m.uint(2); m.str('token-0'); m.uint(3); m.array(ops + 1);
  m.raw(0x85); m.uint(1); m.str('execution-0'); m.uint(4); m.uint(TYPE_EXECUTION); m.uint(6); m.uint(STATUS_STARTED);
  m.uint(7); m.uint(EPOCH_MS); m.uint(9); m.bin(Buffer.from('{"order":42}'));
  for (let n = 1; n <= ops; n++) {
    m.raw(0x89);
    m.uint(1); m.str(createHash('md5').update(String(n)).digest('hex').slice(0, 16));
    m.uint(3); m.str('s'); m.uint(4); m.uint(TYPE_STEP); m.uint(5); m.str('Step');
    m.uint(6); m.uint(STATUS_SUCCEEDED); m.uint(7); m.uint(EPOCH_MS + n); m.uint(8); m.uint(EPOCH_MS + n + 1);
    m.uint(11); m.bin(Buffer.from(JSON.stringify(payload(n)))); m.uint(13); m.uint(1);
  }
  return m.bytes();
}

// The smallest valid checkpoint response (records.md 1.8): a new token, no operations.
const MIN_RESPONSE = Buffer.from([0x82, 0x00, 0x01, 0x01, 0xa3, 0x74, 0x6f, 0x6b]);

function statusKb(key) {
  const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith(`${key}:`));
  return line ? parseInt(line.split(/\s+/)[1], 10) : -1;
}

async function replay(o) {
  const ops = o.ops;
  let firstNew = 0;
  const handler = withDurableExecution(async (_event, context) => {
    for (let i = 0; i < ops; i++) {
      await context.step('s', async () => { throw new Error('a recorded step ran again'); });
    }
    await context.step('s', async () => { firstNew = now(); return payload(0); });
    return true;
  });
  const data = replayInput(ops);
  try {   // resets VmHWM to the current RSS, so that VmHWM afterwards is this invocation's peak
    fs.writeFileSync('/proc/self/clear_refs', '5');
  } catch { /* not Linux, or an old kernel: the peak then includes building the input */ }
  const rssBefore = statusKb('VmRSS');
  const t0 = now();
  const output = await runInvocation(handler, data, {
    wire: WIRE_MSGPACK, transport: async () => MIN_RESPONSE, clock: () => EPOCH_MS + ops + 10,
  });
  const t1 = now();
  const hwm = statusKb('VmHWM');
  if (!firstNew || !output || !output.length) throw new Error('the replay did not reach a new step');
  return { workload: 'replay', sdk: 'node', ops, input_bytes: data.length, seconds_to_first_new: firstNew - t0,
    seconds_total: t1 - t0, rss_before_kb: rssBefore, peak_rss_kb: hwm, rss_growth_mb: (hwm - rssBefore) / 1024 };
}

function parse(argv) {
  const o = { workload: argv[0], store: 'memory', steps: 10000, items: 1000, concurrency: 50, ops: 10000 };
  for (let i = 1; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in o) || i + 1 >= argv.length) throw new Error(`unknown option ${argv[i]}`);
    o[key] = key === 'store' ? argv[i + 1] : parseInt(argv[i + 1], 10);
  }
  return o;
}

const o = parse(process.argv.slice(2));
const workloads = { sequential, map, replay };
if (!workloads[o.workload]) {
  console.error('usage: node_bench.mjs sequential|map|replay [options]');
  process.exit(2);
}
if (o.store !== 'memory' && o.store !== 'durable') throw new Error(`--store memory|durable, not ${o.store}`);
console.log(JSON.stringify(await workloads[o.workload](o)));

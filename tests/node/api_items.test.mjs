// The public API items of index.mjs that no other test names, each checked
// for its behaviour against the official @aws/durable-execution-sdk-js 2.x
// (values, the situations its errors are thrown in), through real store
// files and real workers.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as api from '../../bindings/node/index.mjs';
import { perdure, execute, waitForOperation, events, tmpStorePath, REPO } from './helpers.mjs';

const require = createRequire(import.meta.url);
const {
  withDurableExecution, retryPresets, JitterStrategy, Store, startWorker, native,
  DurableOperationError, StepError, CallbackError, ChildContextError,
  UnrecoverableError, UnrecoverableExecutionError, UnrecoverableInvocationError,
  NonDeterministicExecutionError, SerdesFailedError,
} = perdure;
const WIRE_JSON = 0;      // perdure.h PERDURE_WIRE_JSON: the Lambda service's own JSON
const WIRE_MSGPACK = 1;   // perdure.h PERDURE_WIRE_MSGPACK: a store lease's input and checkpoints

/** Records process.stderr lines (the default logger's output) while fn runs. */
async function captureStderr(fn) {
  const lines = [];
  const write = process.stderr.write;
  process.stderr.write = (chunk, ...rest) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return write.call(process.stderr, chunk, ...rest);
  };
  try {
    await fn();
  } finally {
    process.stderr.write = write;
  }
  return lines;
}

/** Leases the next invocation of `fn` from `store` (as a Worker does). */
function lease(store, fn) {
  return store.exclusive((h) => native.storeLeaseWait(h, [{ name: fn }], 'api-items-test', 10000));
}

// -- SDK_VERSION, ADDON_PATH, refreshLogConfig ---------------------------------------------

test('SDK_VERSION is the package version, a semver string (the official SDK exports its own so)', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'bindings', 'node', 'package.json'), 'utf8'));
  assert.equal(api.SDK_VERSION, pkg.version);
  assert.match(api.SDK_VERSION, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/);
});

test('ADDON_PATH is the addon file actually loaded; $PERDURE_NODE_ADDON takes precedence', () => {
  assert.ok(path.isAbsolute(api.ADDON_PATH));
  assert.ok(fs.existsSync(api.ADDON_PATH));
  assert.equal(path.basename(api.ADDON_PATH), 'perdure.node');
  // the same module object: `native` was loaded from that very file
  assert.equal(require(api.ADDON_PATH), native);
  const missing = path.join(path.dirname(tmpStorePath()), 'nowhere', 'perdure.node');
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path.join(REPO, 'bindings', 'node'))})`],
    { env: { ...process.env, PERDURE_NODE_ADDON: missing }, encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.ok(r.stderr.includes(missing), r.stderr);
});

test('refreshLogConfig: a no-op; the default logger follows AWS_LAMBDA_LOG_LEVEL at every record', async () => {
  assert.equal(api.refreshLogConfig.length, 0);
  assert.equal(api.refreshLogConfig(), undefined);
  const saved = process.env.AWS_LAMBDA_LOG_LEVEL;
  const h = withDurableExecution(async (event, ctx) => {
    process.env.AWS_LAMBDA_LOG_LEVEL = 'ERROR';
    ctx.logger.info('api-items info dropped');
    ctx.logger.error('api-items error kept');
    process.env.AWS_LAMBDA_LOG_LEVEL = 'DEBUG';   // taken at the next record, with no refresh
    ctx.logger.debug('api-items debug kept');
    return 'ok';
  });
  let r;
  try {
    const lines = await captureStderr(async () => { r = await execute({ fn: h }, 'fn', null); });
    const mine = lines.filter((l) => l.includes('api-items')).map((l) => JSON.parse(l));
    assert.deepEqual(mine.map((m) => [m.level, m.message]),
      [['ERROR', 'api-items error kept'], ['DEBUG', 'api-items debug kept']]);
    assert.equal(mine[0].executionArn, r.arn);
  } finally {
    if (saved === undefined) delete process.env.AWS_LAMBDA_LOG_LEVEL;
    else process.env.AWS_LAMBDA_LOG_LEVEL = saved;
  }
  assert.equal(r.result, 'ok');
});

// -- DurablePromise ---------------------------------------------------------------------------

test('DurablePromise defers its executor until then/catch/finally, runs it once', async () => {
  let runs = 0;
  const p = new api.DurablePromise(async () => { runs++; return 7; });
  await new Promise((r) => setImmediate(r));
  assert.equal(runs, 0);
  assert.equal(p.isExecuted, false);
  assert.equal(Object.prototype.toString.call(p), '[object DurablePromise]');
  assert.equal(await p, 7);
  assert.equal(await p.then((v) => v * 2), 14);
  assert.equal(runs, 1);
  assert.equal(p.isExecuted, true);
  const failing = new api.DurablePromise(async () => { throw new RangeError('r'); });
  assert.equal(await failing.catch((e) => e.name), 'RangeError');
  let finished = false;
  await assert.rejects(failing.finally(() => { finished = true; }), RangeError);
  assert.ok(finished);
});

test('context operations return DurablePromises: steps start at once, combinators only when awaited', async () => {
  const h = withDurableExecution(async (event, ctx) => {
    let started;
    const bodyStarted = new Promise((r) => { started = r; });
    const step = ctx.step('eager', async () => { started(); return 5; });
    // the body runs though nothing awaits the step yet (official: operations start eagerly)
    const timeout = new Promise((_, rej) => setTimeout(() => rej(new Error('step body did not start')), 10000));
    await Promise.race([bodyStarted, timeout]);
    const lazy = ctx.promise.all('never-awaited', []);
    const [result] = await ctx.createCallback('cb', { timeout: { seconds: 30 } });
    return {
      kinds: [step, lazy, result, ctx.step('other', async () => 1)].map((p) => p instanceof api.DurablePromise),
      value: await step,
    };
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.deepEqual(r.result, { kinds: [true, true, true, true], value: 5 });
  const names = r.history().map((e) => e.Name);
  assert.ok(names.includes('eager'));
  assert.ok(!names.includes('never-awaited'), 'a combinator never awaited records nothing');
});

// -- enums ------------------------------------------------------------------------------------

test('BatchItemStatus, CompletionOutcome, InvocationStatus, OperationSubType, OperationAction: the official values', () => {
  assert.deepEqual({ ...api.BatchItemStatus }, { SUCCEEDED: 'SUCCEEDED', FAILED: 'FAILED', STARTED: 'STARTED' });
  assert.deepEqual({ ...api.CompletionOutcome }, { SUCCEEDED: 'SUCCEEDED', FAILED: 'FAILED' });
  assert.deepEqual({ ...api.InvocationStatus }, { SUCCEEDED: 'SUCCEEDED', FAILED: 'FAILED', PENDING: 'PENDING' });
  assert.deepEqual({ ...api.OperationSubType }, {
    STEP: 'Step', WAIT: 'Wait', CALLBACK: 'Callback', RUN_IN_CHILD_CONTEXT: 'RunInChildContext', MAP: 'Map',
    MAP_ITERATION: 'MapIteration', PARALLEL: 'Parallel', PARALLEL_BRANCH: 'ParallelBranch',
    WAIT_FOR_CALLBACK: 'WaitForCallback', WAIT_FOR_CONDITION: 'WaitForCondition', CHAINED_INVOKE: 'ChainedInvoke',
  });
  assert.deepEqual({ ...api.OperationAction }, {
    START: 'START', SUCCEED: 'SUCCEED', FAIL: 'FAIL', RETRY: 'RETRY', CANCEL: 'CANCEL',
  });
  for (const e of [api.BatchItemStatus, api.CompletionOutcome, api.InvocationStatus, api.OperationSubType, api.OperationAction]) {
    assert.ok(Object.isFrozen(e));
  }
});

test('OperationSubType names the sub-type every operation records; BatchItemStatus the items of a map', async () => {
  const target = withDurableExecution(async (event) => event);
  const h = withDurableExecution(async (event, ctx) => {
    await ctx.step('s', async () => 1);
    await ctx.wait('w', { seconds: 1 });
    const [p] = await ctx.createCallback('cb');
    await p;
    await ctx.waitForCallback('wfc', async () => {});
    await ctx.runInChildContext('child', async () => 1);
    const m = await ctx.map('m', [1, 2], async (c, i) => {
      if (i === 2) throw new Error('two');
      return i;
    }, { completionConfig: { toleratedFailureCount: 1 } });
    await ctx.parallel('par', [async () => 1]);
    await ctx.waitForCondition('cond', async (s) => s + 1, { initialState: 0, waitStrategy: () => ({ shouldContinue: false }) });
    await ctx.invoke('inv', 'target', 1);
    return m.all.map((i) => i.status);
  });
  const r = await execute({ fn: h, target }, 'fn', null, {
    during: async (store, arn) => {
      for (const name of ['cb', undefined]) {
        const op = await waitForOperation(store, arn, (o) => o.Type === 'CALLBACK' && o.Status === 'STARTED'
          && (name ? o.Name === name : o.Name !== 'cb'));
        store.callbackSucceed(op.CallbackDetails.CallbackId, 'x');
      }
    },
  });
  assert.deepEqual(r.result, [api.BatchItemStatus.SUCCEEDED, api.BatchItemStatus.FAILED]);
  const recorded = new Set(r.history().map((e) => e.SubType).filter(Boolean));
  assert.deepEqual([...recorded].sort(), Object.values(api.OperationSubType).sort());
});

// -- runInvocation, InvocationStatus, OperationAction, TransportError --------------------------

test('runInvocation against a real store lease with a custom transport, as a Worker runs it', async () => {
  const p = tmpStorePath();
  const store = new Store(p);
  const h = withDurableExecution(async (event, ctx) => {
    const v = await ctx.step('double', async () => event.n * 2);
    await ctx.wait('pause', { seconds: 1 });
    return v;
  });
  try {
    const arn = store.start('fn', { n: 21 });
    let checkpoints = 0;
    for (let i = 0; i < 2; i++) {
      const l = await lease(store, 'fn');
      assert.ok(l, `invocation ${i + 1} leased`);
      const transport = (request) => {
        checkpoints++;
        return store.exclusive(() => native.leaseCheckpoint(l, request));
      };
      const output = await api.runInvocation(h, native.leaseInput(l), { wire: WIRE_MSGPACK, transport, clock: () => store.now() });
      await store.exclusive(() => native.leaseComplete(l, output));
      if (i === 0) assert.equal(store.describe(arn).Status, 'RUNNING');   // suspended on the wait
    }
    assert.ok(checkpoints >= 2);
    const d = await store.waitForEnd(arn, { timeoutMs: 20000 });
    assert.equal(d.Status, 'SUCCEEDED');
    assert.equal(JSON.parse(d.Result), 42);
    assert.equal(events(store.history(arn), 'StepSucceeded').length, 1);   // the replay did not run the step again
  } finally {
    store.close();
  }
});

/**
 * The Lambda service's side of the JSON wire, reduced to what one invocation
 * needs: it records the checkpoint requests and acknowledges each with a new token.
 */
function fakeService() {
  const requests = [];
  const transport = async (request) => {
    requests.push(JSON.parse(Buffer.from(request).toString('utf8')));
    return Buffer.from(JSON.stringify({ CheckpointToken: `token-${requests.length}` }));
  };
  return { requests, transport };
}

function invocationInput(operations) {
  const arn = 'arn:aws:lambda:us-east-1:123456789012:function:fn:$LATEST/durable-execution/api-items/1';
  return Buffer.from(JSON.stringify({
    DurableExecutionArn: arn,
    CheckpointToken: 'token-0',
    InitialExecutionState: { Operations: [
      { Id: 'execution', Type: 'EXECUTION', Status: 'STARTED', ExecutionDetails: { InputPayload: '{"n":21}' } },
      ...operations,
    ] },
  }));
}

test('runInvocation on the JSON wire: InvocationStatus and OperationAction are the values the protocol carries', async () => {
  const h = withDurableExecution(async (event, ctx) => {
    const v = await ctx.step('double', async () => event.n * 2);
    await ctx.wait('pause', { seconds: 1 });
    return v;
  });
  const run1 = fakeService();
  const out1 = JSON.parse(Buffer.from(await api.runInvocation(h, invocationInput([]),
    { wire: WIRE_JSON, transport: run1.transport, clock: () => Date.now() })).toString('utf8'));
  assert.deepEqual(out1, { Status: api.InvocationStatus.PENDING });
  const updates = run1.requests.flatMap((r) => r.Updates);
  assert.deepEqual(updates.map((u) => [u.Name, u.SubType, u.Action]), [
    ['double', api.OperationSubType.STEP, api.OperationAction.START],
    ['double', api.OperationSubType.STEP, api.OperationAction.SUCCEED],
    ['pause', api.OperationSubType.WAIT, api.OperationAction.START],
  ]);
  // each checkpoint carries the token the previous response gave
  assert.deepEqual(run1.requests.map((r) => r.CheckpointToken), run1.requests.map((r, i) => `token-${i}`));
  // the next invocation, with both operations done, replays them and succeeds
  const [step, wait] = [updates[1], updates[2]];
  const done = [
    { Id: step.Id, Name: 'double', Type: 'STEP', SubType: 'Step', Status: 'SUCCEEDED', StepDetails: { Result: step.Payload } },
    { Id: wait.Id, Name: 'pause', Type: 'WAIT', SubType: 'Wait', Status: 'SUCCEEDED' },
  ];
  const run2 = fakeService();
  const out2 = JSON.parse(Buffer.from(await api.runInvocation(h, invocationInput(done),
    { wire: WIRE_JSON, transport: run2.transport, clock: () => Date.now() })).toString('utf8'));
  assert.deepEqual(out2, { Status: api.InvocationStatus.SUCCEEDED, Result: '42' });
  assert.equal(run2.requests.flatMap((r) => r.Updates).length, 0);
});

test('runInvocation on the JSON wire: a retried step sends RETRY, a failed one FAIL; a failing handler gives FAILED', async () => {
  const h = withDurableExecution(async (event, ctx) => {
    try {
      await ctx.step('once', async () => { throw new Error('no retry'); }, { retryStrategy: retryPresets.noRetry });
    } catch (e) {
      await ctx.step('again', async () => { throw new Error('retry me'); },
        { retryStrategy: () => ({ shouldRetry: true, delay: { seconds: 5 } }) });
    }
  });
  const svc = fakeService();
  const out = JSON.parse(Buffer.from(await api.runInvocation(h, invocationInput([]),
    { wire: WIRE_JSON, transport: svc.transport, clock: () => Date.now() })).toString('utf8'));
  assert.deepEqual(out, { Status: api.InvocationStatus.PENDING });
  const updates = svc.requests.flatMap((r) => r.Updates).filter((u) => u.Action !== api.OperationAction.START);
  assert.deepEqual(updates.map((u) => [u.Name, u.Action]), [['once', api.OperationAction.FAIL], ['again', api.OperationAction.RETRY]]);
  assert.equal(updates[1].StepOptions.NextAttemptDelaySeconds, 5);

  const failing = withDurableExecution(async () => { throw new TypeError('bad event'); });
  const out2 = JSON.parse(Buffer.from(await api.runInvocation(failing, invocationInput([]),
    { wire: WIRE_JSON, transport: fakeService().transport, clock: () => Date.now() })).toString('utf8'));
  assert.equal(out2.Status, api.InvocationStatus.FAILED);
  assert.equal(out2.Error.ErrorType, 'TypeError');
  assert.equal(out2.Error.ErrorMessage, 'bad event');
});

test('a transport that fails: runInvocation throws TransportError (invocation-level); the execution then recovers', async () => {
  const p = tmpStorePath();
  const store = new Store(p);
  let bodies = 0;
  const h = withDurableExecution(async (event, ctx) => ctx.step('s', async () => { bodies++; return 'done'; }));
  try {
    const arn = store.start('fn', null);
    const l = await lease(store, 'fn');
    const down = async () => { throw new Error('service unavailable'); };
    let thrown;
    try {
      await api.runInvocation(h, native.leaseInput(l), { wire: WIRE_MSGPACK, transport: down, clock: () => store.now() });
    } catch (e) {
      thrown = e;
    }
    assert.ok(thrown instanceof api.TransportError, String(thrown));
    assert.ok(thrown instanceof UnrecoverableInvocationError && thrown instanceof UnrecoverableError);
    assert.equal(api.isUnrecoverableInvocationError(thrown), true);
    assert.equal(api.isUnrecoverableExecutionError(thrown), false);
    assert.match(thrown.message, /service unavailable/);
    assert.equal(thrown.originalError.message, 'service unavailable');
    // as a Worker does: abandon, and the next invocation re-runs from the last checkpoint
    await store.exclusive(() => native.leaseAbandon(l, `${thrown.name}: ${thrown.message}`));
    const w = startWorker({ store: p, functions: { fn: h }, pollMs: 100 });
    try {
      const d = await store.waitForEnd(arn, { timeoutMs: 20000 });
      assert.equal(d.Status, 'SUCCEEDED');
      assert.equal(JSON.parse(d.Result), 'done');
    } finally {
      await w.stop();
    }
    assert.ok(bodies >= 1);
  } finally {
    store.close();
  }
});

// -- run / ExecutionFailedError -------------------------------------------------------------------

test('run() returns the result of a succeeding handler and throws ExecutionFailedError for a failing one', async () => {
  assert.deepEqual(await api.run(withDurableExecution(async (event, ctx) => ctx.step(async () => event + 1)), 1), 2);
  const failing = withDurableExecution(async (event, ctx) => {
    await ctx.step('ok', async () => 1);
    throw new RangeError(`bad input ${event}`);
  });
  let err;
  try {
    await api.run(failing, 7);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof api.ExecutionFailedError);
  assert.ok(err instanceof Error && !(err instanceof DurableOperationError));
  assert.equal(err.name, 'ExecutionFailedError');
  assert.equal(err.status, 'FAILED');
  assert.equal(err.error.ErrorType, 'RangeError');
  assert.equal(err.error.ErrorMessage, 'bad input 7');
  assert.equal(err.description.Status, 'FAILED');
  assert.equal(err.message, 'execution FAILED: RangeError: bad input 7');
});

// -- createLinearRetryStrategy ---------------------------------------------------------------------

test('createLinearRetryStrategy: initialDelay + increment x (attempt-1), capped at maxDelay, maxAttempts (official defaults 6, 1 s, 1 s)', () => {
  const none = JitterStrategy.NONE;
  const dflt = api.createLinearRetryStrategy({ jitter: none });
  const err = new Error('x');
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => dflt(err, n)),
    [1, 2, 3, 4, 5].map((s) => ({ shouldRetry: true, delay: { seconds: s } })));
  assert.equal(dflt(err, 6).shouldRetry, false);
  const custom = api.createLinearRetryStrategy({
    maxAttempts: 5, initialDelay: { seconds: 2 }, increment: { seconds: 3 }, maxDelay: { seconds: 7 }, jitter: none,
  });
  assert.deepEqual([1, 2, 3, 4].map((n) => custom(err, n).delay.seconds), [2, 5, 7, 7]);
  assert.equal(custom(err, 5).shouldRetry, false);
  // FULL jitter (the default) stays within [1, base]
  const jittered = api.createLinearRetryStrategy({ initialDelay: { seconds: 10 } });
  for (let i = 0; i < 50; i++) {
    const s = jittered(err, 1).delay.seconds;
    assert.ok(Number.isInteger(s) && s >= 1 && s <= 10, `delay ${s}`);
  }
  // only the listed errors are retried
  const filtered = api.createLinearRetryStrategy({ retryableErrorTypes: [TypeError], jitter: none });
  assert.equal(filtered(new TypeError('t'), 1).shouldRetry, true);
  assert.equal(filtered(new Error('e'), 1).shouldRetry, false);
});

test('createLinearRetryStrategy drives a real step: the recorded retry delays grow linearly', async () => {
  const h = withDurableExecution(async (event, ctx) => ctx.step('flaky', async (s) => {
    if (s.attempt < 3) throw new Error(`attempt ${s.attempt}`);
    return s.attempt;
  }, { retryStrategy: api.createLinearRetryStrategy({ jitter: JitterStrategy.NONE }) }));
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.result, 3);
  assert.deepEqual(events(r.history(), 'StepFailed').map((e) => e.StepFailedDetails.RetryDetails.NextAttemptDelaySeconds), [1, 2]);
});

// -- serdes -------------------------------------------------------------------------------------------

test('defaultSerdes: async JSON round trips; undefined stays undefined both ways', async () => {
  const ctx = { entityId: 'e', durableExecutionArn: 'arn' };
  const value = { a: [1, 'two', null], b: { c: true } };
  const data = api.defaultSerdes.serialize(value, ctx);
  assert.ok(data instanceof Promise);
  assert.equal(await data, JSON.stringify(value));
  assert.deepEqual(await api.defaultSerdes.deserialize(await data, ctx), value);
  assert.equal(await api.defaultSerdes.serialize(undefined, ctx), undefined);
  assert.equal(await api.defaultSerdes.deserialize(undefined, ctx), undefined);
  assert.equal(await api.defaultSerdes.serialize(null, ctx), 'null');
  // a Date is stored as its ISO string and comes back as that string (JSON)
  assert.equal(await api.defaultSerdes.deserialize(await api.defaultSerdes.serialize(new Date(0), ctx), ctx),
    '1970-01-01T00:00:00.000Z');
  await assert.rejects(api.defaultSerdes.deserialize('{not json', ctx), SyntaxError);
});

test('defaultSerdes via configureSerdes: a step result and an undefined one replay across invocations', async () => {
  const calls = [];
  const counting = {
    serialize: async (v, c) => { calls.push(['ser', c.entityId]); return api.defaultSerdes.serialize(v, c); },
    deserialize: async (d, c) => { calls.push(['de', c.entityId]); return api.defaultSerdes.deserialize(d, c); },
  };
  const h = withDurableExecution(async (event, ctx) => {
    ctx.configureSerdes({ defaultSerdes: counting });
    const a = await ctx.step('a', async () => ({ x: 1 }));
    const u = await ctx.step('u', async () => undefined);
    await ctx.wait({ seconds: 1 });
    return { a, u: u === undefined };
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.deepEqual(r.result, { a: { x: 1 }, u: true });
  assert.ok(calls.some(([k]) => k === 'ser') && calls.some(([k]) => k === 'de'), JSON.stringify(calls));
});

test('createClassSerdesWithDates restores the class and its Date fields (nested paths too)', async () => {
  class Order {
    constructor() { this.id = ''; this.createdAt = new Date(); this.meta = { shippedAt: null }; }
    age(now) { return now - this.createdAt.getTime(); }
  }
  const serdes = api.createClassSerdesWithDates(Order, ['createdAt', 'meta.shippedAt', 'meta.missing.deep']);
  const o = new Order();
  o.id = 'o-1';
  o.createdAt = new Date('2024-01-02T03:04:05.000Z');
  o.meta.shippedAt = new Date('2024-02-03T00:00:00.000Z');
  const ctx = { entityId: 'e', durableExecutionArn: 'arn' };
  const back = await serdes.deserialize(await serdes.serialize(o, ctx), ctx);
  assert.ok(back instanceof Order);
  assert.ok(back.createdAt instanceof Date && back.meta.shippedAt instanceof Date);
  assert.equal(back.createdAt.toISOString(), '2024-01-02T03:04:05.000Z');
  assert.equal(back.meta.shippedAt.toISOString(), '2024-02-03T00:00:00.000Z');
  assert.equal(back.age(Date.parse('2024-01-02T03:04:06.000Z')), 1000);
  assert.equal(await serdes.serialize(undefined, ctx), undefined);
  assert.equal(await serdes.deserialize(undefined, ctx), undefined);
  // a null date stays null (not the epoch)
  const unshipped = await serdes.deserialize(JSON.stringify({ id: 'o-2', createdAt: o.createdAt, meta: { shippedAt: null } }), ctx);
  assert.equal(unshipped.meta.shippedAt, null);
});

test('createClassSerdesWithDates as a step serdes: the replayed value has Dates', async () => {
  class Stamp { constructor() { this.at = null; } }
  const h = withDurableExecution(async (event, ctx) => {
    const s = await ctx.step('stamp', async () => Object.assign(new Stamp(), { at: new Date(86400000) }),
      { serdes: api.createClassSerdesWithDates(Stamp, ['at']) });
    await ctx.wait({ seconds: 1 });   // the second invocation replays the step through the serdes
    return { cls: s instanceof Stamp, date: s.at instanceof Date, day: s.at.getUTCDate() };
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.deepEqual(r.result, { cls: true, date: true, day: 2 });
});

// -- completion helpers and BatchCompletionError --------------------------------------------------------

test('continueBatch / completeBatch build the CompletionDecision of a shouldComplete predicate', () => {
  assert.deepEqual(api.continueBatch(), { complete: false });
  const done = api.completeBatch();
  assert.equal(done.complete, true);
  assert.equal(done.outcome, undefined);
  assert.deepEqual(api.completeBatch(api.CompletionOutcome.FAILED), { complete: true, outcome: 'FAILED' });
  assert.deepEqual(api.completeBatch(api.CompletionOutcome.SUCCEEDED), { complete: true, outcome: 'SUCCEEDED' });
});

test('a map with completionConfig.shouldComplete is refused with ValidationError (not supported by perdure yet)', async () => {
  const h = withDurableExecution(async (event, ctx) => ctx.map('quorum', [1, 2, 3], async (c, i) => i, {
    completionConfig: { shouldComplete: (s) => (s.successCount >= 2 ? api.completeBatch() : api.continueBatch()) },
  }));
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.description.Status, 'FAILED');
  assert.equal(r.description.Error.ErrorType, 'ValidationError');
  assert.match(r.description.Error.ErrorMessage, /shouldComplete/);
});

test('BatchCompletionError: official constructor (completionReason first) and default message', () => {
  const e = new api.BatchCompletionError('CUSTOM_COMPLETION_FAILED');
  assert.ok(e instanceof DurableOperationError && e instanceof Error);
  assert.equal(e.name, 'BatchCompletionError');
  assert.equal(e.errorType, 'BatchCompletionError');
  assert.equal(e.completionReason, 'CUSTOM_COMPLETION_FAILED');
  assert.equal(e.message, 'Batch completed as failed by shouldComplete (CUSTOM_COMPLETION_FAILED)');
  const cause = new Error('quorum');
  const custom = new api.BatchCompletionError('CUSTOM_COMPLETION_FAILED', 'no quorum', cause, 'data');
  assert.equal(custom.message, 'no quorum');
  assert.equal(custom.cause, cause);
  assert.deepEqual(custom.toErrorObject(),
    { ErrorType: 'BatchCompletionError', ErrorMessage: 'no quorum', ErrorData: 'data', StackTrace: undefined });
});

test('BatchResult.throwIfError throws the first failed item\'s ChildContextError; nothing when all succeeded', async () => {
  const h = withDurableExecution(async (event, ctx) => {
    const mixed = await ctx.map('mixed', [1, 2, 3], async (c, i) => {
      if (i > 1) throw new TypeError(`item ${i}`);
      return i;
    }, { completionConfig: { toleratedFailureCount: 2 } });
    const fine = await ctx.map('fine', [1], async (c, i) => i);
    fine.throwIfError();
    try {
      mixed.throwIfError();
      return 'not thrown';
    } catch (e) {
      return { cls: e.constructor.name, child: e instanceof ChildContextError, message: e.message, cause: e.cause.name,
        batch: e instanceof api.BatchCompletionError };
    }
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.deepEqual(r.result, { cls: 'ChildContextError', child: true, message: 'item 2', cause: 'TypeError', batch: false });
});

// -- DurableOperationError and its callback / combinator subclasses ------------------------------------

test('the DurableOperationError hierarchy: names, errorType, default messages, ErrorObject round trips', () => {
  const cases = [
    [api.CallbackExternalError, 'Callback failed', [CallbackError]],
    [api.CallbackSubmitterError, 'Callback submitter failed', [CallbackError]],
    [api.PromiseCombinatorError, 'Promise combinator failed', []],
  ];
  for (const [cls, dflt, parents] of cases) {
    const e = new cls();
    assert.ok(e instanceof DurableOperationError && e instanceof Error, cls.name);
    for (const parent of parents) assert.ok(e instanceof parent, `${cls.name} is a ${parent.name}`);
    assert.ok(!(e instanceof StepError));
    assert.equal(e.name, cls.name);
    assert.equal(e.errorType, cls.name);
    assert.equal(e.message, dflt);
    const cause = new Error('root');
    const full = new cls('m', cause, 'd');
    assert.equal(full.cause, cause);
    assert.equal(full.errorData, 'd');
    const back = DurableOperationError.fromErrorObject(full.toErrorObject());
    assert.equal(back.constructor, cls, `${cls.name} survives fromErrorObject`);
    assert.equal(back.message, 'm');
    assert.equal(back.errorData, 'd');
    assert.equal(back.cause.name, cls.name);
  }
  // base CallbackError is none of its subclasses; an unknown ErrorType comes back as StepError
  assert.ok(!(new CallbackError() instanceof api.CallbackExternalError));
  const unknown = DurableOperationError.fromErrorObject({ ErrorType: 'Weird' });
  assert.ok(unknown instanceof StepError);
  assert.equal(unknown.message, 'Unknown error');
});

test('a callback failed from outside throws CallbackExternalError (createCallback and waitForCallback)', async () => {
  const h = withDurableExecution(async (event, ctx) => {
    const out = [];
    const seen = (e) => [e.constructor.name, e instanceof CallbackError, e.message, e.cause.name, e.errorData === undefined ? 'none' : e.errorData];
    const [p] = await ctx.createCallback('cb');
    try { await p; } catch (e) { out.push(seen(e)); }
    try {
      await ctx.waitForCallback('wfc', async () => {});
    } catch (e) {
      out.push(seen(e));
    }
    return out;
  });
  const r = await execute({ fn: h }, 'fn', null, {
    during: async (store, arn) => {
      const op = await waitForOperation(store, arn, (o) => o.Name === 'cb' && o.Status === 'STARTED');
      store.callbackFail(op.CallbackDetails.CallbackId, { ErrorType: 'Declined', ErrorMessage: 'card declined', ErrorData: 'd1' });
      const op2 = await waitForOperation(store, arn, (o) => o.Type === 'CALLBACK' && o.Status === 'STARTED' && o.Name !== 'cb');
      store.callbackFail(op2.CallbackDetails.CallbackId, { ErrorType: 'Rejected', ErrorMessage: 'no' });
    },
  });
  assert.deepEqual(r.result, [
    ['CallbackExternalError', true, 'card declined', 'Declined', 'd1'],
    ['CallbackExternalError', true, 'no', 'Rejected', 'none'],
  ]);
});

test('a waitForCallback submitter that keeps failing throws CallbackSubmitterError with its message', async () => {
  let calls = 0;
  const h = withDurableExecution(async (event, ctx) => {
    try {
      await ctx.waitForCallback('ask', async () => { calls++; throw new TypeError('cannot reach the approver'); },
        { retryStrategy: retryPresets.noRetry });
      return 'unreachable';
    } catch (e) {
      return [e.constructor.name, e instanceof CallbackError, e.message, e.errorType];
    }
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.deepEqual(r.result, ['CallbackSubmitterError', true, 'cannot reach the approver', 'CallbackSubmitterError']);
  assert.equal(calls, 1);
  assert.equal(events(r.history(), 'ContextFailed')[0].SubType, api.OperationSubType.WAIT_FOR_CALLBACK);
});

test('promise.all / any rejections throw PromiseCombinatorError; the combinator replays its failure', async () => {
  let bodies = 0;
  const noRetry = { retryStrategy: retryPresets.noRetry };
  const h = withDurableExecution(async (event, ctx) => {
    const out = {};
    try {
      await ctx.promise.all('all', [ctx.step(async () => 1), ctx.step(async () => { bodies++; throw new Error('step broke'); }, noRetry)]);
    } catch (e) {
      out.all = [e.constructor.name, e instanceof DurableOperationError, e.message];
    }
    try {
      await ctx.promise.any('any', [ctx.step(async () => { throw new Error('a'); }, noRetry)]);
    } catch (e) {
      out.any = [e.constructor.name, e.message];
    }
    await ctx.wait({ seconds: 1 });   // the second invocation replays both failures
    return out;
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.deepEqual(r.result, {
    all: ['PromiseCombinatorError', true, 'step broke'],
    any: ['PromiseCombinatorError', 'All promises were rejected'],
  });
  assert.equal(bodies, 1);
});

// -- Unrecoverable errors and their predicates -------------------------------------------------------------

test('UnrecoverableError classes: flags, originalError, hierarchy; the isUnrecoverable* predicates', () => {
  const original = new Error('root');
  const base = new UnrecoverableError('u', original);
  const exec = new UnrecoverableExecutionError('x');
  const inv = new UnrecoverableInvocationError('i', original);
  assert.equal(base.name, 'UnrecoverableError');
  assert.equal(base.originalError, original);
  assert.equal(exec.originalError, undefined);
  assert.ok(exec instanceof UnrecoverableError && inv instanceof UnrecoverableError);
  assert.ok(!(exec instanceof UnrecoverableInvocationError) && !(inv instanceof UnrecoverableExecutionError));
  assert.deepEqual([base, exec, inv].map(api.isUnrecoverableError), [true, true, true]);
  assert.deepEqual([base, exec, inv].map(api.isUnrecoverableExecutionError), [false, true, false]);
  assert.deepEqual([base, exec, inv].map(api.isUnrecoverableInvocationError), [false, false, true]);
  // Perdure's own fatal errors sit under them as the official SDK's do
  const nd = new NonDeterministicExecutionError('nd');
  assert.ok(api.isUnrecoverableExecutionError(nd) && api.isUnrecoverableExecutionError(new SerdesFailedError('s')));
  assert.ok(api.isUnrecoverableInvocationError(new api.TransportError('t')));
  // as official: only an Error whose flag is exactly true
  for (const pred of [api.isUnrecoverableError, api.isUnrecoverableExecutionError, api.isUnrecoverableInvocationError]) {
    for (const v of [new Error('plain'), null, undefined, 'string', 123, {}]) assert.equal(pred(v), false);
    assert.equal(pred({ isUnrecoverable: true, isUnrecoverableExecution: true, isUnrecoverableInvocation: true }), false);
    const flagged = Object.assign(new Error('f'), { isUnrecoverable: 1, isUnrecoverableExecution: 1, isUnrecoverableInvocation: 1 });
    assert.equal(pred(flagged), false);
  }
});

test('an UnrecoverableExecutionError thrown in a step fails the execution even when caught', async () => {
  const h = withDurableExecution(async (event, ctx) => {
    try {
      await ctx.step('fatal', async () => { throw new UnrecoverableExecutionError('the order is gone'); });
    } catch (e) {
      return 'swallowed';
    }
    return 'unreachable';
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.description.Status, 'FAILED');
  assert.equal(r.description.Error.ErrorType, 'UnrecoverableExecutionError');
  assert.match(r.description.Error.ErrorMessage, /the order is gone/);
  assert.equal(events(r.history(), 'StepFailed').length, 0);   // not retried as a step failure
});

// -- configureLogger -------------------------------------------------------------------------------------------

function recordingLogger() {
  const records = [];
  const logger = {
    configureDurableLoggingContext(c) { logger.loggingContext = c; },
  };
  for (const level of ['error', 'warn', 'info', 'debug']) {
    logger[level] = (...args) => records.push({ level, args, data: logger.loggingContext.getDurableLogData() });
  }
  logger.log = (level, ...args) => records.push({ level: `log:${level}`, args, data: logger.loggingContext.getDurableLogData() });
  return { logger, records };
}

test('configureLogger({customLogger}): lines go to it with the caller\'s arguments; operation fields via getDurableLogData', async () => {
  const { logger, records } = recordingLogger();
  const h = withDurableExecution(async (event, ctx) => {
    ctx.configureLogger({ customLogger: logger });
    ctx.logger.info('before', { k: 1 });
    await ctx.step('work', async (s) => { s.logger.warn('in step', s.attempt); return 1; });
    await ctx.wait({ seconds: 1 });
    ctx.logger.log('ERROR', 'after');
    return 'ok';
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.result, 'ok');
  // modeAware (the default): each line once, though the handler ran twice
  assert.deepEqual(records.map((x) => [x.level, x.args]), [
    ['info', ['before', { k: 1 }]],
    ['warn', ['in step', 1]],
    ['log:ERROR', ['after']],
  ]);
  assert.equal(records[0].data.executionArn, r.arn);
  assert.equal(records[0].data.operationId, undefined);
  const stepId = events(r.history(), 'StepStarted')[0].Id;
  assert.equal(records[1].data.operationId, stepId);
  assert.equal(records[1].data.operationName, 'work');
  assert.equal(records[1].data.attempt, 1);
  assert.equal(records[1].data.executionArn, r.arn);
});

test('configureLogger({modeAware: false}) also logs while replaying; a later call keeps the custom logger', async () => {
  const { logger, records } = recordingLogger();
  const h = withDurableExecution(async (event, ctx) => {
    ctx.configureLogger({ customLogger: logger });
    ctx.configureLogger({ modeAware: false });   // partial: the custom logger stays
    ctx.logger.info('every invocation');
    await ctx.wait({ seconds: 1 });
    return 'ok';
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.result, 'ok');
  assert.deepEqual(records.map((x) => x.args[0]), ['every invocation', 'every invocation']);
});

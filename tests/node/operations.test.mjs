// Every DurableContext operation, end to end through a store file and a worker.
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { perdure, execute, waitForOperation, events, tmpDir } from './helpers.mjs';

const {
  withDurableExecution, createRetryStrategy, createWaitStrategy, JitterStrategy, StepError, CallbackError,
  ChildContextError, InvokeError, StepSemantics, NestingType, withRetry, retryPresets, createClassSerdes,
} = perdure;

const fast = createRetryStrategy({ maxAttempts: 3, initialDelay: { seconds: 1 }, jitter: JitterStrategy.NONE });

test('step: the value is stored and round-tripped; unnamed and named overloads', async () => {
  const h = withDurableExecution(async (event, ctx) => {
    const a = await ctx.step('greet', async (s) => ({ text: `Hello, ${event}!`, attempt: s.attempt, when: new Date(0) }));
    const b = await ctx.step(async () => 7);
    return { a, b };
  });
  const r = await execute({ fn: h }, 'fn', 'World');
  assert.equal(r.description.Status, 'SUCCEEDED');
  assert.deepEqual(r.result, { a: { text: 'Hello, World!', attempt: 1, when: '1970-01-01T00:00:00.000Z' }, b: 7 });
  const h2 = r.history();
  assert.equal(events(h2, 'StepSucceeded').length, 2);
  assert.equal(events(h2, 'StepStarted')[0].Name, 'greet');
  // ids are the official JS SDK's: md5 of the raw path, 16 hex chars
  assert.equal(events(h2, 'StepStarted')[0].Id, 'c4ca4238a0b92382');
});

test('step retries with a createRetryStrategy strategy, then succeeds; attempt counts', async () => {
  const h = withDurableExecution(async (event, ctx) => ctx.step('flaky', async (s) => {
    if (s.attempt < 3) throw new Error(`attempt ${s.attempt} failed`);
    return s.attempt;
  }, { retryStrategy: fast }));
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.description.Status, 'SUCCEEDED');
  assert.equal(r.result, 3);
  const failed = events(r.history(), 'StepFailed');
  assert.equal(failed.length, 2);
  assert.equal(failed[0].StepFailedDetails.RetryDetails.NextAttemptDelaySeconds, 1);
  assert.equal(failed[0].StepFailedDetails.Error.Payload.ErrorMessage, 'attempt 1 failed');
});

test('step: exhausted retries throw StepError (recorded message, cause named by the error type)', async () => {
  class Boom extends Error { constructor(m) { super(m); this.name = 'Boom'; } }
  const h = withDurableExecution(async (event, ctx) => {
    try {
      await ctx.step('bad', async () => { throw new Boom('nope'); }, { retryStrategy: retryPresets.noRetry });
      return 'unreachable';
    } catch (e) {
      return { isStepError: e instanceof StepError, message: e.message, cause: e.cause && e.cause.name, type: e.errorType };
    }
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.deepEqual(r.result, { isStepError: true, message: 'nope', cause: 'Boom', type: 'StepError' });
});

test('step: a user-written strategy decides (perdure_vm_op_fail_decided)', async () => {
  const seen = [];
  const h = withDurableExecution(async (event, ctx) => {
    try {
      await ctx.step('s', async () => { throw new Error('x'); }, {
        retryStrategy: (err, n) => { seen.push(n); return n < 2 ? { shouldRetry: true, delay: { seconds: 1 } } : { shouldRetry: false }; },
      });
    } catch (e) {
      return e.message;
    }
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.result, 'x');
  assert.deepEqual(seen, [1, 2]);
});

test('step: at-most-once semantics run the body once per attempt', async () => {
  const h = withDurableExecution(async (event, ctx) => ctx.step('once', async () => 'done',
    { semantics: StepSemantics.AtMostOncePerRetry }));
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.result, 'done');
});

test('wait: suspends and resumes; durations in days/hours/minutes/seconds', async () => {
  const h = withDurableExecution(async (event, ctx) => {
    await ctx.wait('pause', { seconds: 1 });
    await ctx.wait({ minutes: 0, seconds: 1 });
    return 'after';
  });
  const t = Date.now();
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.result, 'after');
  assert.ok(Date.now() - t >= 1900);
  const h2 = r.history();
  assert.equal(events(h2, 'WaitStarted').length, 2);
  assert.equal(events(h2, 'WaitStarted')[0].WaitStartedDetails.Duration, 1);
  assert.equal(events(h2, 'InvocationCompleted').length, 3);
});

test('createCallback: [promise, callbackId]; the raw string answer; failure throws CallbackError', async () => {
  const h = withDurableExecution(async (event, ctx) => {
    const [p1, id1] = await ctx.createCallback('approval', { timeout: { minutes: 5 } });
    const answer = await p1;
    const [p2] = await ctx.createCallback('second');
    try {
      await p2;
    } catch (e) {
      return { id1, answer, failed: e instanceof CallbackError, message: e.message };
    }
  });
  const r = await execute({ fn: h }, 'fn', null, {
    during: async (store, arn) => {
      const op = await waitForOperation(store, arn, (o) => o.Name === 'approval' && o.Status === 'STARTED');
      store.callbackSucceed(op.CallbackDetails.CallbackId, '{"ok":true}');
      const op2 = await waitForOperation(store, arn, (o) => o.Name === 'second' && o.Status === 'STARTED');
      store.callbackFail(op2.CallbackDetails.CallbackId, { ErrorType: 'Rejected', ErrorMessage: 'no way' });
    },
  });
  assert.equal(r.description.Status, 'SUCCEEDED');
  assert.equal(r.result.answer, '{"ok":true}');
  assert.equal(r.result.failed, true);
  assert.equal(r.result.message, 'no way');
  assert.match(r.result.id1, /^[A-Za-z0-9+/=]+$/);
});

test('createCallback with a serdes; configureSerdes sets the default callback deserializer', async () => {
  const h = withDurableExecution(async (event, ctx) => {
    ctx.configureSerdes({ defaultCallbackDeserializer: { deserialize: async (d) => JSON.parse(d) } });
    const [p] = await ctx.createCallback('cb');
    return p;
  });
  const r = await execute({ fn: h }, 'fn', null, {
    during: async (store, arn) => {
      const op = await waitForOperation(store, arn, (o) => o.Name === 'cb' && o.Status === 'STARTED');
      store.callbackSucceed(op.CallbackDetails.CallbackId, '{"n":1}');
    },
  });
  assert.deepEqual(r.result, { n: 1 });
});

test('waitForCallback: the submitter gets the callback id; retries of the submitter follow its strategy', async () => {
  let calls = 0;
  const h = withDurableExecution(async (event, ctx) => ctx.waitForCallback('ask', async (callbackId, c) => {
    calls++;
    c.logger.info(`submitting ${callbackId}`);
    if (calls === 1) throw new Error('submit failed once');
  }, { retryStrategy: fast, timeout: { minutes: 1 } }));
  const r = await execute({ fn: h }, 'fn', null, {
    during: async (store, arn) => {
      const op = await waitForOperation(store, arn, (o) => o.Type === 'CALLBACK' && o.Status === 'STARTED');
      await waitForOperation(store, arn, (o) => o.Type === 'STEP' && o.Status === 'SUCCEEDED');
      store.callbackSucceed(op.CallbackDetails.CallbackId, 'yes');
    },
  });
  assert.equal(r.description.Status, 'SUCCEEDED');
  assert.equal(r.result, 'yes');
  assert.equal(calls, 2);
  assert.equal(events(r.history(), 'ContextSucceeded')[0].SubType, 'WaitForCallback');
});

test('waitForCondition: polls with createWaitStrategy until the condition holds', async () => {
  const h = withDurableExecution(async (event, ctx) => ctx.waitForCondition('count', async (state, c) => state + c.attempt * 0 + 1, {
    initialState: 0,
    waitStrategy: createWaitStrategy({ shouldContinuePolling: (s) => s < 3, initialDelay: { seconds: 1 }, jitter: JitterStrategy.NONE }),
  }));
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.result, 3);
  assert.equal(events(r.history(), 'StepSucceeded').length, 3);
});

test('runInChildContext: nested operations; a failing body throws ChildContextError; errorMapper', async () => {
  const h = withDurableExecution(async (event, ctx) => {
    const v = await ctx.runInChildContext('child', async (c) => (await c.step(async () => 20)) + 1);
    let caught;
    try {
      await ctx.runInChildContext('bad', async (c) => { throw new TypeError('inner'); });
    } catch (e) {
      caught = { child: e instanceof ChildContextError, message: e.message };
    }
    let mapped;
    try {
      await ctx.runInChildContext('mapped', async () => { throw new Error('m'); }, { errorMapper: (e) => new RangeError(`mapped ${e.message}`) });
    } catch (e) {
      mapped = `${e.name}: ${e.message}`;
    }
    return { v, caught, mapped };
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.deepEqual(r.result, { v: 21, caught: { child: true, message: 'inner' }, mapped: 'RangeError: mapped m' });
  const started = events(r.history(), 'StepStarted')[0];
  assert.equal(started.ParentId, events(r.history(), 'ContextStarted')[0].Id);
});

test('map: maxConcurrency, item names, failures and completion config, BatchResult methods', async () => {
  let running = 0;
  let peak = 0;
  const h = withDurableExecution(async (event, ctx) => {
    const ok = await ctx.map('squares', [1, 2, 3, 4, 5], async (c, item, i, all) => c.step(async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((res) => setTimeout(res, 30));
      running--;
      return item * item + all.length * 0 + i * 0;
    }), { maxConcurrency: 2, itemNamer: (item) => `sq-${item}` });
    const mixed = await ctx.map('mixed', [1, 2, 3], async (c, item) => {
      if (item === 2) throw new Error('two');
      return item;
    }, { completionConfig: { toleratedFailureCount: 1 } });
    const failFast = await ctx.map('failfast', [1, 2, 3], async (c, item) => {
      if (item === 1) throw new Error('first');
      return c.step(async () => item);
    }, { maxConcurrency: 1 });
    return {
      results: ok.getResults(), total: ok.totalCount, status: ok.status,
      mixed: { results: mixed.getResults(), failures: mixed.failureCount, hasFailure: mixed.hasFailure,
        errors: mixed.getErrors().map((e) => [e.constructor.name, e.message]), reason: mixed.completionReason },
      failFast: { reason: failFast.completionReason, started: failFast.startedCount, total: failFast.totalCount },
    };
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.deepEqual(r.result.results, [1, 4, 9, 16, 25]);
  assert.equal(r.result.status, 'SUCCEEDED');
  assert.ok(peak <= 2, `peak concurrency ${peak}`);
  assert.deepEqual(r.result.mixed, { results: [1, 3], failures: 1, hasFailure: true,
    errors: [['ChildContextError', 'two']], reason: 'ALL_COMPLETED' });
  assert.equal(r.result.failFast.reason, 'FAILURE_TOLERANCE_EXCEEDED');
  const names = events(r.history(), 'ContextStarted').map((e) => e.Name);
  assert.ok(names.includes('sq-1') && names.includes('sq-5'));
  assert.equal(events(r.history(), 'ContextStarted').find((e) => e.Name === 'sq-1').SubType, 'MapIteration');
});

test('map items that wait suspend the invocation and resume; FLAT nesting writes no item contexts', async () => {
  const h = withDurableExecution(async (event, ctx) => {
    const waited = await ctx.map('w', [1, 2], async (c, item) => {
      await c.wait({ seconds: 1 });
      return c.step(async () => item * 2);
    });
    const flat = await ctx.map('flat', ['a', 'b'], async (c, item) => c.step(async () => item.toUpperCase()),
      { nesting: NestingType.FLAT });
    return [waited.getResults(), flat.getResults()];
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.deepEqual(r.result, [[2, 4], ['A', 'B']]);
  const ctxs = events(r.history(), 'ContextStarted');
  assert.equal(ctxs.filter((e) => e.SubType === 'MapIteration').length, 2);   // only the nested map's
  assert.ok(events(r.history(), 'InvocationCompleted').length >= 2);
});

test('parallel: functions and named branches; default completion is all-successful', async () => {
  const h = withDurableExecution(async (event, ctx) => {
    const res = await ctx.parallel('p', [
      async (c) => c.step(async () => 'one'),
      { name: 'two', func: async (c) => { await c.wait({ seconds: 1 }); return 'two'; } },
    ], { maxConcurrency: 2 });
    const bad = await ctx.parallel([async () => { throw new Error('b0'); }, async () => 'ok']);
    return { res: res.getResults(), names: res.all.map((i) => i.status), bad: bad.failureCount };
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.deepEqual(r.result.res, ['one', 'two']);
  assert.equal(r.result.bad, 1);
  assert.ok(events(r.history(), 'ContextStarted').some((e) => e.Name === 'two' && e.SubType === 'ParallelBranch'));
});

test('invoke: a chained invoke of another function; a failing target throws InvokeError', async () => {
  const target = withDurableExecution(async (event) => ({ echoed: event }));
  const failing = withDurableExecution(async () => { throw new Error('target failed'); });
  const h = withDurableExecution(async (event, ctx) => {
    const a = await ctx.invoke('call-target', 'target', { x: 1 });
    let err;
    try {
      await ctx.invoke('failing', {});
    } catch (e) {
      err = { invokeError: e instanceof InvokeError, message: e.message };
    }
    return { a, err };
  });
  const r = await execute({ fn: h, target, failing }, 'fn', null);
  assert.deepEqual(r.result, { a: { echoed: { x: 1 } }, err: { invokeError: true, message: 'target failed' } });
  assert.equal(events(r.history(), 'ChainedInvokeStarted').length, 2);
});

test('promise.all / allSettled / any / race over durable promises', async () => {
  const h = withDurableExecution(async (event, ctx) => {
    const all = await ctx.promise.all('all', [ctx.step(async () => 1), ctx.step(async () => 2)]);
    const settled = await ctx.promise.allSettled([ctx.step(async () => 'y'),
      ctx.step(async () => { throw new Error('n'); }, { retryStrategy: retryPresets.noRetry })]);
    const any = await ctx.promise.any([ctx.step(async () => { throw new Error('z'); }, { retryStrategy: retryPresets.noRetry }),
      ctx.step(async () => 'first ok')]);
    const race = await ctx.promise.race('race', [ctx.step(async () => 'r')]);
    return { all, settled: settled.map((s) => s.status), any, race };
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.deepEqual(r.result, { all: [1, 2], settled: ['fulfilled', 'rejected'], any: 'first ok', race: 'r' });
});

test('withRetry retries a group of operations with backoff waits', async () => {
  let tries = 0;
  const h = withDurableExecution(async (event, ctx) => withRetry(ctx, 'group', async (c, attempt) => {
    const v = await c.step(async () => { tries++; return attempt; });
    if (v < 2) throw new Error('again');
    return v;
  }, { retryStrategy: fast }));
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.result, 2);
  assert.ok(events(r.history(), 'WaitStarted').some((e) => e.Name === 'group-backoff-1'));
});

test('custom serdes: createClassSerdes restores the class', async () => {
  class Point { constructor() { this.x = 0; } norm() { return Math.abs(this.x); } }
  const h = withDurableExecution(async (event, ctx) => {
    const p = await ctx.step('p', async () => Object.assign(new Point(), { x: -3 }), { serdes: createClassSerdes(Point) });
    return { isPoint: p instanceof Point, norm: p.norm() };
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.deepEqual(r.result, { isPoint: true, norm: 3 });
});

test('a plain handler is served as a non-durable function', async () => {
  const r = await execute({ plain: async (event) => ({ got: event }) }, 'plain', 5);
  assert.deepEqual(r.result, { got: 5 });
});

test('an uncaught error fails the execution with its type and message', async () => {
  const h = withDurableExecution(async () => { throw new RangeError('out of range'); });
  const r = await execute({ fn: h }, 'fn', null);
  assert.equal(r.description.Status, 'FAILED');
  assert.equal(r.description.Error.ErrorType, 'RangeError');
  assert.equal(r.description.Error.ErrorMessage, 'out of range');
});

test('callback timeout throws CallbackTimeoutError; an exhausted wait strategy throws WaitForConditionError', async () => {
  const { CallbackTimeoutError, WaitForConditionError } = perdure;
  const h = withDurableExecution(async (event, ctx) => {
    const out = {};
    const [p] = await ctx.createCallback('late', { timeout: { seconds: 1 } });
    try { await p; } catch (e) { out.timeout = [e instanceof CallbackTimeoutError, e.constructor.name]; }
    try {
      await ctx.waitForCondition('never', async (s) => s + 1, {
        initialState: 0,
        waitStrategy: createWaitStrategy({ shouldContinuePolling: () => true, maxAttempts: 2, initialDelay: { seconds: 1 } }),
      });
    } catch (e) {
      out.condition = [e instanceof WaitForConditionError, e.message];
    }
    return out;
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.deepEqual(r.result.timeout, [true, 'CallbackTimeoutError']);
  assert.equal(r.result.condition[0], true);
  assert.match(r.result.condition[1], /exceeded maximum attempts \(2\)/);
});

test('undefined step results, unawaited operations and concurrent root operations', async () => {
  const h = withDurableExecution(async (event, ctx) => {
    const u = await ctx.step('nothing', async () => undefined);
    const a = ctx.step('a', async () => { await new Promise((r) => setTimeout(r, 20)); return 'a'; });
    const b = ctx.step('b', async () => 'b');
    const both = [await a, await b];
    ctx.wait('never-awaited', { seconds: 30 });   // started, not awaited: the handler still returns
    return { u: u === undefined, both };
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.deepEqual(r.result, { u: true, both: ['a', 'b'] });
  const names = r.history().filter((e) => e.EventType === 'StepStarted').map((e) => e.Name);
  assert.deepEqual(names.slice(0, 3), ['nothing', 'a', 'b']);   // ids follow the call order
});

test('a map result over 256 KiB records the summary envelope (ReplayChildren) and replays from the items', async () => {
  let runs = 0;
  const h = withDurableExecution(async (event, ctx) => {
    const big = await ctx.map('big', [0, 1, 2], async (c, i) => c.step(async () => { runs++; return String(i).repeat(100 * 1024); }));
    await ctx.wait({ seconds: 1 });
    return big.getResults().map((s) => s.length);
  });
  const r = await execute({ fn: h }, 'fn', null);
  assert.deepEqual(r.result, [102400, 102400, 102400]);
  assert.equal(runs, 3);   // the replay re-ran the items over their records, not their steps
  const done = r.history().find((e) => e.EventType === 'ContextSucceeded' && e.Name === 'big');
  const summary = JSON.parse(done.ContextSucceededDetails.Result.Payload);
  assert.equal(summary.type, 'MapResult');
  assert.equal(summary.successCount, 3);
  assert.deepEqual(summary.startedIndexes, []);
});

test('a Store shared with a running worker serves start/describe/list while the worker waits for a lease', async () => {
  const p = path.join(tmpDir(), 'store.db');
  const store = new perdure.Store(p);
  const started = perdure.startWorker({
    store, functions: { inc: perdure.withDurableExecution(async (e, ctx) => ctx.step('inc', async () => e.x + 1)) },
    pollMs: 1000,
  });
  try {
    await new Promise((r) => setTimeout(r, 100));   // the worker is inside its lease wait now
    const arn = store.start('inc', { x: 41 });
    assert.equal(store.describe(arn).FunctionArn.endsWith('function:inc:$LATEST'), true);
    const end = await store.waitForEnd(arn, { timeoutMs: 20000 });
    assert.equal(end.Status, 'SUCCEEDED');
    assert.equal(JSON.parse(end.Result), 42);
    assert.deepEqual(store.list().map((e) => e.Status), ['SUCCEEDED']);
  } finally {
    await started.stop();
    store.close();
  }
});

test('strategies round a delay to the nearest second, as the JS SDK (Python rounds up)', () => {
  const none = perdure.JitterStrategy.NONE;
  const retry = perdure.createRetryStrategy({ initialDelay: { seconds: 1 }, backoffRate: 1.4, jitter: none, maxAttempts: 5 });
  // 1, 1.4, 1.96, 2.744 s
  assert.deepEqual([1, 2, 3, 4].map((n) => retry(new Error('x'), n).delay.seconds), [1, 1, 2, 3]);
  const wait = perdure.createWaitStrategy({ shouldContinuePolling: () => true, jitter: none });
  // 5, 7.5, 11.25, 16.875 s: halves go up, as Math.round
  assert.deepEqual([1, 2, 3, 4].map((n) => wait(0, n).delay.seconds), [5, 8, 11, 17]);
});

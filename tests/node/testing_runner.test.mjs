// perdure/testing: the official testing package's LocalDurableTestRunner on a
// Perdure store file, with time skipping on the store's virtual clock.
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { REPO } from './helpers.mjs';
import {
  LocalDurableTestRunner, WaitingOperationStatus, OperationStatus, OperationType, ExecutionStatus, InvocationType,
} from '../../bindings/node/testing.mjs';
import {
  withDurableExecution, createRetryStrategy, createWaitStrategy, JitterStrategy, Store,
} from '../../bindings/node/index.mjs';

const require = createRequire(import.meta.url);
const YEAR_S = 365 * 24 * 3600;
// Generous: these runs take tens of milliseconds, but the machine is shared.
const SKIPPED_MS = 5000;
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

function elapsedSince(t0) {
  return Date.now() - t0;
}

/** The runner's store file, opened on its own: the execution is really there. */
function openStoreOf(runner) {
  return new Store(runner._session.control.path);
}

describe('LocalDurableTestRunner: results and operations', () => {
  before(() => LocalDurableTestRunner.setupTestEnvironment({ skipTime: true }));
  after(() => LocalDurableTestRunner.teardownTestEnvironment());

  const handler = withDurableExecution(async (event, ctx) => {
    const user = await ctx.step('fetch', async () => ({ id: event.userId, name: 'Ada' }));
    const total = await ctx.runInChildContext('billing', async (child) => {
      const a = await child.step('price', async () => 40);
      const b = await child.step('tax', async () => 2);
      return a + b;
    });
    await ctx.step('fetch', async () => 'again');
    return { user, total };
  });

  it('run({payload}) resolves with status, result, operations, history and invocations', async (t) => {
    const runner = new LocalDurableTestRunner({ handlerFunction: handler });
    const execution = await runner.run({ payload: { userId: 7 } });

    assert.equal(execution.getStatus(), ExecutionStatus.SUCCEEDED);
    assert.deepEqual(execution.getResult(), { user: { id: 7, name: 'Ada' }, total: 42 });
    assert.throws(() => execution.getError(), /Cannot get error for succeeded execution/);

    const ops = execution.getOperations();
    assert.deepEqual(ops.map((op) => op.getName()), ['fetch', 'billing', 'price', 'tax', 'fetch']);
    assert.deepEqual(ops.map((op) => op.getType()),
      [OperationType.STEP, OperationType.CONTEXT, OperationType.STEP, OperationType.STEP, OperationType.STEP]);
    assert.equal(execution.getOperations({ status: OperationStatus.SUCCEEDED }).length, 5);
    assert.equal(execution.getOperations({ status: OperationStatus.FAILED }).length, 0);

    const events = execution.getHistoryEvents();
    assert.equal(events[0].EventType, 'ExecutionStarted');
    assert.equal(events.at(-1).EventType, 'ExecutionSucceeded');
    assert.ok(events.every((e) => e.EventTimestamp instanceof Date));
    const invocations = execution.getInvocations();
    assert.ok(invocations.length >= 1);
    assert.ok(invocations[0].startTimestamp instanceof Date);
    assert.equal(typeof invocations[0].requestId, 'string');
    assert.equal(invocations[0].error, undefined);

    // The same execution, read from the store file by another handle.
    const store = openStoreOf(runner);
    try {
      const [{ DurableExecutionArn: arn }] = store.list({ status: 'SUCCEEDED' });
      assert.deepEqual(JSON.parse(store.describe(arn).Result), execution.getResult());
      assert.equal(store.operations(arn).length, 6);   // + the EXECUTION
    } finally {
      store.close();
    }

    const table = t.mock.method(console, 'table', () => {});
    execution.print({ startTime: false, endTime: false });
    assert.equal(table.mock.calls.length, 1);
    const rows = table.mock.calls[0].arguments[0];
    assert.deepEqual(rows[1], {
      parentId: '-', name: 'billing', type: 'CONTEXT', subType: 'RunInChildContext', status: 'SUCCEEDED',
      duration: rows[1].duration,
    });
  });

  it('getOperation, getOperationByIndex, getOperationByNameAndIndex, getOperationById and their accessors', async () => {
    const runner = new LocalDurableTestRunner({ handlerFunction: handler });
    const fetch = runner.getOperation('fetch');            // before the run: filled in as it runs
    assert.equal(fetch.getStepDetails(), undefined);
    assert.equal(fetch.getId(), undefined);
    const execution = await runner.run({ payload: { userId: 1 } });

    const details = fetch.getStepDetails();
    assert.deepEqual(details.result, { id: 1, name: 'Ada' });
    assert.equal(details.attempt, 1);
    assert.equal(details.error, undefined);
    assert.equal(fetch.getStatus(), OperationStatus.SUCCEEDED);
    assert.equal(fetch.getSubType(), 'Step');
    assert.ok(fetch.getStartTimestamp() instanceof Date && fetch.getEndTimestamp() instanceof Date);
    assert.deepEqual(fetch.getEvents().map((e) => e.EventType), ['StepStarted', 'StepSucceeded']);
    assert.equal(fetch.getOperationData().Id, fetch.getId());
    assert.equal(fetch.isCallback(), false);
    assert.equal(fetch.isWaitForCallback(), false);
    assert.throws(() => fetch.getWaitDetails(), /Operation type STEP is not WAIT/);
    assert.throws(() => fetch.getCallbackDetails(), /is not a valid callback/);

    assert.equal(runner.getOperation('fetch', 1).getStepDetails().result, 'again');
    assert.equal(runner.getOperationByNameAndIndex('fetch', 1).getStepDetails().result, 'again');
    assert.equal(runner.getOperationByIndex(4).getStepDetails().result, 'again');

    const billing = runner.getOperationByIndex(1);
    assert.deepEqual(billing.getContextDetails(), { result: 42, error: undefined });
    const children = billing.getChildOperations();
    assert.deepEqual(children.map((c) => [c.getName(), c.getParentId()]),
      [['price', billing.getId()], ['tax', billing.getId()]]);
    assert.equal(runner.getOperationById(children[1].getId()).getStepDetails().result, 2);
    assert.equal(await children[0].waitForData(WaitingOperationStatus.COMPLETED), children[0]);
    assert.deepEqual(execution.getOperations()[1].getContextDetails(), billing.getContextDetails());
  });

  it('waitForData resolves while the execution runs, and rejects when what it waits for never comes', async () => {
    let release;
    const gate = new Promise((resolve) => { release = resolve; });
    const runner = new LocalDurableTestRunner({
      handlerFunction: withDurableExecution(async (event, ctx) => {
        await ctx.step('first', async () => 1);
        await ctx.step('blocked', async () => gate);   // runs until the test has seen 'first' done
        return 'ok';
      }),
    });
    const running = runner.run();
    const first = runner.getOperation('first');
    const never = runner.getOperation('never');
    const neverDone = never.waitForData();
    assert.equal(await first.waitForData(WaitingOperationStatus.COMPLETED), first);
    assert.equal(first.getStepDetails().result, 1);
    release('done');
    assert.equal((await running).getResult(), 'ok');
    await assert.rejects(neverDone, /Operation was not found after execution completion. Expected status: STARTED/);
  });

  it('reset() detaches the handles of earlier runs; registrations and the store stay', async () => {
    const runner = new LocalDurableTestRunner({
      handlerFunction: withDurableExecution(async (event, ctx) => ctx.step('echo', async () => event)),
    });
    const first = runner.getOperation('echo');
    await runner.run({ payload: 'one' });
    assert.equal(first.getStepDetails().result, 'one');
    runner.reset();
    const second = runner.getOperation('echo');
    assert.equal(second.getStepDetails(), undefined);
    const execution = await runner.run({ payload: 'two' });
    assert.equal(execution.getResult(), 'two');
    assert.equal(second.getStepDetails().result, 'two');
    assert.equal(first.getStepDetails().result, 'one');
  });
});

describe('LocalDurableTestRunner: time skipping', () => {
  before(() => LocalDurableTestRunner.setupTestEnvironment({ skipTime: true }));
  after(() => LocalDurableTestRunner.teardownTestEnvironment());

  it('a 1-year wait is skipped', async (t) => {
    const runner = new LocalDurableTestRunner({
      handlerFunction: withDurableExecution(async (event, ctx) => {
        await ctx.wait('a year', { days: 365 });
        return 'later';
      }),
    });
    const t0 = Date.now();
    const execution = await runner.run();
    const ms = elapsedSince(t0);
    t.diagnostic(`1-year wait: ${ms} ms`);
    assert.ok(ms < SKIPPED_MS, `took ${ms} ms`);
    assert.equal(execution.getResult(), 'later');
    const wait = runner.getOperation('a year');
    assert.equal(wait.getWaitDetails().waitSeconds, YEAR_S);
    assert.ok(wait.getWaitDetails().scheduledEndTimestamp instanceof Date);
    assert.ok(wait.getEndTimestamp() - wait.getStartTimestamp() >= YEAR_S * 1000);
  });

  it('step retry delays and waitForCondition delays are skipped', async (t) => {
    let calls = 0;
    const runner = new LocalDurableTestRunner({
      handlerFunction: withDurableExecution(async (event, ctx) => {
        const value = await ctx.step('flaky', async () => {
          calls += 1;
          if (calls < 3) throw new Error(`attempt ${calls} failed`);
          return calls;
        }, {
          retryStrategy: createRetryStrategy({
            maxAttempts: 5, initialDelay: { hours: 6 }, maxDelay: { hours: 6 }, jitter: JitterStrategy.NONE,
          }),
        });
        const polled = await ctx.waitForCondition('poll', async (state) => state + 1, {
          initialState: 0,
          waitStrategy: createWaitStrategy({
            shouldContinuePolling: (state) => state < 3,
            initialDelay: { hours: 12 },
            maxDelay: { hours: 12 },
            jitter: JitterStrategy.NONE,
          }),
        });
        return { value, polled };
      }),
    });
    const t0 = Date.now();
    const execution = await runner.run();
    const ms = elapsedSince(t0);
    t.diagnostic(`two 6-hour retries and two 12-hour polls: ${ms} ms`);
    assert.ok(ms < SKIPPED_MS, `took ${ms} ms`);
    assert.deepEqual(execution.getResult(), { value: 3, polled: 3 });
    const flaky = runner.getOperation('flaky');
    assert.equal(flaky.getStepDetails().attempt, 3);
    assert.ok(flaky.getEndTimestamp() - flaky.getStartTimestamp() >= 2 * 6 * 3600 * 1000);
    const poll = runner.getOperation('poll');
    assert.ok(poll.getEndTimestamp() - poll.getStartTimestamp() >= 2 * 12 * 3600 * 1000);
  });

  it('a callback timeout and a heartbeat timeout nobody answers are skipped', async (t) => {
    const runner = new LocalDurableTestRunner({
      handlerFunction: withDurableExecution(async (event, ctx) => {
        const [answer] = await ctx.createCallback('approval', event.heartbeat
          ? { timeout: { days: 30 }, heartbeatTimeout: { hours: 1 } }
          : { timeout: { days: 2 } });
        return answer;
      }),
    });
    for (const heartbeat of [false, true]) {
      runner.reset();
      const t0 = Date.now();
      const execution = await runner.run({ payload: { heartbeat } });
      const ms = elapsedSince(t0);
      t.diagnostic(`${heartbeat ? 'heartbeat' : 'callback'} timeout: ${ms} ms`);
      assert.ok(ms < SKIPPED_MS, `took ${ms} ms`);
      assert.equal(execution.getStatus(), ExecutionStatus.FAILED);
      assert.match(execution.getError().errorMessage, /timed out/i);
      const approval = runner.getOperation('approval');
      assert.equal(approval.getStatus(), OperationStatus.TIMED_OUT);
      assert.ok(approval.getCallbackDetails().error);
      const waited = approval.getEndTimestamp() - approval.getStartTimestamp();
      assert.ok(waited >= (heartbeat ? 3600 * 1000 : 2 * 86400 * 1000), `${waited} ms of virtual time`);
      assert.ok(!heartbeat || waited < 30 * 86400 * 1000);
    }
  });

  it('skipTime: false runs a wait in real time', async () => {
    await LocalDurableTestRunner.setupTestEnvironment({ skipTime: false });
    try {
      const runner = new LocalDurableTestRunner({
        handlerFunction: withDurableExecution(async (event, ctx) => {
          await ctx.wait('short', { seconds: 1 });
          return 'done';
        }),
      });
      const t0 = Date.now();
      const execution = await runner.run();
      assert.equal(execution.getResult(), 'done');
      assert.ok(elapsedSince(t0) >= 950, `took ${elapsedSince(t0)} ms`);
    } finally {
      await LocalDurableTestRunner.setupTestEnvironment({ skipTime: true });
    }
  });
});

describe('LocalDurableTestRunner: callbacks answered through operations', () => {
  before(() => LocalDurableTestRunner.setupTestEnvironment({ skipTime: true }));
  after(() => LocalDurableTestRunner.teardownTestEnvironment());

  it('waitForCallback: SUBMITTED, then sendCallbackSuccess', async () => {
    const submitted = [];
    const runner = new LocalDurableTestRunner({
      handlerFunction: withDurableExecution(async (event, ctx) => {
        const answer = await ctx.waitForCallback('approve', async (callbackId) => { submitted.push(callbackId); },
          { timeout: { days: 1 } });
        return { answer: JSON.parse(answer) };
      }),
    });
    const running = runner.run();
    const approve = runner.getOperation('approve');
    await approve.waitForData(WaitingOperationStatus.SUBMITTED);
    assert.equal(approve.isWaitForCallback(), true);
    const { callbackId } = approve.getCallbackDetails();
    assert.deepEqual(submitted, [callbackId]);
    // The test attends this callback: its 1-day timeout is not skipped while it answers.
    await sleep(300);
    assert.deepEqual(await approve.sendCallbackSuccess(JSON.stringify({ ok: true })), {});
    const execution = await running;
    assert.deepEqual(execution.getResult(), { answer: { ok: true } });
    assert.deepEqual(approve.getCallbackDetails().result, { ok: true });
    assert.equal(approve.getStatus(), OperationStatus.SUCCEEDED);
    await assert.rejects(approve.sendCallbackSuccess('again'), /CONFLICT|already|completed/i);
  });

  it('createCallback: STARTED, heartbeats, then sendCallbackFailure; the failure surfaces via getError', async () => {
    const runner = new LocalDurableTestRunner({
      handlerFunction: withDurableExecution(async (event, ctx) => {
        const [answer] = await ctx.createCallback('payment', { timeout: { days: 1 }, heartbeatTimeout: { seconds: 10 } });
        return answer;
      }),
    });
    const running = runner.run();
    const payment = runner.getOperation('payment');
    await payment.waitForData(WaitingOperationStatus.STARTED);
    assert.equal(payment.isCallback(), true);
    for (let i = 0; i < 3; i++) {
      await payment.sendCallbackHeartbeat();
      await sleep(300);   // attended: the heartbeat timeout runs in real time, not skipped
    }
    await payment.sendCallbackFailure({ ErrorType: 'CardDeclined', ErrorMessage: 'insufficient funds' });
    const execution = await running;
    assert.equal(execution.getStatus(), ExecutionStatus.FAILED);
    assert.equal(execution.getError().errorMessage, 'insufficient funds');
    assert.throws(() => execution.getResult(), /insufficient funds/);
    assert.equal(payment.getStatus(), OperationStatus.FAILED);
    assert.equal(payment.getCallbackDetails().error.errorType, 'CardDeclined');
  });

  it('a callback without a timeout waits for its answer', async () => {
    const runner = new LocalDurableTestRunner({
      handlerFunction: withDurableExecution(async (event, ctx) => {
        const [answer] = await ctx.createCallback('forever');
        await ctx.wait('then', { days: 10 });
        return answer;
      }),
    });
    const running = runner.run();
    const forever = runner.getOperationByIndex(0);
    await forever.waitForData();
    await sleep(200);
    assert.equal(forever.getStatus(), OperationStatus.STARTED);
    await forever.sendCallbackSuccess('yes');
    assert.equal((await running).getResult(), 'yes');
  });
});

describe('LocalDurableTestRunner: invoke', () => {
  before(() => LocalDurableTestRunner.setupTestEnvironment({ skipTime: true }));
  after(() => LocalDurableTestRunner.teardownTestEnvironment());

  const caller = withDurableExecution(async (event, ctx) => ctx.invoke('call', event.functionName, event.payload));
  const child = withDurableExecution(async (event, ctx) => {
    await ctx.wait('cool down', { days: 1 });
    return ctx.step('process', async () => `processed: ${event.data}`);
  });

  it('registerDurableFunction and registerFunction serve context.invoke targets', async () => {
    const runner = new LocalDurableTestRunner({ handlerFunction: caller });
    assert.equal(runner
      .registerDurableFunction('step-named:$LATEST', child)
      .registerFunction('non-durable', async (event) => ({ status: 200, body: JSON.stringify(event) }))
      .registerFunction('callback-style', (event, context, callback) => callback(null, `${context.functionName}!`)),
    runner);

    let execution = await runner.run({ payload: { functionName: 'step-named:$LATEST', payload: { data: 'x' } } });
    assert.equal(execution.getResult(), 'processed: x');
    const call = runner.getOperation('call');
    assert.equal(call.getType(), OperationType.CHAINED_INVOKE);
    assert.deepEqual(call.getChainedInvokeDetails(), { error: undefined, result: 'processed: x' });

    runner.reset();
    execution = await runner.run({ payload: { functionName: 'non-durable', payload: { a: 1 } } });
    assert.deepEqual(execution.getResult(), { status: 200, body: '{"a":1}' });

    runner.reset();
    execution = await runner.run({ payload: { functionName: 'callback-style' } });
    assert.equal(execution.getResult(), 'callback-style!');
  });

  it('a failing target fails the invoke; an unregistered one fails run()', async () => {
    const runner = new LocalDurableTestRunner({ handlerFunction: caller });
    runner.registerFunction('broken', async () => { throw new Error('This is a failure'); });
    const execution = await runner.run({ payload: { functionName: 'broken' } });
    assert.equal(execution.getStatus(), ExecutionStatus.FAILED);
    assert.equal(execution.getError().errorMessage, 'This is a failure');
    assert.equal(runner.getOperation('call').getChainedInvokeDetails().error.errorMessage, 'This is a failure');

    runner.reset();
    await assert.rejects(runner.run({ payload: { functionName: 'missing' } }),
      /No function found for function name missing/);
    // The runner goes on: the next run is not held up by the unserved target.
    runner.reset();
    runner.registerFunction('present', async () => 'here');
    assert.equal((await runner.run({ payload: { functionName: 'present' } })).getResult(), 'here');
  });
});

describe('LocalDurableTestRunner: failures', () => {
  before(() => LocalDurableTestRunner.setupTestEnvironment({ skipTime: true }));
  after(() => LocalDurableTestRunner.teardownTestEnvironment());

  it('a handler error and a step that exhausted its retries surface via getError', async () => {
    const runner = new LocalDurableTestRunner({
      handlerFunction: withDurableExecution(async (event, ctx) => {
        if (event.throwAtOnce) throw new TypeError('bad input');
        return ctx.step('always fails', async () => { throw new Error('nope'); },
          { retryStrategy: createRetryStrategy({ maxAttempts: 2, initialDelay: { hours: 1 } }) });
      }),
    });
    let execution = await runner.run({ payload: { throwAtOnce: true } });
    assert.equal(execution.getStatus(), ExecutionStatus.FAILED);
    const error = execution.getError();
    assert.equal(error.errorType, 'TypeError');
    assert.equal(error.errorMessage, 'bad input');
    assert.throws(() => execution.getResult(), (e) => e.message === 'bad input');

    runner.reset();
    execution = await runner.run({ payload: {} });
    assert.equal(execution.getStatus(), ExecutionStatus.FAILED);
    assert.match(execution.getError().errorMessage, /nope/);
    const step = runner.getOperation('always fails');
    assert.equal(step.getStatus(), OperationStatus.FAILED);
    assert.equal(step.getStepDetails().attempt, 2);
    assert.equal(step.getStepDetails().error.errorMessage, 'nope');
  });

  it('bad arguments are refused', () => {
    assert.throws(() => new LocalDurableTestRunner({}), TypeError);
    const runner = new LocalDurableTestRunner({ handlerFunction: withDurableExecution(async () => 1) });
    assert.throws(() => runner.registerDurableFunction('plain', async () => 1), /withDurableExecution/);
    assert.throws(() => runner.registerFunction('nothing', null), TypeError);
  });
});

describe('perdure/testing: entry points and environment', () => {
  it('ESM, CommonJS and the package export "./testing" agree', () => {
    const cjs = require('../../bindings/node/testing.js');
    assert.equal(cjs.LocalDurableTestRunner, LocalDurableTestRunner);
    assert.equal(cjs.WaitingOperationStatus.SUBMITTED, 'SUBMITTED');
    assert.equal(InvocationType.RequestResponse, 'RequestResponse');
    const pkgDir = path.join(REPO, 'bindings', 'node');
    const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
    const entry = pkg.exports['./testing'];
    for (const file of [entry.types, entry.import, entry.require]) {
      assert.ok(fs.existsSync(path.join(pkgDir, file)), file);
      assert.ok(pkg.files.includes(file.slice(2)), file);
    }
    // The package resolves itself by name from its own directory.
    const script = 'const c = require("perdure/testing"); import("perdure/testing").then((m) => '
      + 'process.stdout.write(String(m.LocalDurableTestRunner === c.LocalDurableTestRunner)))';
    const out = spawnSync(process.execPath, ['-e', script], { cwd: pkgDir, encoding: 'utf8' });
    assert.equal(out.stderr, '');
    assert.equal(out.stdout, 'true');
  });

  it('teardownTestEnvironment closes the stores and removes their files', async () => {
    await LocalDurableTestRunner.setupTestEnvironment({ skipTime: true });
    const runner = new LocalDurableTestRunner({ handlerFunction: withDurableExecution(async () => 'x') });
    assert.equal((await runner.run()).getResult(), 'x');
    const file = runner._session.control.path;
    assert.ok(fs.existsSync(file));
    await LocalDurableTestRunner.teardownTestEnvironment();
    assert.ok(!fs.existsSync(path.dirname(file)));
    // A runner runs again after a new setup (on a new store).
    await LocalDurableTestRunner.setupTestEnvironment({ skipTime: true });
    assert.equal((await runner.run()).getResult(), 'x');
    assert.notEqual(runner._session.control.path, file);
    await LocalDurableTestRunner.teardownTestEnvironment();
  });
});

// ---- official tests, ported verbatim but for the import ----------------------------------
// jest's globals in terms of node:test, for the code below.
const beforeAll = before;
const afterAll = after;
function expect(actual) {
  return {
    toBe: (expected) => assert.strictEqual(actual, expected),
    toEqual: (expected) => assert.deepStrictEqual(actual, expected),
    toHaveLength: (n) => assert.strictEqual(actual.length, n),
    toBeDefined: () => assert.notStrictEqual(actual, undefined),
  };
}

describe('ported: the README quick start of @aws/durable-execution-sdk-js-testing', () => {
  const fetchUserFromDB = async (userId) => ({ userId, name: 'user' });
  const processUser = async (user) => ({ ...user, processed: true });

  const handler = async (event, context) => {
    // Execute a durable step with automatic retry
    const userData = await context.step("fetch-user", async () =>
      fetchUserFromDB(event.userId),
    );

    // Wait for 5 seconds
    await context.wait({ seconds: 5 });

    // Process data in another step
    const result = await context.step("process-user", async () =>
      processUser(userData),
    );

    return result;
  };

  const lambdaHandler = withDurableExecution(handler);

  // ---- verbatim from here ----
  beforeAll(() =>
    LocalDurableTestRunner.setupTestEnvironment({
      skipTime: true,
    }),
  );

  afterAll(() => LocalDurableTestRunner.teardownTestEnvironment());

  describe("LocalDurableTestRunner", () => {
    let runner;

    beforeEach(() => {
      runner = new LocalDurableTestRunner({
        handlerFunction: lambdaHandler,
      });
    });

    it("should wait for 5 seconds and return result", async () => {
      const execution = await runner.run({ payload: { userId: "123" } });

      expect(execution.getStatus()).toBe("SUCCEEDED");
      expect(execution.getOperations()).toHaveLength(3); // fetch-user, wait, process-user

      // Check the fetch-user step
      const fetchStep = runner.getOperation("fetch-user");
      await fetchStep.waitForData(WaitingOperationStatus.COMPLETED);
      const fetchDetails = fetchStep.getStepDetails();
      expect(fetchDetails?.result).toBeDefined();

      // Check the wait operation
      const waitOp = runner.getOperationByIndex(1);
      const waitDetails = waitOp.getWaitDetails();
      expect(waitDetails?.waitSeconds).toBe(5);

      // Check the process-user step
      const processStep = runner.getOperation("process-user");
      await processStep.waitForData(WaitingOperationStatus.COMPLETED);
      const processDetails = processStep.getStepDetails();
      expect(processDetails?.result).toBeDefined();
    });
  });
});

describe('ported: the wait-for-callback example test of the official examples', () => {
  const mySubmitterFunction = async (callbackId) => {
    // In a real scenario, you would send the callbackId to an external system
  };
  const handler = withDurableExecution(
    async (event, context) => {
      const result = await context.waitForCallback(
        "my callback function",
        mySubmitterFunction,
        {
          timeout: { seconds: 5 },
        },
      );
      return result;
    },
  );
  let runner;
  before(() => LocalDurableTestRunner.setupTestEnvironment({ skipTime: true }));
  after(() => LocalDurableTestRunner.teardownTestEnvironment());
  beforeEach(() => {
    runner = new LocalDurableTestRunner({ handlerFunction: handler });
  });

  // ---- verbatim from here ----
    it("function completes when callback succeeds - happy case", async () => {
      const executionPromise = runner.run();

      const waitForCallbackOp = runner.getOperationByIndex(0);
      await waitForCallbackOp.waitForData(WaitingOperationStatus.STARTED);
      await waitForCallbackOp.sendCallbackSuccess("succeeded");

      const execution = await executionPromise;

      expect(execution.getResult()).toEqual("succeeded");
    });

    it("function completes when callback fails - happy case", async () => {
      const executionPromise = runner.run();

      const waitForCallbackOp = runner.getOperationByIndex(0);
      await waitForCallbackOp.waitForData(WaitingOperationStatus.STARTED);
      await waitForCallbackOp.sendCallbackFailure({ ErrorMessage: "ERROR" });

      const execution = await executionPromise;

      expect(execution.getError()).toBeDefined();
    });
});

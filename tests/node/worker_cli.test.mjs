// The worker CLI as real processes: logging, sharing a store with the Python
// worker, and SIGKILL crashes of the supervised child.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { perdure, tmpDir, REPO, WORKER_CLI } from './helpers.mjs';

const FIX = path.join(REPO, 'tests', 'node', 'fixtures');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function startCli(args, { env, stderrFile } = {}) {
  const out = stderrFile ? fs.openSync(stderrFile, 'w') : 'ignore';
  const child = spawn(process.execPath, [WORKER_CLI, ...args],
    { stdio: ['ignore', out, out], env: { ...process.env, ...env }, cwd: REPO });
  return child;
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
  await exited;
  clearTimeout(timer);
}

function childPids(pid) {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)]).toString().split('\n')
      .map((s) => Number(s.trim())).filter(Boolean);
  } catch {
    return [];
  }
}

test('--help, and usage errors exit 2', () => {
  assert.match(execFileSync(process.execPath, [WORKER_CLI, '--help']).toString(), /usage: perdure-worker/);
  let status;
  try { execFileSync(process.execPath, [WORKER_CLI, '--bogus'], { stdio: 'ignore' }); } catch (e) { status = e.status; }
  assert.equal(status, 2);
});

test('the context logger writes JSON lines with the execution ARN, once per execution (silent on replay)', async () => {
  const dir = tmpDir();
  const storePath = path.join(dir, 'store.db');
  const log = path.join(dir, 'worker.log');
  const store = new perdure.Store(storePath);
  const arn = store.start('logging', null);
  const child = startCli(['--store', storePath, `logging=${path.join(FIX, 'logging.mjs')}`], { stderrFile: log });
  try {
    const d = await store.waitForEnd(arn, { timeoutMs: 20000 });
    assert.equal(d.Status, 'SUCCEEDED');
  } finally {
    await stop(child);
  }
  const records = fs.readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l)).filter((r) => r.executionArn === arn);
  const count = (m) => records.filter((r) => r.message === m).length;
  assert.equal(count('before wait'), 1);
  assert.equal(count('in step'), 1);
  assert.equal(count('after wait'), 0);   // an object message: see below
  const after = records.filter((r) => typeof r.message === 'string' && r.message.startsWith('after wait'));
  assert.equal(after.length, 1);
  for (const r of records) {
    assert.equal(r.durableExecutionArn, arn);
    assert.ok(r.timestamp && r.level);
  }
  const inStep = records.find((r) => r.message === 'in step');
  assert.equal(inStep.level, 'WARN');
  assert.equal(inStep.operationName, 's');
  assert.equal(inStep.attempt, 1);
  assert.ok(inStep.operationId);
  assert.equal(store.history(arn).filter((e) => e.EventType === 'InvocationCompleted').length, 2);
});

const PYTHON = path.join(REPO, '.venv', 'bin', 'python');

test('Node and Python workers share one store file, each serving its own functions',
  { skip: !fs.existsSync(PYTHON) && 'no .venv with the Python SDK' }, async () => {
    const dir = tmpDir();
    const storePath = path.join(dir, 'store.db');
    const store = new perdure.Store(storePath);
    const node = startCli(['--store', storePath, `calls_python=${path.join(FIX, 'calls_python.mjs')}`],
      { stderrFile: path.join(dir, 'node.log') });
    const pyOut = fs.openSync(path.join(dir, 'py.log'), 'w');
    const py = spawn(PYTHON, ['-m', 'perdure', 'worker', '--store', storePath, `py_double=${path.join(FIX, 'py_double.py')}:handler`],
      { stdio: ['ignore', pyOut, pyOut], cwd: REPO });
    try {
      const a = store.start('calls_python', { n: 21 });
      const b = store.start('py_double', { n: 5 });
      const da = await store.waitForEnd(a, { timeoutMs: 30000 });
      const db = await store.waitForEnd(b, { timeoutMs: 30000 });
      assert.equal(da.Status, 'SUCCEEDED', JSON.stringify(da.Error));
      assert.deepEqual(JSON.parse(da.Result), { fromPython: { doubled: 42 }, mine: 'node saw {"doubled":42}' });
      assert.deepEqual(JSON.parse(db.Result), { doubled: 10 });
    } finally {
      await stop(node);
      await stop(py);
    }
  });

test('SIGKILL of the worker at random moments: every execution succeeds, no committed step runs again', async () => {
  const dir = tmpDir();
  const storePath = path.join(dir, 'store.db');
  const store = new perdure.Store(storePath);
  const logs = [0, 1, 2].map((i) => path.join(dir, `steps-${i}.log`));
  const arns = logs.map((log) => store.start('wf', { log }));
  const sup = startCli(['--store', storePath, `wf=${path.join(FIX, 'crash_workflow.mjs')}`],
    { stderrFile: path.join(dir, 'worker.log') });
  let kills = 0;
  try {
    for (let round = 0; round < 30 && kills < 6; round++) {
      await sleep(150 + Math.floor(Math.random() * 250));
      if (arns.every((a) => store.describe(a).Status !== 'RUNNING')) break;
      const [pid] = childPids(sup.pid);
      if (!pid) continue;
      process.kill(pid, 'SIGKILL');
      kills++;
    }
    for (const arn of arns) {
      const d = await store.waitForEnd(arn, { timeoutMs: 60000 });
      assert.equal(d.Status, 'SUCCEEDED', JSON.stringify(d.Error));
      assert.equal(JSON.parse(d.Result), 66);
      const hist = store.history(arn);
      const succeeded = hist.filter((e) => e.EventType === 'StepSucceeded').map((e) => e.Name);
      assert.equal(succeeded.length, 12);
      assert.equal(new Set(succeeded).size, 12);
    }
  } finally {
    await stop(sup);
  }
  assert.ok(kills >= 1, 'the worker was never killed');
  const workerLog = fs.readFileSync(path.join(dir, 'worker.log'), 'utf8');
  assert.match(workerLog, /exited with signal SIGKILL; released \d+ lease\(s\), restarting/);
  for (const log of logs) {
    const ran = fs.readFileSync(log, 'utf8').trim().split('\n').map(Number);
    // A body re-runs only for the step that was running when the worker died:
    // the log never goes back to an earlier step (a committed step never runs again).
    for (let i = 1; i < ran.length; i++) assert.ok(ran[i] >= ran[i - 1], `step ${ran[i]} ran after ${ran[i - 1]}: ${ran}`);
    assert.deepEqual([...new Set(ran)], [...Array(12).keys()]);
  }
});

test('an at-most-once step interrupted by process.exit is not re-run in its attempt: StepInterruptedError, then a retry', async () => {
  const dir = tmpDir();
  const storePath = path.join(dir, 'store.db');
  const store = new perdure.Store(storePath);
  const log = path.join(dir, 'attempts.log');
  const arn = store.start('interrupted', { log });
  const sup = startCli(['--store', storePath, `interrupted=${path.join(FIX, 'interrupted.mjs')}`],
    { stderrFile: path.join(dir, 'worker.log') });
  try {
    const d = await store.waitForEnd(arn, { timeoutMs: 30000 });
    assert.equal(d.Status, 'SUCCEEDED', JSON.stringify(d.Error));
    assert.deepEqual(JSON.parse(d.Result), { value: 'charged on attempt 2' });
  } finally {
    await stop(sup);
  }
  assert.equal(fs.readFileSync(log, 'utf8'), 'attempt 1\nstrategy StepInterruptedError 1\nattempt 2\n');
  const hist = store.history(arn);
  const crash = hist.find((e) => e.EventType === 'InvocationCompleted' && e.InvocationCompletedDetails.Error);
  assert.equal(crash.InvocationCompletedDetails.Error.Payload.ErrorType, 'Runtime.ExitError');
  assert.equal(hist.filter((e) => e.EventType === 'StepFailed').length, 1);
  assert.match(fs.readFileSync(path.join(dir, 'worker.log'), 'utf8'), /exited with status 3; released 1 lease/);
});

test('a child whose supervisor is killed stops serving instead of running unsupervised', async () => {
  const dir = tmpDir();
  const supervisor = startCli(['--store', path.join(dir, 'store.db'), `logging=${path.join(FIX, 'logging.mjs')}`],
    { stderrFile: path.join(dir, 'worker.log') });
  let children = [];
  const deadline = Date.now() + 20000;
  while (!(children = childPids(supervisor.pid)).length) {
    assert.ok(Date.now() < deadline, 'no supervised child');
    await sleep(50);
  }
  const exited = new Promise((r) => supervisor.on('exit', r));
  supervisor.kill('SIGKILL');
  await exited;
  const alive = (pid) => {
    try {
      const state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop().split(' ')[0];
      return state !== 'Z' && state !== 'X';
    } catch {
      return false;
    }
  };
  const until = Date.now() + 10000;
  while (alive(children[0]) && Date.now() < until) await sleep(50);
  const orphan = alive(children[0]);
  if (orphan) process.kill(children[0], 'SIGKILL');
  assert.ok(!orphan, `the orphaned child ${children[0]} still serves`);
});

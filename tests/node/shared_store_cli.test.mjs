// One store file, a Python worker and a Node worker, and nothing but the
// `perdure` CLI to start, list, show and answer both executions.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { tmpDir, REPO, CLI, WORKER_CLI } from './helpers.mjs';

const FIX = path.join(REPO, 'tests', 'node', 'fixtures');
const PYTHON = path.join(REPO, '.venv', 'bin', 'python');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function stopAll(children) {
  return Promise.all(children.map((child) => {
    if (child.exitCode !== null || child.signalCode !== null) return null;
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
    return exited.then(() => clearTimeout(timer));
  }));
}

test('Python- and Node-started executions on one store are listed, shown and answered by the same CLI',
  { skip: !fs.existsSync(PYTHON) && 'no .venv with the Python SDK' }, async () => {
    const dir = tmpDir();
    const store = path.join(dir, 'store.db');
    const cli = (...args) => execFileSync(CLI, ['--store', store, ...args]).toString();
    const log = fs.openSync(path.join(dir, 'workers.log'), 'w');
    const workers = [
      spawn(process.execPath, [WORKER_CLI, '--store', store, `node_approval=${path.join(FIX, 'node_approval.mjs')}`],
        { stdio: ['ignore', log, log], cwd: REPO }),
      spawn(PYTHON, ['-m', 'perdure', 'worker', '--store', store, `py_approval=${path.join(FIX, 'py_approval.py')}:handler`],
        { stdio: ['ignore', log, log], cwd: REPO }),
    ];
    try {
      cli('start', 'node_approval', '--name', 'from-node', '--input', '{"order": 1}');
      cli('start', 'py_approval', '--name', 'from-python', '--input', '{"order": 2}');

      // Both suspend on their callback: RUNNING, the callback STARTED.
      const open = (name) => cli('show', name).includes('CALLBACK/Callback  STARTED');
      const deadline = Date.now() + 30000;
      while (!(open('from-node') && open('from-python'))) {
        if (Date.now() > deadline) assert.fail(`not suspended:\n${cli('show', 'from-node')}\n${cli('show', 'from-python')}\n`
          + fs.readFileSync(path.join(dir, 'workers.log'), 'utf8'));
        await sleep(100);
      }
      const listed = JSON.parse(cli('--json', 'list')).DurableExecutions;
      assert.deepEqual(listed.map((e) => [e.DurableExecutionName, e.Status]).sort(),
        [['from-node', 'RUNNING'], ['from-python', 'RUNNING']]);

      // Both SDKs hand a callback's raw body to the code by default.
      cli('callback', 'succeed', '--execution', 'from-node', 'approval', 'yes');
      cli('callback', 'succeed', '--execution', 'from-python', 'approval', 'also yes');
      for (;;) {
        const statuses = JSON.parse(cli('--json', 'list')).DurableExecutions.map((e) => e.Status);
        if (statuses.every((s) => s !== 'RUNNING')) break;
        if (Date.now() > deadline + 30000) assert.fail(`not finished: ${statuses}`);
        await sleep(100);
      }
      const result = (name) => JSON.parse(JSON.parse(cli("--json", "show", name)).Execution.Result);
      assert.deepEqual(result('from-node'), { lang: 'node', order: 1, decision: 'yes' });
      assert.deepEqual(result('from-python'), { lang: 'python', order: 2, decision: 'also yes' });
      assert.match(cli('history', 'from-python'), /CallbackSucceeded\s+approval/);
      assert.match(cli('history', 'from-node'), /CallbackSucceeded\s+approval/);
    } finally {
      await stopAll(workers);
    }
  });

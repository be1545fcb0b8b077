// Shared helpers of the Node SDK tests: real store files in a temp dir, a
// worker serving functions in this process, the execution driven to its end.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const perdure = require('../../bindings/node/index.js');
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = path.join(REPO, 'build', 'perdure');
export const WORKER_CLI = path.join(REPO, 'bindings', 'node', 'bin', 'perdure-worker.mjs');

export function tmpDir(prefix = 'perdure-node-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function tmpStorePath() {
  return path.join(tmpDir(), 'store.db');
}

/**
 * Serves `functions` from a fresh store file, starts `fn` with `input`, and
 * waits for the end. Returns {description, store, arn, path, history()}.
 * `during(store, arn)` runs while the execution runs (answers callbacks).
 */
export async function execute(functions, fn, input, { during, timeoutMs = 30000, storePath } = {}) {
  const p = storePath || tmpStorePath();
  const store = new perdure.Store(p);
  const worker = perdure.startWorker({ store: p, functions, pollMs: 100 });
  try {
    const arn = store.start(fn, input);
    const ended = store.waitForEnd(arn, { timeoutMs });
    if (during) await during(store, arn);
    const description = await ended;
    return {
      description, store, arn, path: p,
      result: description.Result ? JSON.parse(description.Result) : undefined,
      history: () => store.history(arn),
      operations: () => store.operations(arn),
    };
  } finally {
    await worker.stop();
  }
}

/** Polls until an operation of `arn` matches `pred`; returns it. */
export async function waitForOperation(store, arn, pred, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const op = store.operations(arn).find(pred);
    if (op) return op;
    if (Date.now() > deadline) throw new Error('operation not found in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function events(history, type) {
  return history.filter((e) => e.EventType === type);
}

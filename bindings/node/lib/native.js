'use strict';
/**
 * The addon perdure.node (src/addon.c), loaded once. Every function of it
 * wraps one C function of libperdure; `native.wraps` maps each JS name to the C
 * name. Where it comes from, first match wins:
 *   - $PERDURE_NODE_ADDON (a development build);
 *   - in a source checkout, the repository's meson build
 *     (build/bindings/node/perdure.node);
 *   - the copy installed into this package by `npm install` (./perdure.node,
 *     with libperdure.so.0 beside it, found through the addon's $ORIGIN rpath).
 */
const fs = require('node:fs');
const path = require('node:path');

const HERE = path.resolve(__dirname, '..');

function repositoryRoot() {
  let dir = HERE;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'ffi', 'include', 'perdure.h'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

function locate() {
  if (process.env.PERDURE_NODE_ADDON) return process.env.PERDURE_NODE_ADDON;
  // In a source checkout the meson build is the fresh one; an installed copy
  // there may be stale, so it only comes second.
  const installed = path.join(HERE, 'perdure.node');
  const root = repositoryRoot();
  const built = root && path.join(root, 'build', 'bindings', 'node', 'perdure.node');
  if (built && fs.existsSync(built)) return built;
  if (fs.existsSync(installed)) return installed;
  throw new Error('perdure: the addon perdure.node is not built: run `npm install` in bindings/node, or ' +
    '`meson setup build && ninja -C build` at the repository root (or set PERDURE_NODE_ADDON)');
}

const ADDON_PATH = locate();
// eslint-disable-next-line import/no-dynamic-require
const native = require(ADDON_PATH);

// Values of perdure.h's enums and #defines used by the JS side.
const C = Object.freeze({
  ROOT: 0,
  WIRE_JSON: 0, WIRE_MSGPACK: 1,
  IDS_BLAKE2B: 0, IDS_MD5_PATH: 1,
  OK: 0, E_MISUSE: -1, E_INVALID: -2, E_DECODE: -3, E_TOO_LARGE: -4, E_NONDETERMINISM: -5, E_NOMEM: -6,
  E_PROTOCOL: -7, E_ORPHANED: -8, E_INTERNAL: -9, E_NOT_FOUND: -10, E_CONFLICT: -11, E_BUSY: -12, E_STORE: -13,
  NEXT_CHECKPOINT: 1, NEXT_EXECUTE: 2, NEXT_RESULT: 3, NEXT_ERROR: 4, NEXT_SUSPEND: 5, NEXT_INTERRUPTED: 6,
  AT_LEAST_ONCE_PER_RETRY: 0, AT_MOST_ONCE_PER_RETRY: 1,
  JITTER_FULL: 0, JITTER_NONE: 1, JITTER_HALF: 2,
  ROUND_UP: 0, ROUND_NEAREST: 1,
  BACKOFF_EXPONENTIAL: 0, BACKOFF_LINEAR: 1,
  RETRY_DEFAULT: 0, RETRY_CONFIG_DEFAULTS: 1, RETRY_NONE: 2, RETRY_LINEAR: 6,
  ERRK_STEP: 1, ERRK_STEP_INTERRUPTED: 2, ERRK_CALLBACK_FAILED: 3, ERRK_CALLBACK_TIMEOUT: 4,
  ERRK_CALLBACK_SUBMITTER: 5, ERRK_CHILD: 6, ERRK_INVOKE: 7, ERRK_WAIT_FOR_CONDITION: 8,
  NESTING_NESTED: 0, NESTING_FLAT: 1,
  BATCH_MAP: 0, BATCH_PARALLEL: 1,
  BATCH_RUN_ITEM: 1, BATCH_WAIT: 2, BATCH_DONE: 3, BATCH_SUSPEND: 4,
  COMPLETION_NONE: 0, COMPLETION_ALL_COMPLETED: 1, COMPLETION_MIN_SUCCESSFUL_REACHED: 2,
  COMPLETION_FAILURE_TOLERANCE_EXCEEDED: 3,
  STATUS_ABSENT: 0, STATUS_STARTED: 1, STATUS_PENDING: 2, STATUS_READY: 3, STATUS_SUCCEEDED: 4, STATUS_FAILED: 5,
  OUTCOME_SUCCEEDED: 0, OUTCOME_FAILED: 1, OUTCOME_PENDING: 2,
  REPLAY_CHILDREN_THRESHOLD: 262144,
});

module.exports = { native, C, ADDON_PATH };

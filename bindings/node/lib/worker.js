'use strict';
/**
 * Serving durable functions from the embedded store.
 *
 * A Worker leases ready executions of the functions it serves
 * (perdure_store_lease_wait, off the event loop: it sleeps without using CPU
 * until something may be ready), runs one invocation each through the replay
 * VM, with perdure_lease_checkpoint as the transport, and hands the output back
 * (perdure_lease_complete; perdure_lease_abandon when the invocation could not
 * finish, which records a crash and re-runs it from its last checkpoint).
 */
const os = require('node:os');
const { native, C } = require('./native');
const { Store } = require('./store');
const { runInvocation } = require('./execution');
const { UnrecoverableInvocationError } = require('./errors');

const LATEST = '$LATEST';

function splitName(key) {
  const at = key.indexOf('@');
  return at < 0 ? [key, LATEST] : [key.slice(0, at), key.slice(at + 1) || LATEST];
}

class Worker {
  /**
   * @param {Record<string, Function>} functions {"name" or "name@version": handler}
   * @param {string|Store} [store] a path (default $PERDURE_STORE, else ./perdure.db) or an open Store
   * @param {{workerId?: string, leaseMs?: number}} [options]
   */
  constructor(functions, store, { workerId, leaseMs = 0 } = {}) {
    const entries = Object.entries(functions || {});
    if (!entries.length) throw new Error('a Worker needs at least one function');
    this.ownStore = !(store instanceof Store);
    this.store = store instanceof Store ? store : new Store(store, { leaseMs });
    this.workerId = workerId || `${os.hostname()}:${process.pid}`;
    this.handlers = new Map();
    this.refs = [];
    for (const [key, handler] of entries) {
      if (typeof handler !== 'function') throw new TypeError(`function ${key} is not a function`);
      const [name, version] = splitName(key);
      this.handlers.set(name, handler);
      this.refs.push({ name, version });
    }
    this.stopped = false;
  }

  close() {
    if (this.ownStore) this.store.close();
  }

  stop() { this.stopped = true; }

  /** Runs one invocation if one is ready within maxWaitMs; true if it did. */
  async runOne(maxWaitMs = 0) {
    const store = this.store;
    const lease = await store.exclusive((h) => native.storeLeaseWait(h, this.refs, this.workerId, maxWaitMs));   // perdure_store_lease_wait
    if (!lease) return false;
    const fn = this.handlers.get(native.leaseFunction(lease));          // perdure_lease_function
    const payload = native.leaseInput(lease);                            // perdure_lease_input
    // perdure_lease_checkpoint: off the event loop, as it commits and syncs a
    // file; an in-memory store's is cheaper than the trip to the libuv pool.
    const checkpoint = store.path === ':memory:' ? native.leaseCheckpointSync : native.leaseCheckpoint;
    const transport = (request) => store.exclusive(() => checkpoint(lease, request));
    let output;
    try {
      output = await runInvocation(fn, payload, { wire: C.WIRE_MSGPACK, transport, clock: () => store.now() });
    } catch (e) {
      // The service re-invokes from the last checkpoint.
      await store.exclusive(() => native.leaseAbandon(lease, `${e && e.name}: ${e && e.message}`));   // perdure_lease_abandon
      if (!(e instanceof UnrecoverableInvocationError)) throw e;
      return true;
    }
    await store.exclusive(() => {
      try {
        native.leaseComplete(lease, output);                             // perdure_lease_complete
      } catch (e) {
        if (e.status !== C.E_CONFLICT) throw e;   // CONFLICT: the lease expired and was taken over
      }
    });
    return true;
  }

  /** Runs invocations until stop() is called. */
  async serveForever(pollMs = 500) {
    while (!this.stopped) {
      try {
        await this.runOne(pollMs);
      } catch (e) {
        process.stderr.write(`perdure worker ${this.workerId}: ${e && e.stack ? e.stack : e}\n`);
      }
    }
  }
}

/**
 * startWorker({store, functions, workerId?, leaseMs?, pollMs?}): serves the
 * functions in this process until stop() (which resolves once the current
 * invocation is done).
 */
function startWorker({ store, functions, workerId, leaseMs, pollMs = 200 } = {}) {
  const worker = new Worker(functions, store, { workerId, leaseMs });
  const done = worker.serveForever(pollMs).finally(() => worker.close());
  return {
    worker,
    workerId: worker.workerId,
    done,
    stop: () => { worker.stop(); return done; },
  };
}

class ExecutionFailedError extends Error {
  constructor(description) {
    const error = description.Error || {};
    super(`execution ${description.Status}: ${error.ErrorType || ''}: ${error.ErrorMessage || ''}`);
    this.name = 'ExecutionFailedError';
    this.description = description;
    this.status = description.Status;
    this.error = error;
  }
}

/**
 * Runs one execution of `handler` to its end in this process and returns its
 * result (throws ExecutionFailedError when it does not succeed). store: a
 * file (default ":memory:"); with a file, other processes can answer its
 * callbacks while it waits. Waits and retry delays take their real time.
 */
async function run(handler, input, { name, functionName, store } = {}) {
  const fnName = functionName || handler.name || 'handler';
  const st = new Store(store || ':memory:');
  const worker = new Worker({ [fnName]: handler }, st);
  try {
    const arn = st.start(fnName, input, { name });
    let d;
    while ((d = st.describe(arn)).Status === 'RUNNING') await worker.runOne(200);
    if (d.Status !== 'SUCCEEDED') throw new ExecutionFailedError(d);
    return d.Result === undefined || d.Result === null || d.Result === '' ? undefined : JSON.parse(d.Result);
  } finally {
    st.close();
  }
}

module.exports = { Worker, startWorker, run, ExecutionFailedError, splitName };

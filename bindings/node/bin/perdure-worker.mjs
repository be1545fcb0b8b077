#!/usr/bin/env node
/**
 * perdure-worker: serve Node.js durable functions from a store file.
 *
 *   node bin/perdure-worker.mjs [--store FILE] [--lease-ms MS] [--id ID] [--no-supervise]
 *                               [NAME[@VERSION]=]path/to/file.mjs[:export] ...
 *
 * `export` defaults to `handler` (then `default`); NAME defaults to the file's
 * base name. A handler made by withDurableExecution is durable; a plain
 * `handler(event, context)` is served as a non-durable function.
 *
 * The worker supervises itself, like `perdure worker` of the Python SDK: the
 * work runs in a child process, and when that process dies (a crash,
 * process.exit, SIGKILL) the supervisor declares it dead to the store
 * (perdure_store_release_worker: its leases are released at once, the
 * interrupted invocation is recorded as crashed and re-run from its last
 * checkpoint) and starts a new child. Python and Node workers can serve their
 * own functions from one store file.
 */
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const SELF = fileURLToPath(import.meta.url);
// Set by the supervisor in its child's environment: the pid to outlive.
const SUPERVISOR_PID = 'PERDURE_SUPERVISOR_PID';

const USAGE = `usage: perdure-worker [--store FILE] [--lease-ms MS] [--id ID] [--no-supervise] FUNCTION...

Serve Node.js durable functions from a store file.

  FUNCTION        [NAME[@VERSION]=]path/to/file.mjs[:export]  (export: handler, else default;
                  NAME: the file's base name)
  --store FILE    the store (default: $PERDURE_STORE, else ./perdure.db)
  --lease-ms MS   lease length (default 60000)
  --id ID         worker id (default host:pid)
  --no-supervise  run in this process; a crash then holds its leases until they expire
`;

function parseArgs(argv) {
  const args = { store: undefined, leaseMs: 0, id: undefined, supervise: true, functions: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '-h' || a === '--help') args.help = true;
    else if (a === '--store') args.store = value();
    else if (a.startsWith('--store=')) args.store = a.slice(8);
    else if (a === '--lease-ms') args.leaseMs = Number(value());
    else if (a === '--id') args.id = value();
    else if (a === '--no-supervise') args.supervise = false;
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else args.functions.push(a);
  }
  if (!Number.isFinite(args.leaseMs) || args.leaseMs < 0) throw new Error('--lease-ms must be a non-negative number');
  return args;
}

/** "[NAME[@VERSION]=]file.mjs[:export]" -> [key, handler] */
async function loadTarget(spec) {
  let key = '';
  let target = spec;
  const eq = spec.indexOf('=');
  if (eq >= 0) {
    key = spec.slice(0, eq);
    target = spec.slice(eq + 1);
  }
  let file = target;
  let exportName;
  const m = /^(.*\.(?:mjs|cjs|js)):([A-Za-z_$][\w$]*)$/.exec(target);
  if (m) {
    file = m[1];
    exportName = m[2];
  }
  const resolved = path.resolve(file);
  let mod;
  try {
    mod = await import(pathToFileURL(resolved).href);
  } catch (e) {
    throw new Error(`cannot load ${file}: ${e && e.stack ? e.stack : e}`);
  }
  const candidates = exportName ? [exportName] : ['handler', 'default'];
  let fn;
  for (const name of candidates) {
    fn = mod[name] ?? (mod.default && typeof mod.default === 'object' ? mod.default[name] : undefined);
    if (typeof fn === 'function') break;
  }
  if (typeof fn !== 'function') throw new Error(`${file} has no exported function ${candidates.join(' or ')}`);
  const name = key || path.basename(resolved).replace(/\.(mjs|cjs|js)$/, '');
  return [name, fn];
}

async function serve(args) {
  const { Worker } = require('../index.js');
  // A context used after its invocation ended throws in user code that is no
  // longer awaited by anyone: report it, do not let it kill the worker.
  process.on('unhandledRejection', (reason) => {
    process.stderr.write(`perdure worker: unhandled rejection: ${reason && reason.stack ? reason.stack : reason}\n`);
  });
  const functions = Object.fromEntries(await Promise.all(args.functions.map(loadTarget)));
  const worker = new Worker(functions, args.store, { workerId: args.id, leaseMs: args.leaseMs });
  const stop = () => worker.stop();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const supervisor = Number(process.env[SUPERVISOR_PID] || 0);
  if (supervisor) {
    // A supervisor killed outright cannot stop its child: the child notices
    // it has been re-parented and stops instead of serving unsupervised.
    setInterval(() => { if (process.ppid !== supervisor) stop(); }, 500).unref();
  }
  process.stderr.write(`perdure worker ${worker.workerId}: serving ${Object.keys(functions).sort().join(', ')} `
    + `from ${worker.store.path}\n`);
  await worker.serveForever(500);
  worker.close();
}

async function supervise(args, argv) {
  const { Store } = require('../index.js');
  const base = args.id || `${hostname()}:${process.pid}`;
  const passthrough = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--id') i++;
    else passthrough.push(argv[i]);
  }
  let stopping = false;
  let child = null;
  const stop = () => {
    stopping = true;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  for (let generation = 1; !stopping; generation++) {
    const workerId = `${base}/${generation}`;
    child = spawn(process.execPath, [SELF, '--no-supervise', '--id', workerId, ...passthrough],
      { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, [SUPERVISOR_PID]: String(process.pid) } });
    const [code, signal] = await new Promise((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    if (stopping) break;
    let released = 0;
    try {
      const store = new Store(args.store);
      try {
        released = store.releaseWorker(workerId);                   // perdure_store_release_worker
      } finally {
        store.close();
      }
    } catch (e) {
      process.stderr.write(`perdure worker: cannot release ${workerId}: ${e.message}\n`);
    }
    process.stderr.write(`perdure worker: ${workerId} exited with ${signal ? `signal ${signal}` : `status ${code}`}; `
      + `released ${released} lease(s), restarting\n`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main() {
  const argv = process.argv.slice(2);
  let args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`perdure-worker: ${e.message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!args.functions.length) {
    process.stderr.write(`perdure-worker: no function to serve\n${USAGE}`);
    return 2;
  }
  if (args.supervise) await supervise(args, argv);
  else await serve(args);
  return 0;
}

main().then((code) => { process.exitCode = code; }, (e) => {
  process.stderr.write(`perdure-worker: ${e && e.stack ? e.stack : e}\n`);
  process.exitCode = 1;
});

'use strict';
/**
 * withDurableExecution(handler, config?) and one invocation of it.
 *
 * The function withDurableExecution returns is what a worker serves. One
 * invocation = one runInvocation call: the C VM is loaded with the invocation
 * input, the handler runs against a DurableContext, and the invocation output
 * (SUCCEEDED, FAILED or PENDING) comes back as bytes in the VM's wire format.
 */
const { C } = require('./native');
const { Engine } = require('./engine');
const { createRootContext } = require('./context');
const {
  errorObject, UnrecoverableError, UnrecoverableInvocationError, ExecutionError,
} = require('./errors');

const PERDURE_HANDLER = Symbol.for('perdure.durableHandler');

/**
 * Makes `handler(event, context)` durable. The result is a
 * DurableLambdaHandler; Perdure runs it under its workers (startWorker, the
 * perdure-worker CLI, run()). `config` is accepted for source compatibility;
 * its AWS client options are not used by the embedded store, and plugins are
 * refused (not supported yet).
 */
function withDurableExecution(handler, config = {}) {
  if (typeof handler !== 'function') throw new TypeError('withDurableExecution: handler must be a function');
  if (config && config.plugins && config.plugins.length) {
    throw new Error('perdure: withDurableExecution({plugins}) is not supported yet');
  }
  const lambdaHandler = async (_event, _context) => {
    throw new ExecutionError('perdure: this durable function runs under a Perdure worker (startWorker, '
      + 'bin/perdure-worker.mjs or run()); the AWS Lambda backend is not built yet');
  };
  Object.defineProperty(lambdaHandler, PERDURE_HANDLER, { value: handler });
  Object.defineProperty(lambdaHandler, 'name', { value: handler.name || 'handler' });
  return lambdaHandler;
}

function isDurable(fn) {
  return typeof fn === 'function' && typeof fn[PERDURE_HANDLER] === 'function';
}

function decodeEvent(engine) {
  const raw = engine.input().toString('utf8');
  if (!raw.trim()) return undefined;
  try {
    return JSON.parse(raw);
  } catch (e) {
    throw new ExecutionError(`the execution input is not valid JSON: ${e.message}`);
  }
}

function serializeResult(value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new ExecutionError(`the handler's result is not JSON serializable: ${e.message}`);
  }
  return text;   // undefined for undefined: no Result
}

/**
 * Runs one invocation of `fn` (a withDurableExecution handler, or a plain
 * `fn(event, lambdaContext)` served as a non-durable function) and returns
 * the invocation output. Throws an UnrecoverableInvocationError (a failing
 * checkpoint) when the invocation must be re-run from its last checkpoint.
 *
 * @param {Function} fn
 * @param {Buffer} payload the invocation input, in `wire`
 * @param {{wire: number, transport: (req: Buffer) => Promise<Buffer>, clock: () => number, lambdaContext?: any}} o
 */
async function runInvocation(fn, payload, { wire, transport, clock, lambdaContext }) {
  const engine = new Engine({ wire, transport, clock });
  try {
    let outcome = C.OUTCOME_SUCCEEDED;
    let result;
    let error = null;
    let fatal = null;
    try {
      engine.start(payload, clock());
      const event = decodeEvent(engine);
      const running = isDurable(fn)
        ? (async () => fn[PERDURE_HANDLER](event, createRootContext(engine, lambdaContext)))()
        : (async () => fn(event, lambdaContext))();
      const settled = running.then((value) => ({ kind: 'value', value }), (err) => ({ kind: 'error', error: err }));
      const r = await Promise.race([settled, engine.terminated]);
      if (engine.fatal) {
        fatal = engine.fatal;
      } else if (r.kind === 'suspend') {
        outcome = C.OUTCOME_PENDING;
      } else if (r.kind === 'value') {
        result = serializeResult(r.value);
      } else if (r.kind === 'error') {
        if (r.error instanceof UnrecoverableError) fatal = r.error;
        else { outcome = C.OUTCOME_FAILED; error = errorObject(r.error); }
      } else {
        fatal = new ExecutionError('the invocation ended unexpectedly');
      }
    } catch (e) {
      fatal = e;
    }
    if (fatal) {
      if (fatal instanceof UnrecoverableInvocationError) throw fatal;
      process.stderr.write(`${JSON.stringify({ timestamp: new Date().toISOString(), level: 'ERROR',
        message: `perdure: ${fatal.name}: ${fatal.message}`, executionArn: engine.arn, durableExecutionArn: engine.arn })}\n`);
      return engine.failedOutput(errorObject(fatal));                  // perdure_output_failed
    }
    try {
      return await engine.finish(outcome, result, error);
    } catch (e) {
      if (e instanceof UnrecoverableInvocationError) throw e;
      return engine.failedOutput(errorObject(e));
    }
  } finally {
    engine.close();
  }
}

module.exports = { withDurableExecution, runInvocation, isDurable, PERDURE_HANDLER };

'use strict';
/**
 * The context logger. By default every record is ONE JSON line on stderr, the
 * shape of the Python SDK's logger:
 *   {"timestamp", "level", "message", "executionArn", "durableExecutionArn",
 *    "operationId"?, "operationName"?, "attempt"?, "parentId"?, ...}
 * It is silent while the context replays (modeAware, the default), so that a
 * message is written once per execution. configureLogger({customLogger,
 * modeAware}) swaps the underlying logger: as in the official SDK, it receives
 * the caller's parameters unchanged, and the execution and operation fields
 * through configureDurableLoggingContext if it has one.
 */
const util = require('node:util');

const LEVELS = { DEBUG: 2, INFO: 3, WARN: 4, ERROR: 5 };

function threshold() {
  const env = (process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase();
  return LEVELS[env] || LEVELS.DEBUG;
}

function record(level, data, params) {
  const rec = { timestamp: new Date().toISOString(), level };
  let message;
  const errors = [];
  const rest = [];
  for (const p of params) {
    if (p instanceof Error) errors.push(p);
    else rest.push(p);
  }
  if (rest.length === 1 && typeof rest[0] !== 'string') message = rest[0];
  else if (rest.length) message = util.format(...rest);
  else message = errors.length ? errors[0].message : '';
  rec.message = message;
  for (const [k, v] of Object.entries(data)) if (v !== undefined && !(k in rec)) rec[k] = v;
  if (errors.length) {
    rec.errorType = errors[0].name;
    rec.errorMessage = errors[0].message;
    rec.stackTrace = String(errors[0].stack || '').split('\n');
  }
  return rec;
}

/** The default DurableLogger: JSON lines on process.stderr. */
class JsonLineLogger {
  configureDurableLoggingContext(ctx) { this._getData = ctx.getDurableLogData; }

  log(level, ...params) {
    const lv = String(level).toUpperCase();
    if ((LEVELS[lv] || LEVELS.INFO) < threshold()) return;
    let line;
    try {
      line = JSON.stringify(record(lv, this._getData ? this._getData() : {}, params));
    } catch (e) {
      line = JSON.stringify(record(lv, this._getData ? this._getData() : {}, [util.inspect(params)]));
    }
    process.stderr.write(`${line}\n`);
  }

  error(...p) { this.log('ERROR', ...p); }
  warn(...p) { this.log('WARN', ...p); }
  info(...p) { this.log('INFO', ...p); }
  debug(...p) { this.log('DEBUG', ...p); }
}

/**
 * The DurableLoggingContext handed to a logger: getDurableLogData() gives the
 * fields of the record being written (the execution's outside any record).
 * `state` is shared by a context and its operation loggers:
 * {logger (DurableLogger), modeAware, data}.
 */
function durableLoggingContext(state) {
  return { getDurableLogData: () => ({ ...state.data }) };
}

/**
 * A context's logger: the execution and operation fields (`data`) are what
 * getDurableLogData reports while a record is written; records are dropped
 * while replaying.
 */
function contextLogger(state, data, isReplaying) {
  const emit = (write) => {
    if (state.modeAware && isReplaying()) return;
    const outer = state.data;
    state.data = data;
    try {
      write(state.logger);
    } finally {
      state.data = outer;
    }
  };
  const at = (method) => (...params) => emit((target) => target[method](...params));
  return {
    log: (level, ...params) => emit((target) => (typeof target.log === 'function'
      ? target.log(level, ...params) : target[String(level).toLowerCase()](...params))),
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
  };
}

module.exports = { JsonLineLogger, contextLogger, durableLoggingContext };

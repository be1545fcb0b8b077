'use strict';
/**
 * The context logger. By default every record is ONE JSON line on stderr, the
 * shape of the Python SDK's logger:
 *   {"timestamp", "level", "message", "executionArn", "durableExecutionArn",
 *    "operationId"?, "operationName"?, "attempt"?, "parentId"?, ...}
 * It is silent while the context replays (modeAware, the default), so that a
 * message is written once per execution. configureLogger({customLogger,
 * modeAware}) swaps the underlying logger (it receives the same parameters,
 * and configureDurableLoggingContext if it has one).
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
  constructor(getData) {
    this._getData = getData;
  }

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
 * A context's logger: adds the execution and operation fields and drops
 * records while replaying. `state` is shared by a context and its operation
 * loggers: {logger (DurableLogger), modeAware}.
 */
function contextLogger(state, data, isReplaying) {
  const emit = (level, method, params) => {
    if (state.modeAware && isReplaying()) return;
    const target = state.logger;
    if (target instanceof JsonLineLogger) {
      target._getData = () => data;
      target.log(level, ...params);
    } else if (typeof target[method] === 'function') {
      target[method](...params, data);
    } else if (typeof target.log === 'function') {
      target.log(level, ...params, data);
    }
  };
  return {
    log: (level, ...params) => emit(String(level).toUpperCase(), String(level).toLowerCase(), params),
    error: (...params) => emit('ERROR', 'error', params),
    warn: (...params) => emit('WARN', 'warn', params),
    info: (...params) => emit('INFO', 'info', params),
    debug: (...params) => emit('DEBUG', 'debug', params),
  };
}

module.exports = { JsonLineLogger, contextLogger };

'use strict';
const { ValidationError } = require('./errors');

/** {days, hours, minutes, seconds} -> whole seconds (what every duration becomes on the wire). */
function durationToSeconds(duration, what = 'duration') {
  if (!duration || typeof duration !== 'object') {
    throw new ValidationError(`${what} must be an object like { seconds: 5 } (days, hours, minutes, seconds), got ${duration}`);
  }
  const { days = 0, hours = 0, minutes = 0, seconds = 0 } = duration;
  for (const [k, v] of Object.entries({ days, hours, minutes, seconds })) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new ValidationError(`${what}.${k} must be a non-negative number, got ${v}`);
    }
  }
  return Math.floor(days * 86400 + hours * 3600 + minutes * 60 + seconds);
}

module.exports = { durationToSeconds };

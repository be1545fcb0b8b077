'use strict';
/**
 * Serdes: how operation results are stored. Same names, shapes and defaults as
 * the official SDK: `defaultSerdes` is JSON.stringify / JSON.parse (async);
 * callback results are passed through raw unless a serdes is given.
 */
const { SerdesFailedError } = require('./errors');

const defaultSerdes = {
  serialize: async (value, _context) => (value !== undefined ? JSON.stringify(value) : undefined),
  deserialize: async (data, _context) => (data !== undefined ? JSON.parse(data) : undefined),
};

/** The raw string: the default deserializer of callback results. */
const passThroughSerdes = {
  serialize: async (value) => value,
  deserialize: async (data) => data,
};

function createClassSerdes(cls) {
  return {
    serialize: async (value) => (value !== undefined ? JSON.stringify(value) : undefined),
    deserialize: async (data) => (data !== undefined ? Object.assign(new cls(), JSON.parse(data)) : undefined),
  };
}

function createClassSerdesWithDates(cls, dateProps) {
  return {
    serialize: async (value) => (value !== undefined ? JSON.stringify(value) : undefined),
    deserialize: async (data) => {
      if (data === undefined) return undefined;
      const obj = Object.assign(new cls(), JSON.parse(data));
      for (const key of dateProps || []) {
        const parts = key.split('.');
        let holder = obj;
        for (let i = 0; holder && i < parts.length - 1; i++) holder = holder[parts[i]];
        const last = parts[parts.length - 1];
        if (holder && typeof holder[last] === 'string') holder[last] = new Date(holder[last]);
      }
      return obj;
    },
  };
}

/** serdes.serialize(value) -> a string or undefined; any failure is a SerdesFailedError. */
async function serialize(serdes, value, entityId, durableExecutionArn) {
  let data;
  try {
    data = await serdes.serialize(value, { entityId, durableExecutionArn });
  } catch (e) {
    throw new SerdesFailedError(`Serialization failed for id: ${entityId}: ${e && e.message ? e.message : e}`, e);
  }
  if (data !== undefined && data !== null && typeof data !== 'string') {
    throw new SerdesFailedError(`Serialization failed for id: ${entityId}: the serdes returned a ${typeof data}, not a string`);
  }
  return data === null ? undefined : data;
}

async function deserialize(serdes, data, entityId, durableExecutionArn) {
  try {
    return await serdes.deserialize(data, { entityId, durableExecutionArn });
  } catch (e) {
    throw new SerdesFailedError(`Deserialization failed for id: ${entityId}: ${e && e.message ? e.message : e}`, e);
  }
}

module.exports = {
  defaultSerdes, passThroughSerdes, createClassSerdes, createClassSerdesWithDates, serialize, deserialize,
};

'use strict';
// perdure/testing (CommonJS): the official testing package's LocalDurableTestRunner.
module.exports = require('./lib/testing');

'use strict';
/**
 * perdure/testing: @aws/durable-execution-sdk-js-testing's local runner and
 * the names tests import with it, on Perdure (see runner.js).
 */
const { LocalDurableTestRunner } = require('./runner');
const { WaitingOperationStatus, ExecutionStatus, InvocationType } = require('./model');
const { OperationType, OperationStatus } = require('../../index');

module.exports = {
  LocalDurableTestRunner,
  WaitingOperationStatus,
  OperationType,
  OperationStatus,
  ExecutionStatus,
  InvocationType,
};

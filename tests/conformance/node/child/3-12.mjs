// 3-12: a child's step crashes the process the first time it runs (after its start is checkpointed);
// the next invocation runs the step again and the execution succeeds.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { withDurableExecution, retryPresets, createRetryStrategy, JitterStrategy, ChildContextError } from '../../../../bindings/node/index.mjs';

export const handler = withDurableExecution(async (event, context) => {
  const arn = context.executionContext.durableExecutionArn;
  const marker = path.join(os.tmpdir(), `perdure-node-3-12-${crypto.createHash('sha256').update(arn).digest('hex').slice(0, 16)}`);
  return context.runInChildContext(async (child) => child.step(async () => {
    if (!fs.existsSync(marker)) {
      fs.writeFileSync(marker, '');
      await new Promise((r) => setTimeout(r, 1000));   // some work in progress...
      process.exit(1);                                   // ...when the runtime dies
    }
    fs.rmSync(marker);
    return event;
  }));
});

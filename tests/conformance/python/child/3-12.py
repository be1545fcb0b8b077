"""3-12: a child context whose step crashes the process the first time it runs (after its start is
checkpointed); the next invocation runs the step again and the execution succeeds."""

import hashlib
import os
import tempfile
import time

from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    arn = context.execution_context.durable_execution_arn
    marker = os.path.join(tempfile.gettempdir(), "perdure-3-12-" + hashlib.sha256(arn.encode()).hexdigest()[:16])

    def crash_once(step_context):
        if not os.path.exists(marker):
            open(marker, "w").close()
            time.sleep(1)  # some work in progress...
            os._exit(1)  # ...when the Lambda runtime dies
        os.remove(marker)
        return event

    return context.run_in_child_context(lambda child_context: child_context.step(crash_once))

"""5-13: an invoke inside run_in_child_context; the child context returns the invoke result."""

import os

from perdure.execution import durable_execution

TARGET_FUNCTION_NAME = "target_echo"


@durable_execution
def handler(event, context):
    target = os.environ["TARGET_FUNCTION_NAME"]
    return context.run_in_child_context(lambda child: child.invoke(target, event))

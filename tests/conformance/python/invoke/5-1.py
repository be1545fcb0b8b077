"""5-1: invoke an echo target with the event as payload and return its result."""

import os

from perdure.execution import durable_execution

TARGET_FUNCTION_NAME = "target_echo"


@durable_execution
def handler(event, context):
    return context.invoke(os.environ["TARGET_FUNCTION_NAME"], event)

"""5-5: invoke a target that fails; the InvokeError is not caught, so the execution fails."""

import os

from perdure.execution import durable_execution

TARGET_FUNCTION_NAME = "target_error"


@durable_execution
def handler(event, context):
    return context.invoke(os.environ["TARGET_FUNCTION_NAME"], event)

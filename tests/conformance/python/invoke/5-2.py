"""5-2: invoke an echo target with an explicit operation name taken from the input."""

import os

from perdure.execution import durable_execution

TARGET_FUNCTION_NAME = "target_echo"


@durable_execution
def handler(event, context):
    return context.invoke(os.environ["TARGET_FUNCTION_NAME"], event["payload"], name=event["name"])

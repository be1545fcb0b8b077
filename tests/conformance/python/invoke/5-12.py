"""5-12: an invoke, then a step that processes the invoke result and returns it."""

import os

from perdure.execution import durable_execution

TARGET_FUNCTION_NAME = "target_echo"


@durable_execution
def handler(event, context):
    invoke_result = context.invoke(os.environ["TARGET_FUNCTION_NAME"], {"value": 21})
    return context.step(lambda _: {"processed": invoke_result["value"] * 2})

"""5-11: a step, then an invoke of an echo target with the step's result."""

import os

from perdure.execution import durable_execution

TARGET_FUNCTION_NAME = "target_echo"


@durable_execution
def handler(event, context):
    step_result = context.step(lambda _: {"value": 42})
    return context.invoke(os.environ["TARGET_FUNCTION_NAME"], step_result)

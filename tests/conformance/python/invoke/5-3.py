"""5-3: invoke an echo target with a nested JSON object; the object comes back unchanged."""

import os

from perdure.execution import durable_execution

TARGET_FUNCTION_NAME = "target_echo"


@durable_execution
def handler(event, context):
    complex_input = event  # {"nested": {"key": ..., "items": [...]}, "source": ...}
    return context.invoke(os.environ["TARGET_FUNCTION_NAME"], complex_input)

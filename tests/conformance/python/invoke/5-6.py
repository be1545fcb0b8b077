"""5-6: invoke a failing target inside try/except; the InvokeError is caught and a fallback returned."""

import os

from perdure.exceptions import InvokeError
from perdure.execution import durable_execution

TARGET_FUNCTION_NAME = "target_error"


@durable_execution
def handler(event, context):
    try:
        return context.invoke(os.environ["TARGET_FUNCTION_NAME"], event)
    except InvokeError:
        return {"fallback": True}

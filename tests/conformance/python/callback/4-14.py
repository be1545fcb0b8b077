"""4-14: a callback with a 3 s timeout times out; the handler catches it, waits 2 s and returns."""

from perdure.config import CallbackConfig, Duration
from perdure.exceptions import CallbackTimeoutError
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    callback = context.create_callback(name=event, config=CallbackConfig(timeout=Duration.from_seconds(3)))
    try:
        message = callback.result()
    except CallbackTimeoutError as error:
        message = f"callback timed out: {error}"
    context.wait(Duration.from_seconds(2))
    return message

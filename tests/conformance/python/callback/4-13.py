"""4-13: a failed callback is caught and turned into a message, then a 2 s wait, then the message
is returned."""

from perdure.config import Duration
from perdure.exceptions import CallbackError
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    callback = context.create_callback(name=event)
    try:
        message = callback.result()
    except CallbackError as error:
        message = f"callback failed: {error}"
    context.wait(Duration.from_seconds(2))
    return message

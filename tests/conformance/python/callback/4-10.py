"""4-10: create_callback, then a 5 s wait, then the callback result; the external system fails the
callback during the wait, and the error is not caught."""

from perdure.config import Duration
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    callback = context.create_callback(name=event)
    context.wait(Duration.from_seconds(5))
    return callback.result()

"""4-9: create_callback, then a 5 s wait, then the callback result; the callback succeeds during
the wait."""

from perdure.config import Duration
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    callback = context.create_callback(name=event)
    context.wait(Duration.from_seconds(5))
    return callback.result()

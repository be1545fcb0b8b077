"""4-6: a callback failed by the external system; the error is not caught, so the execution fails."""

from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    callback = context.create_callback(name=event)
    return callback.result()

"""4-2: create_callback named "approval", then wait for its result."""

from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    callback = context.create_callback(name="approval")
    return callback.result()

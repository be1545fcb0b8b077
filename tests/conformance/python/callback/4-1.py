"""4-1: create_callback named by the input, then wait for its result (completed externally)."""

from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    callback = context.create_callback(name=event)
    context.logger.info(f"callback id: {callback.callback_id}")
    return callback.result()

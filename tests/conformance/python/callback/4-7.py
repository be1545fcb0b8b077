"""4-7: create_callback, then a step, then wait for the callback, which the external system fails;
the error is not caught."""

from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    callback = context.create_callback(name=event)
    context.step(lambda _: f"notified approver of {callback.callback_id}")
    return callback.result()

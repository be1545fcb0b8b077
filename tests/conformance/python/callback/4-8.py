"""4-8: create_callback with a 5 s timeout, then a step, then wait for the callback, which times
out; the error is not caught."""

from perdure.config import CallbackConfig, Duration
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    callback = context.create_callback(name=event, config=CallbackConfig(timeout=Duration.from_seconds(5)))
    context.step(lambda _: f"notified approver of {callback.callback_id}")
    return callback.result()

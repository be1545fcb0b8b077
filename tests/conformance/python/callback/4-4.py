"""4-4: a callback with a 5 s heartbeat timeout and no heartbeat; the timeout is not caught."""

from perdure.config import CallbackConfig, Duration
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    callback = context.create_callback(name=event, config=CallbackConfig(heartbeat_timeout=Duration.from_seconds(5)))
    return callback.result()

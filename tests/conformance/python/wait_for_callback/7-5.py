"""7-5: wait_for_callback with a 3 s timeout that nobody completes; the timeout is not caught."""

from perdure.config import Duration, WaitForCallbackConfig
from perdure.execution import durable_execution


def submit(callback_id, ctx):
    ctx.logger.info("callback id registered: %s", callback_id)


@durable_execution
def handler(event, context):
    return context.wait_for_callback(
        submit,
        name=event,
        config=WaitForCallbackConfig(timeout=Duration.from_seconds(3)),
    )

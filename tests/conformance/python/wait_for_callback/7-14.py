"""7-14: wait_for_callback with a 3 s timeout that nobody completes; the handler catches the timeout."""

from perdure.config import Duration, WaitForCallbackConfig
from perdure.exceptions import CallbackTimeoutError
from perdure.execution import durable_execution


def submit(callback_id, ctx):
    ctx.logger.info("callback id registered: %s", callback_id)


@durable_execution
def handler(event, context):
    try:
        return context.wait_for_callback(
            submit,
            name=event,
            config=WaitForCallbackConfig(timeout=Duration.from_seconds(3)),
        )
    except CallbackTimeoutError:
        return "timed-out-handled"

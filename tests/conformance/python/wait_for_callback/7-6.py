"""7-6: wait_for_callback failed by the external system; the handler catches the error and recovers."""

from perdure.exceptions import CallbackError
from perdure.execution import durable_execution


def submit(callback_id, ctx):
    ctx.logger.info("callback id registered: %s", callback_id)


@durable_execution
def handler(event, context):
    try:
        return context.wait_for_callback(submit, name=event)
    except CallbackError:
        return "recovered"

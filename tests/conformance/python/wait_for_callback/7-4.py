"""7-4: wait_for_callback named by the input; the external system fails the callback and the error
is not caught, so the execution fails."""

from perdure.execution import durable_execution


def submit(callback_id, ctx):
    ctx.logger.info("callback id registered: %s", callback_id)


@durable_execution
def handler(event, context):
    return context.wait_for_callback(submit, name=event)

"""7-2: wait_for_callback with the static name "approval"; the external success payload is the result."""

from perdure.execution import durable_execution


def submit(callback_id, ctx):
    ctx.logger.info("approval requested, callback id %s", callback_id)


@durable_execution
def handler(event, context):
    return context.wait_for_callback(submit, name="approval")

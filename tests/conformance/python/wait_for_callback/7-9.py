"""7-9: two sequential wait_for_callback operations, "first" then "second"; returns the second result."""

from perdure.execution import durable_execution


def submit(callback_id, ctx):
    ctx.logger.info("callback id registered: %s", callback_id)


@durable_execution
def handler(event, context):
    context.wait_for_callback(submit, name="first")
    return context.wait_for_callback(submit, name="second")

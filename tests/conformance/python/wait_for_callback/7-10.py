"""7-10: a 1 s wait, a top-level step returning fixed data, then wait_for_callback named by the input."""

from perdure.config import Duration
from perdure.execution import durable_execution


def submit(callback_id, ctx):
    ctx.logger.info("callback id registered: %s", callback_id)


@durable_execution
def handler(event, context):
    context.wait(Duration.from_seconds(1))
    context.step(lambda _: {"data": "fixed"})
    return context.wait_for_callback(submit, name=event)

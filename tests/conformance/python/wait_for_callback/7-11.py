"""7-11: wait_for_callback with a JSON serdes, so the callback payload is decoded into an object;
returns its "status" field."""

from perdure.config import WaitForCallbackConfig
from perdure.execution import durable_execution
from perdure.serdes import JsonSerDes


def submit(callback_id, ctx):
    ctx.logger.info("callback id registered: %s", callback_id)


@durable_execution
def handler(event, context):
    result = context.wait_for_callback(submit, name=event, config=WaitForCallbackConfig(serdes=JsonSerDes()))
    return result["status"]

"""7-3: wait_for_callback with only an inline anonymous submitter and no name."""

from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    return context.wait_for_callback(lambda callback_id, ctx: None)

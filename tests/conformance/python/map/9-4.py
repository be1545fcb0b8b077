"""9-4: map over an empty list completes at once with no results."""

from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    return context.map(event, lambda ctx, item, index, items: item, name="empty").get_results()

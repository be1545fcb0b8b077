"""8-5: parallel with an empty branch list completes at once with no results."""

from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    return context.parallel([], name="empty").get_results()

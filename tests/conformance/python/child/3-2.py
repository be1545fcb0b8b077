"""3-2: a child context named by input["name"], whose step returns input["value"]."""

from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    return context.run_in_child_context(
        lambda child_context: child_context.step(lambda _: event["value"]),
        name=event["name"],
    )

"""1-2: step with an explicit name ("custom_step_name")."""

from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    return context.step(lambda _: f"Hello, {event}!", name="custom_step_name")

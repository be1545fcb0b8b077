"""3-10: a named child context with a step (returning the input) followed by a 1 s wait."""

from perdure.config import Duration
from perdure.context import durable_with_child_context
from perdure.execution import durable_execution


@durable_with_child_context
def step_then_wait(child_context, value):
    result = child_context.step(lambda _: value)
    child_context.wait(Duration.from_seconds(1))
    return result


@durable_execution
def handler(event, context):
    return context.run_in_child_context(step_then_wait(event))

"""3-13: a named child context holding only a 1 s wait (returns the input), then a step outside the
child returning the input."""

from perdure.config import Duration
from perdure.context import durable_with_child_context
from perdure.execution import durable_execution


@durable_with_child_context
def just_wait(child_context, value):
    child_context.wait(Duration.from_seconds(1))
    return value


@durable_execution
def handler(event, context):
    context.run_in_child_context(just_wait(event))
    return context.step(lambda _: event)

"""3-3: a named child context with two sequential steps; the second gets the first one's result
and returns it unchanged."""

from perdure.context import durable_with_child_context
from perdure.execution import durable_execution


@durable_with_child_context
def two_steps(child_context, value):
    first = child_context.step(lambda _: value)
    return child_context.step(lambda _: first)


@durable_execution
def handler(event, context):
    return context.run_in_child_context(two_steps(event))

"""3-16: a named child context that returns None without any durable operation."""

from perdure.context import durable_with_child_context
from perdure.execution import durable_execution


@durable_with_child_context
def returns_none(child_context):
    return None


@durable_execution
def handler(event, context):
    return context.run_in_child_context(returns_none())

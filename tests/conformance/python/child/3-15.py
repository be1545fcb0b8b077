"""3-15: a named child context whose function raises directly, without any durable operation; the
execution fails."""

from perdure.context import durable_with_child_context
from perdure.execution import durable_execution


@durable_with_child_context
def raising_child(child_context):
    raise ValueError("child failed without any operation")


@durable_execution
def handler(event, context):
    return context.run_in_child_context(raising_child())

"""3-17: a named child context that only logs the input (replay logging enabled, so a re-run on
replay would log twice) and returns it, then a 1 s wait."""

from perdure.config import Duration
from perdure.context import durable_with_child_context
from perdure.execution import durable_execution


@durable_with_child_context
def log_only(child_context, value):
    # A logger that also writes while replaying: a second run of this body would be visible.
    child_context.logger.with_is_replaying(lambda: False).info(f"child context got {value}")
    return value


@durable_execution
def handler(event, context):
    result = context.run_in_child_context(log_only(event))
    context.wait(Duration.from_seconds(1))
    return result

"""3-9: a child context (one step returning the input), then a 1 s wait; on replay the child returns
its recorded result without running again."""

from perdure.config import Duration
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    result = context.run_in_child_context(lambda child_context: child_context.step(lambda _: event))
    context.wait(Duration.from_seconds(1))
    return result

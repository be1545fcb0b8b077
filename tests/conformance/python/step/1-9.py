"""1-9: a logged step, then a 1 s wait; on replay the step returns its checkpointed result
without running again."""

from perdure.config import Duration
from perdure.execution import durable_execution


def compute(step_context):
    step_context.logger.info("step executed")
    return "cached_value"


@durable_execution
def handler(event, context):
    result = context.step(compute)
    context.wait(Duration.from_seconds(1))
    return result

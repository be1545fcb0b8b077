"""1-19: a step that always raises, with no retries (RetryPresets.none()); the execution fails."""

from perdure.config import StepConfig
from perdure.execution import durable_execution
from perdure.retries import RetryPresets


def failing_func(step_context):
    raise ValueError("something went wrong")


@durable_execution
def handler(event, context):
    return context.step(failing_func, config=StepConfig(retry_strategy=RetryPresets.none()))

"""3-4: a named child context whose step fails without retry; the ChildContextError is not caught,
so the execution fails."""

from perdure.config import StepConfig
from perdure.context import durable_with_child_context
from perdure.execution import durable_execution
from perdure.retries import RetryPresets


def failing_step(step_context):
    raise RuntimeError("step inside child failed")


@durable_with_child_context
def failing_child(child_context):
    return child_context.step(failing_step, config=StepConfig(retry_strategy=RetryPresets.none()))


@durable_execution
def handler(event, context):
    return context.run_in_child_context(failing_child())

"""3-5: a child context whose step fails (no retry); the handler catches the ChildContextError and
runs a recovery step returning the input."""

from perdure.config import StepConfig
from perdure.exceptions import ChildContextError
from perdure.execution import durable_execution
from perdure.retries import RetryPresets


def failing_step(step_context):
    raise RuntimeError("step inside child failed")


def failing_child(child_context):
    return child_context.step(failing_step, config=StepConfig(retry_strategy=RetryPresets.none()))


@durable_execution
def handler(event, context):
    try:
        return context.run_in_child_context(failing_child)
    except ChildContextError:
        return context.step(lambda _: event)

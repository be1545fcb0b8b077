"""1-10: a step that fails permanently (no retry) inside try/except, then a 1 s wait; on replay
the recorded error is raised again without running the step."""

from perdure.config import Duration, StepConfig
from perdure.exceptions import StepError
from perdure.execution import durable_execution
from perdure.retries import RetryPresets


def fail(step_context):
    step_context.logger.info("step executed")
    raise RuntimeError("step failed permanently")


@durable_execution
def handler(event, context):
    try:
        context.step(fail, config=StepConfig(retry_strategy=RetryPresets.none()))
        outcome = "no error"
    except StepError as error:
        outcome = f"caught: {error}"
    context.wait(Duration.from_seconds(1))
    return outcome

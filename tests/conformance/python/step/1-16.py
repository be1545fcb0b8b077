"""1-16: a step raising TransientError; the retry strategy does not retry TransientError, so the
step and the execution fail."""

from perdure.config import Duration, StepConfig
from perdure.execution import durable_execution
from perdure.retries import RetryDecision


class TransientError(Exception):
    pass


def no_retry_on_transient_error(error, attempts_made):
    if isinstance(error, TransientError) or attempts_made >= 3:
        return RetryDecision.no_retry()
    return RetryDecision.retry(Duration.from_seconds(1))


def flaky(step_context):
    raise TransientError("temporary glitch")


@durable_execution
def handler(event, context):
    return context.step(flaky, config=StepConfig(retry_strategy=no_retry_on_transient_error))

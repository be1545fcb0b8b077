"""1-15: a step raising TransientError once; the retry strategy retries only TransientError."""

from perdure.config import Duration, StepConfig
from perdure.execution import durable_execution
from perdure.retries import RetryDecision


class TransientError(Exception):
    pass


def retry_on_transient(error, attempts_made):
    if isinstance(error, TransientError) and attempts_made < 3:
        return RetryDecision.retry(Duration.from_seconds(1))
    return RetryDecision.no_retry()


def flaky(step_context):
    if step_context.attempt == 1:
        raise TransientError("temporary glitch")
    return "recovered"


@durable_execution
def handler(event, context):
    return context.step(flaky, config=StepConfig(retry_strategy=retry_on_transient))

"""7-7: wait_for_callback whose submitter always raises; 2 attempts 1 s apart, then the operation
and the execution fail. The callback is never completed."""

from perdure.config import Duration, JitterStrategy, WaitForCallbackConfig
from perdure.execution import durable_execution
from perdure.retries import RetryStrategyConfig, create_retry_strategy


class SubmitterError(Exception):
    pass


def submit(callback_id, ctx):
    raise SubmitterError("submitter failed")


@durable_execution
def handler(event, context):
    retry = create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=2,
            initial_delay=Duration.from_seconds(1),
            max_delay=Duration.from_seconds(1),
            backoff_rate=1,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
    return context.wait_for_callback(submit, name=event, config=WaitForCallbackConfig(retry_strategy=retry))

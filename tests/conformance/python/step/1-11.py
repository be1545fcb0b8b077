"""1-11: a step that fails on its first attempt and succeeds on the second (retry after 1 s)."""

from perdure.config import Duration, JitterStrategy, StepConfig
from perdure.execution import durable_execution
from perdure.retries import RetryStrategyConfig, create_retry_strategy


def unreliable_func(step_context):
    if step_context.attempt == 1:
        raise RuntimeError("transient failure")
    return "Operation succeeded"


@durable_execution
def handler(event, context):
    retry = create_retry_strategy(
        RetryStrategyConfig(max_attempts=3, initial_delay=Duration.from_seconds(1), jitter_strategy=JitterStrategy.NONE)
    )
    return context.step(unreliable_func, config=StepConfig(retry_strategy=retry))

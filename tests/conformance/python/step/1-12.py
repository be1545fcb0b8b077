"""1-12: a step that always fails; 4 attempts in all, 1 s apart, then the execution fails."""

from perdure.config import Duration, JitterStrategy, StepConfig
from perdure.execution import durable_execution
from perdure.retries import RetryStrategyConfig, create_retry_strategy


def always_fail(step_context):
    raise RuntimeError(f"attempt {step_context.attempt} failed")


@durable_execution
def handler(event, context):
    retry = create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=4,
            initial_delay=Duration.from_seconds(1),
            backoff_rate=1,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
    return context.step(always_fail, config=StepConfig(retry_strategy=retry))

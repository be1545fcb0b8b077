"""3-8: a named child context whose step always fails; 2 attempts, then the step, the child and the
execution fail."""

from perdure.config import Duration, JitterStrategy, StepConfig
from perdure.context import durable_with_child_context
from perdure.execution import durable_execution
from perdure.retries import RetryStrategyConfig, create_retry_strategy

RETRY = create_retry_strategy(
    RetryStrategyConfig(max_attempts=2, initial_delay=Duration.from_seconds(1), jitter_strategy=JitterStrategy.NONE)
)


def always_fail(step_context):
    raise RuntimeError(f"attempt {step_context.attempt} failed")


@durable_with_child_context
def exhausting_child(child_context):
    return child_context.step(always_fail, config=StepConfig(retry_strategy=RETRY))


@durable_execution
def handler(event, context):
    return context.run_in_child_context(exhausting_child())

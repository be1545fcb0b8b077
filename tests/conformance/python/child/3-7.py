"""3-7: a named child context whose step fails on attempt 1 and succeeds on attempt 2 (retry after
1 s), returning the input."""

from perdure.config import Duration, JitterStrategy, StepConfig
from perdure.context import durable_with_child_context
from perdure.execution import durable_execution
from perdure.retries import RetryStrategyConfig, create_retry_strategy

RETRY = create_retry_strategy(
    RetryStrategyConfig(max_attempts=3, initial_delay=Duration.from_seconds(1), jitter_strategy=JitterStrategy.NONE)
)


@durable_with_child_context
def child_with_retry(child_context, value):
    def flaky(step_context):
        if step_context.attempt == 1:
            raise RuntimeError("first attempt fails")
        return value

    return child_context.step(flaky, config=StepConfig(retry_strategy=RETRY))


@durable_execution
def handler(event, context):
    return context.run_in_child_context(child_with_retry(event))

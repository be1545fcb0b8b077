"""6-6: wait_for_condition with a fixed 1 s wait strategy capped at 3 attempts; the condition never holds,
so the strategy raises on the third attempt and the execution fails."""

from perdure.config import Duration, JitterStrategy
from perdure.execution import durable_execution
from perdure.waits import WaitForConditionConfig, WaitStrategyConfig, create_wait_strategy

wait_strategy = create_wait_strategy(
    WaitStrategyConfig(
        should_continue_polling=lambda state: True,
        max_attempts=3,
        initial_delay=Duration.from_seconds(1),
        max_delay=Duration.from_seconds(1),
        backoff_rate=1,
        jitter_strategy=JitterStrategy.NONE,
    )
)


@durable_execution
def handler(event, context):
    return context.wait_for_condition(
        lambda state, ctx: state + 1,
        config=WaitForConditionConfig(wait_strategy=wait_strategy, initial_state=event),
    )

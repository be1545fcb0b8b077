"""6-1: wait_for_condition polls an incrementing counter (from 0) until it reaches the input threshold."""

from perdure.config import Duration
from perdure.execution import durable_execution
from perdure.waits import WaitForConditionConfig, WaitForConditionDecision


@durable_execution
def handler(event, context):
    threshold = event

    def wait_strategy(state, attempt):
        if state >= threshold:
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))

    return context.wait_for_condition(
        lambda state, ctx: state + 1,
        config=WaitForConditionConfig(wait_strategy=wait_strategy, initial_state=0),
    )

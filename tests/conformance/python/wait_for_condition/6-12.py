"""6-12: wait_for_condition counts from 0 to the input threshold (2); a step then multiplies the result by 10."""

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

    final_state = context.wait_for_condition(
        lambda state, ctx: state + 1,
        config=WaitForConditionConfig(wait_strategy=wait_strategy, initial_state=0),
    )
    return context.step(lambda _: final_state * 10)

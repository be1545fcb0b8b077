"""6-2: wait_for_condition whose condition (state >= 5) already holds on the first check; no suspension."""

from perdure.config import Duration
from perdure.execution import durable_execution
from perdure.waits import WaitForConditionConfig, WaitForConditionDecision


def wait_strategy(state, attempt):
    if state >= 5:
        return WaitForConditionDecision.stop_polling()
    return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))


@durable_execution
def handler(event, context):
    return context.wait_for_condition(
        lambda state, ctx: state,
        config=WaitForConditionConfig(wait_strategy=wait_strategy, initial_state=5),
    )

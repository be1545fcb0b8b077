"""6-10: wait_for_condition whose check returns None and whose strategy stops at once; returns None."""

from perdure.execution import durable_execution
from perdure.waits import WaitForConditionConfig, WaitForConditionDecision


@durable_execution
def handler(event, context):
    return context.wait_for_condition(
        lambda state, ctx: None,
        config=WaitForConditionConfig(
            wait_strategy=lambda state, attempt: WaitForConditionDecision.stop_polling(),
            initial_state=None,
        ),
    )

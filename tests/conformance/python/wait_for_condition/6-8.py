"""6-8: wait_for_condition whose check raises on the first attempt; the handler catches it and recovers."""

from perdure.exceptions import WaitForConditionError
from perdure.execution import durable_execution
from perdure.waits import WaitForConditionConfig, WaitForConditionDecision


class CheckFailedError(Exception):
    pass


def check(state, ctx):
    raise CheckFailedError("condition check failed")


@durable_execution
def handler(event, context):
    try:
        return context.wait_for_condition(
            check,
            config=WaitForConditionConfig(
                wait_strategy=lambda state, attempt: WaitForConditionDecision.stop_polling(),
                initial_state=0,
            ),
        )
    except WaitForConditionError:
        return "recovered"

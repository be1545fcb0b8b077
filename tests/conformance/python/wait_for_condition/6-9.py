"""6-9: wait_for_condition threading an object state {status, attempts} until status becomes DONE."""

from perdure.config import Duration
from perdure.execution import durable_execution
from perdure.waits import WaitForConditionConfig, WaitForConditionDecision


def check(state, ctx):
    attempts = state["attempts"] + 1
    return {"status": "DONE" if attempts >= 2 else "PENDING", "attempts": attempts}


def wait_strategy(state, attempt):
    if state["status"] == "PENDING":
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))
    return WaitForConditionDecision.stop_polling()


@durable_execution
def handler(event, context):
    return context.wait_for_condition(
        check,
        config=WaitForConditionConfig(
            wait_strategy=wait_strategy,
            initial_state={"status": "PENDING", "attempts": 0},
        ),
    )

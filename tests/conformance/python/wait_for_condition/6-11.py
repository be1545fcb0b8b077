"""6-11: wait_for_condition with a custom state serdes; the string state grows by "x" until it is "xx"."""

from perdure.config import Duration
from perdure.execution import durable_execution
from perdure.serdes import SerDes
from perdure.waits import WaitForConditionConfig, WaitForConditionDecision


class StateSerDes(SerDes):
    """Encodes the string state as "STATE:<value>"."""

    def serialize(self, value, serdes_context):
        return f"STATE:{value}"

    def deserialize(self, data, serdes_context):
        return data.removeprefix("STATE:")


def wait_strategy(state, attempt):
    if len(state) >= 2:
        return WaitForConditionDecision.stop_polling()
    return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))


@durable_execution
def handler(event, context):
    return context.wait_for_condition(
        lambda state, ctx: state + "x",
        config=WaitForConditionConfig(wait_strategy=wait_strategy, initial_state="", serdes=StateSerDes()),
    )

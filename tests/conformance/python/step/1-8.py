"""1-8: a step, then a 2 s wait; the replay after the wait skips the completed step."""

from perdure.config import Duration
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    result = context.step(lambda _: "computed")
    context.wait(Duration.from_seconds(2))
    return result

"""2-5: a wait of one hour (Duration.from_hours), checkpointed as 3600 s."""

from perdure.config import Duration
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    context.wait(Duration.from_hours(1))

"""2-4: a wait of one minute (Duration.from_minutes), checkpointed as 60 s."""

from perdure.config import Duration
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    context.wait(Duration.from_minutes(1))

"""2-2: a 2 s wait named "custom_wait_name"."""

from perdure.config import Duration
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    context.wait(Duration.from_seconds(2), name="custom_wait_name")

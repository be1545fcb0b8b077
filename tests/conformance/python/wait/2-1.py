"""2-1: wait basic — one 2 s wait."""

from perdure.config import Duration
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    context.wait(Duration.from_seconds(2))

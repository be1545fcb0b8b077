"""Invoke target: a durable function that takes a while (a durable wait), then echoes its input.

The wait length comes from the input's "delaySeconds" when present (default 10 s).
"""

from perdure.config import Duration
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    seconds = event.get("delaySeconds", 10) if isinstance(event, dict) else 10
    context.wait(Duration.from_seconds(seconds), name="slow")
    return event

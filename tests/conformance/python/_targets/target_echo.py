"""Invoke target: a durable function that returns its input unchanged."""

from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    return event

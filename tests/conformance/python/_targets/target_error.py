"""Invoke target: a durable function that always fails."""

from perdure.execution import durable_execution


class TargetFunctionError(Exception):
    pass


@durable_execution
def handler(event, context):
    raise TargetFunctionError("target function failed")

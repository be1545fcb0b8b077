"""1-4: a step returning a nested object (dict with a list and mixed types)."""

from perdure.context import durable_step
from perdure.execution import durable_execution


@durable_step
def build_response(step_context, event):
    return {"user": {"name": event["name"], "tags": list(event["tags"])}, "count": len(event["tags"])}


@durable_execution
def handler(event, context):
    return context.step(build_response(event))

"""1-5: a step returning None."""

from perdure.context import durable_step
from perdure.execution import durable_execution


@durable_step
def do_nothing(step_context):
    return None


@durable_execution
def handler(event, context):
    return context.step(do_nothing())

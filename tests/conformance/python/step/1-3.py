"""1-3: two sequential steps; the second uses the first one's result."""

from perdure.context import durable_step
from perdure.execution import durable_execution


@durable_step
def step_one(step_context):
    return "first"


@durable_step
def step_two(step_context, previous):
    return f"{previous}_second"


@durable_execution
def handler(event, context):
    result1 = context.step(step_one())
    return context.step(step_two(result1))

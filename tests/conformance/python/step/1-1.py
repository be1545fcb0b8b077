"""1-1: step basic — one step greets the input and succeeds on its first attempt."""

from perdure.context import durable_step
from perdure.execution import durable_execution


@durable_step
def greet(step_context, name):
    return f"Hello, {name}!"


@durable_execution
def handler(event, context):
    return context.step(greet(event))

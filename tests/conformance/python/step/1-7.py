"""1-7: a step writing two records through step_context.logger."""

from perdure.context import durable_step
from perdure.execution import durable_execution


@durable_step
def greet(step_context, name):
    step_context.logger.info(f"Greeting step started for: {name}")
    greeting = f"Hello, {name}!"
    step_context.logger.info(f"Greeting step completed with: {greeting}")
    return greeting


@durable_execution
def handler(event, context):
    return context.step(greet(event))

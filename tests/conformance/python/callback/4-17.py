"""4-17: callback A (named input[0]) is created and awaited, then callback B (input[1]); returns both
results."""

from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    name_a, name_b = event
    result_a = context.create_callback(name=name_a).result()
    result_b = context.create_callback(name=name_b).result()
    return [result_a, result_b]

"""4-18: callbacks A (input[0]) and B (input[1]) are both created, then awaited in order; returns
both results."""

from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    name_a, name_b = event
    callback_a = context.create_callback(name=name_a)
    callback_b = context.create_callback(name=name_b)
    return [callback_a.result(), callback_b.result()]

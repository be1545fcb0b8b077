"""3-1: child context basic — one step inside returns the input; the child returns it."""

from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    def child(child_context):
        return child_context.step(lambda _: event)

    return context.run_in_child_context(child)

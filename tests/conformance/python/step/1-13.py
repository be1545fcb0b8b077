"""1-13: a step that fails twice and succeeds on the third attempt, under the default retry
strategy (no config)."""

from perdure.execution import durable_execution


def unreliable_func(step_context):
    if step_context.attempt < 3:
        raise RuntimeError(f"attempt {step_context.attempt} failed")
    return "succeeded on attempt 3"


@durable_execution
def handler(event, context):
    return context.step(unreliable_func)

"""9-1: map basic — one greeting step per input item, run one at a time."""

from perdure.config import MapConfig
from perdure.execution import durable_execution


def greet(ctx, item, index, items):
    return ctx.step(lambda _: f"Hello, {item}!", name="greet")


@durable_execution
def handler(event, context):
    return context.map(event, greet, name="map", config=MapConfig(max_concurrency=1)).get_results()

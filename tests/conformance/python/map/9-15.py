"""9-15: a wait inside map iteration 1 suspends mid-map; replay skips the finished iteration 0."""

from perdure.config import Duration, MapConfig
from perdure.execution import durable_execution


def process(ctx, item, index, items):
    if index == 1:
        ctx.wait(Duration.from_seconds(1))
    return ctx.step(lambda _: item, name=f"step-{index}")


@durable_execution
def handler(event, context):
    return context.map(["r0", "r1"], process, name="suspend", config=MapConfig(max_concurrency=1)).get_results()

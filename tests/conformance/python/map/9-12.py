"""9-12: map with FLAT nesting: item steps sit directly under the Map context."""

from perdure.config import MapConfig, NestingType
from perdure.execution import durable_execution


def process(ctx, item, index, items):
    return ctx.step(lambda _: item, name=f"step-{index}")


@durable_execution
def handler(event, context):
    config = MapConfig(max_concurrency=1, nesting_type=NestingType.FLAT)
    return context.map(["fa", "fb"], process, name="flat", config=config).get_results()

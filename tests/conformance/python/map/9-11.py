"""9-11: map with max_concurrency=2 returns results in item order."""

from perdure.config import MapConfig
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    result = context.map(
        ["i0", "i1", "i2"],
        lambda ctx, item, index, items: f"r{index}",
        name="concurrent",
        config=MapConfig(max_concurrency=2),
    )
    return result.get_results()

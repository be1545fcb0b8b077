"""9-17: a wait after a successful map suspends; replay skips the completed map."""

from perdure.config import Duration, MapConfig
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    result = context.map(
        ["a", "b"],
        lambda ctx, item, index, items: item.upper(),
        name="then-wait",
        config=MapConfig(max_concurrency=1),
    )
    context.wait(Duration.from_seconds(1))
    return result.get_results()

"""9-2: map called without an operation name; each item is doubled directly."""

from perdure.config import MapConfig
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    result = context.map(event, lambda ctx, item, index, items: item * 2, config=MapConfig(max_concurrency=1))
    return result.get_results()

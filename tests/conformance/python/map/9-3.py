"""9-3: the map function receives the item and its index and returns item + index."""

from perdure.config import MapConfig
from perdure.execution import durable_execution


def add_index(ctx, item, index, items):
    return item + index


@durable_execution
def handler(event, context):
    return context.map(event, add_index, name="indexed", config=MapConfig(max_concurrency=1)).get_results()

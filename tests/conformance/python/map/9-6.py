"""9-6: throw_if_error() on the map result rethrows the item failure; the execution fails."""

from perdure.config import CompletionConfig, MapConfig
from perdure.execution import durable_execution


def process(ctx, item, index, items):
    if item == "fail":
        raise ValueError(f"item {index} failed")
    return item


@durable_execution
def handler(event, context):
    config = MapConfig(max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=0))
    result = context.map(["fail", "ok"], process, name="throwing", config=config)
    result.throw_if_error()
    return result.get_results()

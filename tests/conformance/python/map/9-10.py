"""9-10: map stops once failures exceed tolerated_failure_percentage=25 (of 4 items)."""

from perdure.config import CompletionConfig, MapConfig
from perdure.execution import durable_execution


def process(ctx, item, index, items):
    if item == "fail":
        raise ValueError(f"item {index} failed")
    return item


@durable_execution
def handler(event, context):
    config = MapConfig(max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_percentage=25))
    result = context.map(["fail", "fail", "ok", "ok"], process, name="tolerated-pct", config=config)
    return {
        "completionReason": result.completion_reason.value,
        "successCount": result.success_count,
        "failureCount": result.failure_count,
        "totalCount": result.total_count,
    }

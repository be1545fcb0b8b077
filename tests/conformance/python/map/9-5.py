"""9-5: map fail-fast (tolerated_failure_count=0) stops after the first failed item."""

from perdure.config import CompletionConfig, MapConfig
from perdure.execution import durable_execution


def process(ctx, item, index, items):
    if item == "fail":
        raise ValueError(f"item {index} failed")
    return item


@durable_execution
def handler(event, context):
    config = MapConfig(max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=0))
    result = context.map(["ok", "fail", "ok"], process, name="failfast", config=config)
    return {
        "completionReason": result.completion_reason.value,
        "status": result.status.value,
        "successCount": result.success_count,
        "failureCount": result.failure_count,
        "totalCount": result.total_count,
    }

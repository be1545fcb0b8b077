"""9-18: a wait after a map with a tolerated failure suspends; replay skips the completed map."""

from perdure.config import CompletionConfig, Duration, MapConfig
from perdure.execution import durable_execution


def process(ctx, item, index, items):
    if item == "fail":
        raise ValueError(f"item {index} failed")
    return item


@durable_execution
def handler(event, context):
    config = MapConfig(max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=1))
    result = context.map(["ok", "fail"], process, name="fail-then-wait", config=config)
    context.wait(Duration.from_seconds(1))
    return {
        "completionReason": result.completion_reason.value,
        "status": result.status.value,
        "successCount": result.success_count,
        "failureCount": result.failure_count,
        "totalCount": result.total_count,
    }

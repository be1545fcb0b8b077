"""8-22: failure percentage exactly at tolerated_failure_percentage=25 does not stop the parallel."""

from perdure.config import CompletionConfig, ParallelConfig
from perdure.execution import durable_execution


def fail(ctx):
    raise ValueError("branch 0 failed")


@durable_execution
def handler(event, context):
    branches = [fail, lambda ctx: "b1", lambda ctx: "b2", lambda ctx: "b3"]
    config = ParallelConfig(max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_percentage=25))
    result = context.parallel(branches, name="pct-boundary", config=config)
    return {
        "completionReason": result.completion_reason.value,
        "status": result.status.value,
        "successCount": result.success_count,
        "failureCount": result.failure_count,
        "totalCount": result.total_count,
    }

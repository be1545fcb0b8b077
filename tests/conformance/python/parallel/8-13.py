"""8-13: parallel stops once failures exceed tolerated_failure_percentage=25 (of 4 branches)."""

from perdure.config import CompletionConfig, ParallelConfig
from perdure.execution import durable_execution


def fail(ctx):
    raise ValueError("branch failed")


@durable_execution
def handler(event, context):
    branches = [fail, fail, lambda ctx: "never", lambda ctx: "never"]
    config = ParallelConfig(max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_percentage=25))
    result = context.parallel(branches, name="tolerated-pct", config=config)
    return {
        "completionReason": result.completion_reason.value,
        "successCount": result.success_count,
        "failureCount": result.failure_count,
        "totalCount": result.total_count,
    }

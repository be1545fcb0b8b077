"""8-6: parallel fail-fast (tolerated_failure_count=0) stops after the first failed branch."""

from perdure.config import CompletionConfig, ParallelConfig
from perdure.execution import durable_execution


def fail(ctx):
    raise ValueError("branch 1 failed")


@durable_execution
def handler(event, context):
    config = ParallelConfig(max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=0))
    result = context.parallel([lambda ctx: "ok", fail, lambda ctx: "never"], name="failfast", config=config)
    return {
        "completionReason": result.completion_reason.value,
        "status": result.status.value,
        "successCount": result.success_count,
        "failureCount": result.failure_count,
        "totalCount": result.total_count,
    }

"""8-17: parallel min_successful=3 never reached: all branches run, ALL_COMPLETED, status FAILED."""

from perdure.config import CompletionConfig, ParallelConfig
from perdure.execution import durable_execution


def fail(ctx):
    raise ValueError("branch 1 failed")


@durable_execution
def handler(event, context):
    config = ParallelConfig(max_concurrency=1, completion_config=CompletionConfig(min_successful=3))
    result = context.parallel([lambda ctx: "b0", fail, lambda ctx: "b2"], name="min-not-reached", config=config)
    return {
        "completionReason": result.completion_reason.value,
        "status": result.status.value,
        "successCount": result.success_count,
        "failureCount": result.failure_count,
        "totalCount": result.total_count,
    }

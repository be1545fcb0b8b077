"""8-16: every parallel branch fails within tolerated_failure_count=3: ALL_COMPLETED, status FAILED."""

from perdure.config import CompletionConfig, ParallelConfig
from perdure.execution import durable_execution


def fail(ctx):
    raise ValueError("branch failed")


@durable_execution
def handler(event, context):
    config = ParallelConfig(max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=3))
    result = context.parallel([fail, fail, fail], name="all-fail", config=config)
    return {
        "completionReason": result.completion_reason.value,
        "status": result.status.value,
        "successCount": result.success_count,
        "failureCount": result.failure_count,
        "totalCount": result.total_count,
    }

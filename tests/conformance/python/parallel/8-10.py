"""8-10: parallel stops once failures exceed tolerated_failure_count=1."""

from perdure.config import CompletionConfig, ParallelConfig
from perdure.execution import durable_execution


def fail(ctx):
    raise ValueError("branch failed")


@durable_execution
def handler(event, context):
    config = ParallelConfig(max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=1))
    result = context.parallel([fail, fail, lambda ctx: "never"], name="tolerated-exceeded", config=config)
    return {
        "completionReason": result.completion_reason.value,
        "successCount": result.success_count,
        "failureCount": result.failure_count,
        "totalCount": result.total_count,
    }

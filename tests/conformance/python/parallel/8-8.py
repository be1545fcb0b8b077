"""8-8: parallel with min_successful=2 completes early after two branches succeed."""

from perdure.config import CompletionConfig, ParallelConfig
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    branches = [lambda ctx: "b0", lambda ctx: "b1", lambda ctx: "b2", lambda ctx: "b3"]
    config = ParallelConfig(max_concurrency=1, completion_config=CompletionConfig(min_successful=2))
    result = context.parallel(branches, name="min-successful", config=config)
    return {
        "completionReason": result.completion_reason.value,
        "successCount": result.success_count,
        "totalCount": result.total_count,
    }

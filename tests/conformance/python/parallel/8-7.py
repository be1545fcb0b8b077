"""8-7: throw_if_error() on the parallel result rethrows the branch failure; the execution fails."""

from perdure.config import CompletionConfig, ParallelConfig
from perdure.execution import durable_execution


def fail(ctx):
    raise ValueError("branch 0 failed")


@durable_execution
def handler(event, context):
    config = ParallelConfig(max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=0))
    result = context.parallel([fail, lambda ctx: "never"], name="throwing", config=config)
    result.throw_if_error()
    return result.get_results()

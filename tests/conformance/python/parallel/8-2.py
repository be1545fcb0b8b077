"""8-2: parallel called without an operation name; branches return directly."""

from perdure.config import ParallelConfig
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    result = context.parallel([lambda ctx: "alpha", lambda ctx: "beta"], config=ParallelConfig(max_concurrency=1))
    return result.get_results()

"""8-11: parallel with max_concurrency=2 returns results in branch order."""

from perdure.config import ParallelConfig
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    branches = [lambda ctx: "r0", lambda ctx: "r1", lambda ctx: "r2"]
    result = context.parallel(branches, name="concurrent", config=ParallelConfig(max_concurrency=2))
    return result.get_results()

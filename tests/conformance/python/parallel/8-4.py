"""8-4: parallel branches return a string, a number and an object; each keeps its type."""

from perdure.config import ParallelConfig
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    branches = [lambda ctx: "hello", lambda ctx: 42, lambda ctx: {"k": "v"}]
    result = context.parallel(branches, name="hetero", config=ParallelConfig(max_concurrency=1))
    return result.get_results()

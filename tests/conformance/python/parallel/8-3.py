"""8-3: parallel with named branch objects ("first", "second")."""

from perdure.config import ParallelBranch, ParallelConfig
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    branches = [
        ParallelBranch(func=lambda ctx: "one", name="first"),
        ParallelBranch(func=lambda ctx: "two", name="second"),
    ]
    result = context.parallel(branches, name="named", config=ParallelConfig(max_concurrency=1))
    return result.get_results()

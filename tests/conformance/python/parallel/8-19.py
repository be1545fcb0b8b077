"""8-19: parallel with max_concurrency=0 raises a validation error; the execution fails."""

from perdure.config import ParallelConfig
from perdure.execution import durable_execution


@durable_execution
def handler(event, context):
    branches = [lambda ctx: "b0", lambda ctx: "b1"]
    return context.parallel(branches, name="bad-concurrency", config=ParallelConfig(max_concurrency=0)).get_results()

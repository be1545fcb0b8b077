"""8-12: parallel with FLAT nesting: branch steps sit directly under the Parallel context."""

from perdure.config import NestingType, ParallelConfig
from perdure.execution import durable_execution


def branch_a(ctx):
    return ctx.step(lambda _: "fa", name="fa")


def branch_b(ctx):
    return ctx.step(lambda _: "fb", name="fb")


@durable_execution
def handler(event, context):
    config = ParallelConfig(max_concurrency=1, nesting_type=NestingType.FLAT)
    return context.parallel([branch_a, branch_b], name="flat", config=config).get_results()

"""8-1: parallel basic — two branches, each a single step, run one at a time."""

from perdure.config import ParallelConfig
from perdure.execution import durable_execution


def task_1(ctx):
    return ctx.step(lambda _: "task-1", name="task-1")


def task_2(ctx):
    return ctx.step(lambda _: "task-2", name="task-2")


@durable_execution
def handler(event, context):
    result = context.parallel([task_1, task_2], name="parallel", config=ParallelConfig(max_concurrency=1))
    return result.get_results()

"""1-17: an at-most-once-per-retry step without retries that logs the input and then crashes the
process; on replay the interrupted step is not run again and fails."""

import os

from perdure.config import StepConfig, StepSemantics
from perdure.execution import durable_execution
from perdure.retries import RetryPresets


@durable_execution
def handler(event, context):
    def at_most_once_flaky_step(step_context):
        step_context.logger.info(f"processing {event}")
        os._exit(1)  # the Lambda runtime dies mid-step

    return context.step(
        at_most_once_flaky_step,
        name="at_most_once_flaky_step",
        config=StepConfig(step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY, retry_strategy=RetryPresets.none()),
    )

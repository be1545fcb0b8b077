"""5-9: invoke, then wait 1 s; on the replay after the wait the invoke result comes from the checkpoint."""

import os

from perdure.config import Duration
from perdure.execution import durable_execution

TARGET_FUNCTION_NAME = "target_echo"


@durable_execution
def handler(event, context):
    result = context.invoke(os.environ["TARGET_FUNCTION_NAME"], event)
    context.wait(Duration.from_seconds(1))
    return result

"""5-7: invoke an echo target with a large payload (just under the 256 KiB payload limit)."""

import os

from perdure.execution import durable_execution

TARGET_FUNCTION_NAME = "target_echo"

LARGE_SIZE = 240 * 1024


@durable_execution
def handler(event, context):
    large_payload = {"data": "x" * LARGE_SIZE}
    result = context.invoke(os.environ["TARGET_FUNCTION_NAME"], large_payload)
    return {"receivedSize": len(result["data"])}

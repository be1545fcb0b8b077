"""5-8: invoke an echo target with a tenant id (tenant-isolated invocation)."""

import os

from perdure.config import InvokeConfig
from perdure.execution import durable_execution

TARGET_FUNCTION_NAME = "target_echo"


@durable_execution
def handler(event, context):
    return context.invoke(
        os.environ["TARGET_FUNCTION_NAME"],
        event["payload"],
        config=InvokeConfig(tenant_id=event["tenantId"]),
    )

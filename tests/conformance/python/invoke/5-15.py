"""5-15: invoke with a custom payload serdes that uppercases the payload before it is sent."""

import json
import os

from perdure.config import InvokeConfig
from perdure.execution import durable_execution
from perdure.serdes import SerDes

TARGET_FUNCTION_NAME = "target_echo"


class UppercaseSerDes(SerDes):
    def serialize(self, value, serdes_context):
        return json.dumps(value).upper()

    def deserialize(self, data, serdes_context):
        return json.loads(data)


@durable_execution
def handler(event, context):
    return context.invoke(
        os.environ["TARGET_FUNCTION_NAME"],
        event,
        config=InvokeConfig(serdes_payload=UppercaseSerDes()),
    )

"""5-16: invoke with a custom result serdes whose deserializer uppercases the raw result text."""

import json
import os

from perdure.config import InvokeConfig
from perdure.execution import durable_execution
from perdure.serdes import SerDes

TARGET_FUNCTION_NAME = "target_echo"


class UppercaseResultSerDes(SerDes):
    def serialize(self, value, serdes_context):
        return json.dumps(value)

    def deserialize(self, data, serdes_context):
        return data.upper()


@durable_execution
def handler(event, context):
    return context.invoke(
        os.environ["TARGET_FUNCTION_NAME"],
        event,
        config=InvokeConfig(serdes_result=UppercaseResultSerDes()),
    )

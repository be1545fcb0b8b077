"""8-15: parallel with a custom item_serdes that checkpoints {"wrapped": v} and reads back v."""

import json

from perdure.config import ParallelConfig
from perdure.execution import durable_execution
from perdure.serdes import SerDes


class WrappingSerDes(SerDes):
    def serialize(self, value, serdes_context):
        return json.dumps({"wrapped": value})

    def deserialize(self, data, serdes_context):
        return json.loads(data)["wrapped"]


@durable_execution
def handler(event, context):
    config = ParallelConfig(max_concurrency=1, item_serdes=WrappingSerDes())
    return context.parallel([lambda ctx: "x", lambda ctx: "y"], name="serde", config=config).get_results()

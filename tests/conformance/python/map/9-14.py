"""9-14: map with a custom item_serdes: each iteration is checkpointed as "wrapped:<value>"."""

from perdure.config import MapConfig
from perdure.execution import durable_execution
from perdure.serdes import SerDes


class WrappedSerDes(SerDes):
    PREFIX = "wrapped:"

    def serialize(self, value, serdes_context):
        return self.PREFIX + value

    def deserialize(self, data, serdes_context):
        return data.removeprefix(self.PREFIX)


@durable_execution
def handler(event, context):
    config = MapConfig(max_concurrency=1, item_serdes=WrappedSerDes())
    result = context.map(["x", "y"], lambda ctx, item, index, items: item.upper(), name="serdes", config=config)
    return result.get_results()

"""9-19: map with an operation-level serdes: the Map result is checkpointed as "OPSERDE:X,Y"."""

from perdure.concurrency.models import BatchItem, BatchItemStatus, BatchResult
from perdure.config import MapConfig
from perdure.execution import durable_execution
from perdure.serdes import ExtendedTypeSerDes, SerDes


class OpSerDes(SerDes):
    PREFIX = "OPSERDE:"

    def serialize(self, value, serdes_context):
        return self.PREFIX + ",".join(value.get_results())

    def deserialize(self, data, serdes_context):
        results = data.removeprefix(self.PREFIX).split(",")
        return BatchResult.from_items([BatchItem(i, BatchItemStatus.SUCCEEDED, r) for i, r in enumerate(results)])


@durable_execution
def handler(event, context):
    # serdes alone would also apply to items; keep the default serializer for them.
    config = MapConfig(max_concurrency=1, serdes=OpSerDes(), item_serdes=ExtendedTypeSerDes())
    result = context.map(["x", "y"], lambda ctx, item, index, items: item.upper(), name="op-serde", config=config)
    return result.get_results()

"""4-16: a callback with a custom serdes whose deserializer turns the payload into a number; returns
the number and its double."""

from perdure.config import CallbackConfig
from perdure.execution import durable_execution
from perdure.serdes import SerDes


class NumberSerDes(SerDes[int]):
    def serialize(self, value, serdes_context):
        return str(value)

    def deserialize(self, data, serdes_context):
        return int(data)


@durable_execution
def handler(event, context):
    callback = context.create_callback(name=event, config=CallbackConfig(serdes=NumberSerDes()))
    count = callback.result()
    return {"count": count, "doubled": count * 2}

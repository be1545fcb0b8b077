"""Serialization of operation results and inputs.

Same public names and the same wire format as
`aws_durable_execution_sdk_python.serdes`, so that a value checkpointed by one
SDK is read back by the other (protocol.md 3.6):

- None, str, int, float, bool, and lists holding only those (recursively),
  are compact JSON: `42`, `"hi"`, `[1,[2,null]]`;
- anything else is an envelope `{"t":<tag>,"v":<value>}` whose containers hold
  envelopes in turn, written with separators (",", ":"). Tags: n none, s str,
  i int, f float, b bool, B bytes (base64), u UUID, d Decimal (str),
  dt datetime (isoformat), D date (isoformat), t tuple, l list, m dict,
  br BatchResult (its to_dict(), as an m value).

Other types (set, frozenset, dataclasses, ...) raise SerDesError, as in the
official SDK: a custom SerDes is needed for them.
"""
from __future__ import annotations

import base64
import json
import json.scanner
import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from perdure.concurrency.models import BatchResult
from perdure.exceptions import DurableExecutionsError, ExecutionError, SerDesError

logger = logging.getLogger(__name__)

T = TypeVar("T")

TYPE_TOKEN: str = "t"
VALUE_TOKEN: str = "v"
_COMPACT = (",", ":")


class TypeTag(StrEnum):
    """Envelope type tags."""

    NONE = "n"
    STR = "s"
    INT = "i"
    FLOAT = "f"
    BOOL = "b"
    BYTES = "B"
    UUID = "u"
    DECIMAL = "d"
    DATETIME = "dt"
    DATE = "D"
    TUPLE = "t"
    LIST = "l"
    DICT = "m"
    BATCH_RESULT = "br"


_TAGS = {tag.value: tag for tag in TypeTag}   # TypeTag(x) without the cost of an enum call


@dataclass(frozen=True)
class EncodedValue:
    """A value with its tag; `value` may hold further EncodedValues."""

    tag: TypeTag
    value: Any


class Codec(Protocol):
    """Encodes some Python types to EncodedValue and back."""

    def encode(self, obj: Any) -> EncodedValue: ...

    def decode(self, tag: TypeTag, value: Any) -> Any: ...


def _none(_value: Any) -> None:
    return None


# What PrimitiveCodec.decode applies to each tag's value.
_LEAVES: dict[str, Callable[[Any], Any]] = {"n": _none, "s": str, "b": bool, "i": int, "f": float}


class PrimitiveCodec:
    """None, str, bool, int, float."""

    def encode(self, obj: Any) -> EncodedValue:  # noqa: PLR6301
        if obj is None:
            return EncodedValue(TypeTag.NONE, None)
        # bool before int: True is an int too
        for kind, tag in ((str, TypeTag.STR), (bool, TypeTag.BOOL), (int, TypeTag.INT), (float, TypeTag.FLOAT)):
            if isinstance(obj, kind):
                return EncodedValue(tag, obj)
        raise SerDesError(f"Unsupported primitive type: {type(obj)!r}")

    def decode(self, tag: TypeTag, value: Any) -> Any:  # noqa: PLR6301
        convert = _LEAVES.get(tag)
        if convert is None:
            raise SerDesError(f"Unknown primitive tag: {tag}")
        return convert(value)


class BytesCodec:
    """bytes, bytearray and memoryview, as standard base64 (decoded as bytes)."""

    def encode(self, obj: Any) -> EncodedValue:  # noqa: PLR6301
        return EncodedValue(TypeTag.BYTES, base64.b64encode(bytes(obj)).decode("utf-8"))

    def decode(self, tag: TypeTag, value: Any) -> Any:  # noqa: PLR6301
        if tag != TypeTag.BYTES:
            raise SerDesError(f"Expected BYTES tag, got {tag}")
        return base64.b64decode(value.encode("utf-8"))


class UuidCodec:
    """uuid.UUID, as its canonical string."""

    def encode(self, obj: Any) -> EncodedValue:  # noqa: PLR6301
        return EncodedValue(TypeTag.UUID, str(obj))

    def decode(self, tag: TypeTag, value: Any) -> Any:  # noqa: PLR6301
        if tag != TypeTag.UUID:
            raise SerDesError(f"Expected UUID tag, got {tag}")
        return uuid.UUID(value)


class DecimalCodec:
    """decimal.Decimal, as str() (exact)."""

    def encode(self, obj: Any) -> EncodedValue:  # noqa: PLR6301
        return EncodedValue(TypeTag.DECIMAL, str(obj))

    def decode(self, tag: TypeTag, value: Any) -> Any:  # noqa: PLR6301
        if tag != TypeTag.DECIMAL:
            raise SerDesError(f"Expected DECIMAL tag, got {tag}")
        return Decimal(value)


class DateTimeCodec:
    """datetime and date, as isoformat(). A trailing "Z" is read as UTC."""

    def encode(self, obj: Any) -> EncodedValue:  # noqa: PLR6301
        if isinstance(obj, datetime):  # before date: a datetime is a date too
            return EncodedValue(TypeTag.DATETIME, obj.isoformat())
        if isinstance(obj, date):
            return EncodedValue(TypeTag.DATE, obj.isoformat())
        raise SerDesError(f"Unsupported datetime type: {type(obj)!r}")

    def decode(self, tag: TypeTag, value: Any) -> Any:  # noqa: PLR6301
        if tag == TypeTag.DATETIME:
            if isinstance(value, str) and value.endswith("Z"):
                value = value[:-1] + "+00:00"
            return datetime.fromisoformat(value)
        if tag == TypeTag.DATE:
            return date.fromisoformat(value)
        raise SerDesError(f"Unknown datetime tag: {tag}")


class ContainerCodec(Codec):
    """list, tuple, dict and BatchResult; elements go back through the dispatcher."""

    def __init__(self) -> None:
        self._dispatcher: TypeCodec | None = None

    def set_dispatcher(self, dispatcher) -> None:
        self._dispatcher = dispatcher

    @property
    def dispatcher(self):
        if self._dispatcher is None:
            raise DurableExecutionsError("ContainerCodec not linked to a TypeCodec dispatcher.")
        return self._dispatcher

    def encode(self, obj: Any) -> EncodedValue:
        enc = self.dispatcher.encode
        if isinstance(obj, BatchResult):
            return EncodedValue(TypeTag.BATCH_RESULT, self.encode(obj.to_dict()).value)
        if isinstance(obj, list):
            return EncodedValue(TypeTag.LIST, [enc(v) for v in obj])
        if isinstance(obj, tuple):
            return EncodedValue(TypeTag.TUPLE, [enc(v) for v in obj])
        if isinstance(obj, dict):
            if any(isinstance(k, tuple) for k in obj):
                raise SerDesError("Tuple keys not supported")
            return EncodedValue(TypeTag.DICT, {k: enc(v) for k, v in obj.items()})
        raise SerDesError(f"Unsupported container type: {type(obj)!r}")

    def decode(self, tag: TypeTag, value: Any) -> Any:
        if tag == TypeTag.BATCH_RESULT:
            return BatchResult.from_dict(self.decode(TypeTag.DICT, value))
        if tag == TypeTag.DICT:
            if not isinstance(value, dict):
                raise SerDesError(f"Expected dict, got {type(value)}")
            return self._unwrap_into({}, value.items())
        if tag in (TypeTag.LIST, TypeTag.TUPLE):
            if not isinstance(value, list):
                raise SerDesError(f"Expected list, got {type(value)}")
            items = self._unwrap_into([None] * len(value), enumerate(value))
            return items if tag == TypeTag.LIST else tuple(items)
        raise SerDesError(f"Unknown container tag: {tag}")

    def _unwrap_into(self, out, elements):
        """out[key] = _unwrap(element) for each (key, element). Primitive
        envelopes, most of a document, are converted inline (what they mean is
        fixed by the format); anything else (not an envelope, another tag, a
        failing conversion) goes through _unwrap."""
        unwrap, dispatcher = self._unwrap, self.dispatcher
        for key, v in elements:
            try:
                out[key] = _LEAVES[v[TYPE_TOKEN]](v[VALUE_TOKEN])
            except (KeyError, TypeError):
                out[key] = unwrap(v, dispatcher)
        return out

    @staticmethod
    def _wrap(obj: Any, dispatcher) -> EncodedValue:
        return dispatcher.encode(obj)

    @staticmethod
    def _unwrap(obj: Any, dispatcher) -> Any:
        """An element back to Python: envelopes are decoded, anything else is kept as is."""
        if isinstance(obj, EncodedValue):
            return dispatcher.decode(obj.tag, obj.value)
        if isinstance(obj, dict) and TYPE_TOKEN in obj and VALUE_TOKEN in obj:
            return dispatcher.decode(TypeTag(obj[TYPE_TOKEN]), obj[VALUE_TOKEN])
        return obj


class TypeCodec(Codec):
    """Dispatches to the codec of each type and tag."""

    def __init__(self):
        self.primitive_codec = PrimitiveCodec()
        self.bytes_codec = BytesCodec()
        self.uuid_codec = UuidCodec()
        self.decimal_codec = DecimalCodec()
        self.datetime_codec = DateTimeCodec()
        self.container_codec = ContainerCodec()
        self.container_codec.set_dispatcher(self)
        self._by_tag: dict[TypeTag, Codec] = {}
        for codec, tags in (
            (self.primitive_codec, "n s b i f"),
            (self.bytes_codec, "B"),
            (self.uuid_codec, "u"),
            (self.decimal_codec, "d"),
            (self.datetime_codec, "dt D"),
            (self.container_codec, "l t m br"),
        ):
            self._by_tag.update((TypeTag(tag), codec) for tag in tags.split())

    def _codec_for(self, obj: Any) -> Codec | None:
        if obj is None or isinstance(obj, (str, bool, int, float)):
            return self.primitive_codec
        if isinstance(obj, (bytes, bytearray, memoryview)):
            return self.bytes_codec
        if isinstance(obj, uuid.UUID):
            return self.uuid_codec
        if isinstance(obj, Decimal):
            return self.decimal_codec
        if isinstance(obj, date):  # datetime included
            return self.datetime_codec
        if isinstance(obj, (list, tuple, dict, BatchResult)):
            return self.container_codec
        return None

    def encode(self, obj: Any) -> EncodedValue:
        codec = self._codec_for(obj)
        if codec is None:
            raise SerDesError(f"Unsupported type: {type(obj)}")
        return codec.encode(obj)

    def decode(self, tag: TypeTag, value: Any) -> Any:
        codec = self._by_tag.get(tag)
        if codec is None:
            raise SerDesError(f"Unknown type tag: {tag}")
        return codec.decode(tag, value)


TYPE_CODEC = TypeCodec()


@dataclass(frozen=True)
class SerDesContext:
    """What a SerDes is told about the value it handles."""

    operation_id: str = ""
    durable_execution_arn: str = ""


class SerDes(ABC, Generic[T]):
    """A serializer: value <-> str."""

    @abstractmethod
    def serialize(self, value: T, serdes_context: SerDesContext) -> str:
        pass

    @abstractmethod
    def deserialize(self, data: str, serdes_context: SerDesContext) -> T:
        pass

    @staticmethod
    def is_primitive(obj: Any) -> bool:
        """None, str, int, float, bool, or a list of such values (recursively)."""
        if obj is None or isinstance(obj, (str, int, float, bool)):
            return True
        return isinstance(obj, list) and all(SerDes.is_primitive(item) for item in obj)


class PassThroughSerDes(SerDes[T]):
    """The value is already the string (callback results use this by default)."""

    def serialize(self, value: T, _: SerDesContext) -> str:  # noqa: PLR6301
        return value  # type: ignore[return-value]

    def deserialize(self, data: str, _: SerDesContext) -> T:  # noqa: PLR6301
        return data  # type: ignore[return-value]


class JsonSerDes(SerDes[T]):
    """Plain json.dumps / json.loads (invoke payloads and results use this)."""

    def serialize(self, value: T, _: SerDesContext) -> str:  # noqa: PLR6301
        return json.dumps(value)

    def deserialize(self, data: str, _: SerDesContext) -> T:  # noqa: PLR6301
        return json.loads(data)


def _tagged(tag: str) -> Callable[[Any], dict]:
    return lambda value: {TYPE_TOKEN: tag, VALUE_TOKEN: value}


def _dict_to_json(obj: dict) -> dict:
    for key in obj:
        if isinstance(key, tuple):
            raise SerDesError("Tuple keys not supported")
    return {TYPE_TOKEN: "m", VALUE_TOKEN: {k: _to_json(v) for k, v in obj.items()}}


# The envelopes of the built-in JSON-like types, by exact type; anything else
# (subclasses included) goes through TYPE_CODEC. Same output, without an
# EncodedValue per node.
_TO_JSON: dict[type, Callable[[Any], Any]] = {
    str: _tagged("s"),
    int: _tagged("i"),
    bool: _tagged("b"),
    float: _tagged("f"),
    type(None): _tagged("n"),
    dict: _dict_to_json,
    list: lambda obj: {TYPE_TOKEN: "l", VALUE_TOKEN: [_to_json(v) for v in obj]},
    tuple: lambda obj: {TYPE_TOKEN: "t", VALUE_TOKEN: [_to_json(v) for v in obj]},
}


def _to_json(obj: Any) -> Any:
    """What _plain(TYPE_CODEC.encode(obj)) returns."""
    encode = _TO_JSON.get(type(obj))
    return encode(obj) if encode is not None else _plain(TYPE_CODEC.encode(obj))


class _NotPlain(Exception):  # noqa: N818  (a signal inside _copy_plain, never raised out of this module)
    pass


_IMMUTABLE_LEAVES = frozenset((str, int, float, bool, type(None)))


def _copy_plain(obj: Any) -> Any:
    kind = type(obj)
    if kind in _IMMUTABLE_LEAVES:
        return obj
    if kind is dict:
        out = {}
        for key, value in obj.items():
            if type(key) is not str:   # other keys come back as strings
                raise _NotPlain
            out[key] = _copy_plain(value)
        return out
    if kind is list:
        return [_copy_plain(v) for v in obj]
    if kind is tuple:
        return tuple([_copy_plain(v) for v in obj])
    raise _NotPlain


def round_trip_plain(value: Any) -> tuple[bool, Any]:
    """(True, EXTENDED_TYPES_SERDES.deserialize(EXTENDED_TYPES_SERDES.serialize(value)))
    computed without the text, for a value made only of dict with str keys,
    list, tuple, str, int, float, bool and None (exactly those types: a
    subclass may come back as its base); (False, None) for any other value."""
    try:
        return True, _copy_plain(value)
    except _NotPlain:
        return False, None


def _plain(obj: Any) -> Any:
    """EncodedValues to JSON-ready dicts, recursively."""
    if isinstance(obj, EncodedValue):
        return {TYPE_TOKEN: obj.tag, VALUE_TOKEN: _plain(obj.value)}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


_scan = json.scanner.make_scanner(json.JSONDecoder())


def _loads(data: str) -> Any:
    """json.loads(data), without its Python layers when data is one JSON
    value and nothing else (what a serializer wrote); anything else, errors
    included, is json.loads' own."""
    if type(data) is str:
        try:
            obj, end = _scan(data, 0)
        except StopIteration:
            pass
        else:
            if end == len(data):
                return obj
    return json.loads(data)


NOT_PLAIN = object()


def read_plain(plain: str) -> Any:
    """The value of a recorded result that perdure_vm_step_next rewrote
    without its envelopes: it parses straight into what the default serdes
    returns for the envelope. NOT_PLAIN if it does not parse: the recorded
    text then goes through deserialize()."""
    try:
        obj, end = _scan(plain, 0)
    except (StopIteration, ValueError, RecursionError):
        return NOT_PLAIN
    return obj if end == len(plain) else NOT_PLAIN


class ExtendedTypeSerDes(SerDes[T]):
    """The default serializer: compact JSON for primitives, tagged envelopes otherwise."""

    def __init__(self):
        self._codec = TYPE_CODEC

    def serialize(self, value: Any, context: SerDesContext | None = None) -> str:  # noqa: ARG002
        if SerDes.is_primitive(value):
            return json.dumps(value, separators=_COMPACT)
        if self._codec is TYPE_CODEC:
            return json.dumps(_to_json(value), separators=_COMPACT)
        return json.dumps(self._to_json_serializable(self._codec.encode(value)), separators=_COMPACT)

    def deserialize(self, data: str, context: SerDesContext | None = None) -> Any:  # noqa: ARG002
        obj = _loads(data)
        if not isinstance(obj, dict) and SerDes.is_primitive(obj):   # an envelope is never primitive
            return obj
        if not (isinstance(obj, dict) and TYPE_TOKEN in obj and VALUE_TOKEN in obj):
            raise SerDesError('Malformed envelope: missing "t" or "v" at root.')
        tag = _TAGS.get(obj[TYPE_TOKEN]) if type(obj[TYPE_TOKEN]) is str else None
        if tag is None:
            raise SerDesError(f'Unknown type tag: "{obj[TYPE_TOKEN]}"')
        return self._codec.decode(tag, obj[VALUE_TOKEN])

    def _to_json_serializable(self, obj: Any) -> Any:  # noqa: PLR6301
        return _plain(obj)


DEFAULT_JSON_SERDES: SerDes[Any] = JsonSerDes()
EXTENDED_TYPES_SERDES: SerDes[Any] = ExtendedTypeSerDes()


def serialize(serdes: SerDes[T] | None, value: T, operation_id: str, durable_execution_arn: str) -> str:
    """`serdes` (default EXTENDED_TYPES_SERDES) applied to value; any failure
    becomes ExecutionError (the execution fails, no retry)."""
    try:
        if not serdes:   # the default reads no SerDesContext
            return EXTENDED_TYPES_SERDES.serialize(value)
        return serdes.serialize(value, SerDesContext(operation_id, durable_execution_arn))
    except Exception as e:
        logger.exception("⚠️ Serialization failed for id: %s", operation_id)
        raise ExecutionError(f"Serialization failed for id: {operation_id}, error: {e}.") from e


def deserialize(serdes: SerDes[T] | None, data: str, operation_id: str | Callable[[], str],
                durable_execution_arn: str) -> T:
    """`serdes` (default EXTENDED_TYPES_SERDES) applied to data; any failure
    becomes ExecutionError.

    operation_id may be a function returning it, called only when the id is
    used (a custom serdes, a failure): replaying a step then takes no VM call
    for its id."""
    if serdes and callable(operation_id):
        operation_id = operation_id()
    try:
        if not serdes:   # the default reads no SerDesContext
            return EXTENDED_TYPES_SERDES.deserialize(data)
        return serdes.deserialize(data, SerDesContext(operation_id, durable_execution_arn))
    except Exception as e:
        if callable(operation_id):
            operation_id = operation_id()
        logger.exception("⚠️ Deserialization failed for id: %s", operation_id)
        raise ExecutionError(f"Deserialization failed for id: {operation_id}") from e

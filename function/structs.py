"""Fast, memoised conversion between protobuf Structs and Python dicts.

The function runs on every reconcile, and most reconciles see the same observed resources and
compose the same bodies as the last one. json_format's generic converters dominated a request's
cost, so conversions are memoised by their exact input (serialized bytes one way, the body's
repr the other). Structs are serialized deterministically, so output never depends on dict
order. The memos hold bytes only (marshal is the fastest way back to fresh dicts): a caller owns
every dict it gets and may change it.
"""

from __future__ import annotations

import marshal
from typing import Any

from google.protobuf import struct_pb2

from function.cache import BytesLru

# Bounded by what they hold: a few hundred settled composites' observed resources each.
_to_dict = BytesLru(16 << 20)
_to_bytes = BytesLru(16 << 20)


def value(v: struct_pb2.Value) -> Any:
    """A Value as a new Python value (not memoised)."""
    kind = v.WhichOneof("kind")
    if kind == "struct_value":
        return _struct(v.struct_value)
    if kind == "list_value":
        return [value(x) for x in v.list_value.values]
    if kind == "string_value":
        return v.string_value
    if kind == "number_value":
        return v.number_value
    if kind == "bool_value":
        return v.bool_value
    return None


def _struct(s: struct_pb2.Struct) -> dict:
    return {k: value(v) for k, v in s.fields.items()}


def to_dict(s: struct_pb2.Struct) -> dict:
    """The Struct as a new dict, owned by the caller."""
    key = s.SerializeToString(deterministic=True)
    blob = _to_dict.get(key)
    if blob is not None:
        return marshal.loads(blob)
    value = _struct(s)
    _to_dict.put(key, marshal.dumps(value))
    return value


def serialized(body: dict) -> bytes:
    """The body as the serialized Struct fill would set (None values dropped)."""
    s = struct_pb2.Struct()
    s.update(_drop_none(body))
    # Deterministic serialization sorts map keys: the bytes never depend on dict order.
    return s.SerializeToString(deterministic=True)


def fill(target: struct_pb2.Struct, body: dict) -> None:
    """Replace target's content with body, None values dropped."""
    # The builders are deterministic, so marshal (4x cheaper than repr, and a faithful encoding:
    # equal bytes are equal bodies) is a sound key; equal bodies built in another order only cost
    # a second entry with the same value. repr serves bodies marshal cannot encode (str enums).
    try:
        key: bytes | str = marshal.dumps(body)
    except ValueError:
        key = repr(body)
    blob = _to_bytes.get(key)
    if blob is None:
        blob = serialized(body)
        _to_bytes.put(key, blob)
    target.Clear()
    target.MergeFromString(blob)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value

"""A least-recently-used map of bytes to bytes, bounded by the bytes it holds.

Every cache of the function stores serialized values only (protobuf bytes, marshal bytes): a hit
is decoded into fresh objects, so no two requests ever share a mutable object, and the bound is
what the cache really holds, whatever the size of each entry.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable


class BytesLru:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[bytes | str, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes | str) -> bytes | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: bytes | str, value: bytes) -> None:
        cost = len(key) + len(value)
        if cost > self.max_bytes:
            return  # larger than the whole cache: keeping it would evict everything else
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= len(key) + len(old)
        self._entries[key] = value
        self.size += cost
        while self.size > self.max_bytes:
            k, v = self._entries.popitem(last=False)
            self.size -= len(k) + len(v)

    def get_or(self, key: bytes | str, make: Callable[[], bytes]) -> bytes:
        value = self.get(key)
        if value is None:
            value = make()
            self.put(key, value)
        return value

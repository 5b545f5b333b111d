"""The world's API server: objects by key, resource versions, field ownership, a simulated clock.

Server-side apply is reduced to what matters for the controllers played here: every leaf path
(lists are atomic, as `+listType=atomic` fields are) has at most one owner; an apply sets every
path it sends (forcing ownership) and removes the paths its manager applied last time and no
longer sends; an update by another manager takes ownership of the paths whose value it changes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Key = tuple[str, str, str, str]  # apiVersion, kind, namespace ("" if cluster-scoped), name
Path = tuple[str, ...]

START = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@dataclass
class Clock:
    """Simulated time: it moves only when the world says so, so every run is the same."""

    now: datetime = START

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)

    def stamp(self) -> str:
        return self.now.strftime("%Y-%m-%dT%H:%M:%SZ")


def key_of(obj: dict) -> Key:
    meta = obj.get("metadata") or {}
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


def flatten(obj: Any, prefix: Path = ()) -> dict[Path, Any]:
    """Leaf paths of a nested dict; lists and scalars are leaves."""
    if isinstance(obj, dict) and obj:
        out: dict[Path, Any] = {}
        for k, v in obj.items():
            out.update(flatten(v, (*prefix, k)))
        return out
    return {prefix: obj} if prefix else {}


def unflatten(flat: dict[Path, Any]) -> dict:
    out: dict = {}
    for path, value in sorted(flat.items(), key=lambda kv: len(kv[0])):
        node = out
        for k in path[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                break
        else:
            node[path[-1]] = copy.deepcopy(value)
    return out


def _drop_overlapping(flat: dict[Path, Any], path: Path) -> None:
    """A leaf replaces a subtree and a subtree replaces a leaf."""
    for p in [p for p in flat if p[: len(path)] == path or path[: len(p)] == p]:
        del flat[p]


@dataclass
class Store:
    clock: Clock = field(default_factory=Clock)
    objects: dict[Key, dict] = field(default_factory=dict)
    # Paths each (object, manager) owns; only the appliers' sets matter here.
    owned: dict[tuple[Key, str], set[Path]] = field(default_factory=dict)
    version: int = 0
    # Every write that changed an object's spec or metadata (or created it): (manager, key, what).
    writes: list[tuple[str, Key, str]] = field(default_factory=list)
    # Writes that changed only the status: observations (a latestRestorableTime moves on).
    status_writes: list[tuple[str, Key, str]] = field(default_factory=list)

    def get(self, key: Key) -> dict | None:
        obj = self.objects.get(key)
        return copy.deepcopy(obj) if obj is not None else None

    def list(self, api_version: str | None = None, kind: str | None = None) -> list[dict]:
        return [
            copy.deepcopy(o)
            for k, o in sorted(self.objects.items())
            if (api_version is None or k[0] == api_version) and (kind is None or k[1] == kind)
        ]

    def _commit(self, key: Key, new: dict, manager: str, what: str) -> bool:
        old = self.objects.get(key)
        if old is not None and _content(old) == _content(new):
            return False
        self.version += 1
        meta = new.setdefault("metadata", {})
        meta["resourceVersion"] = str(self.version)
        if old is None:
            meta.setdefault("uid", f"uid-{self.version:06d}")
            meta.setdefault("creationTimestamp", self.clock.stamp())
        self.objects[key] = new
        if old is not None and _content(old, status=False) == _content(new, status=False):
            self.status_writes.append((manager, key, what))
            return True
        if old is not None:
            # Say what changed: a timeline names the fields two managers fight over.
            a, b = flatten(_content(old, False)), flatten(_content(new, False))
            changed = sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p))
            shown = ", ".join(f"{'.'.join(p)}={b.get(p)!r}" for p in changed[:2])
            what = f"{what} [{shown}]"
        self.writes.append((manager, key, what))
        return True

    def update(self, obj: dict, manager: str, what: str = "update") -> bool:
        """A whole-object write (an Update): takes ownership of every path whose value changed."""
        key = key_of(obj)
        before = flatten(self.objects.get(key) or {})
        after = flatten(obj)
        changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
        for (k, m), paths in self.owned.items():
            if k == key and m != manager:
                paths -= changed
        return self._commit(key, copy.deepcopy(obj), manager, what)

    def apply(self, obj: dict, manager: str, what: str = "apply") -> bool:
        """Server-side apply with force: returns whether the object changed."""
        key = key_of(obj)
        current = flatten(self.objects.get(key) or {})
        sent = flatten(obj)
        for path in self.owned.get((key, manager), set()) - set(sent):
            current.pop(path, None)
        for path, value in sent.items():
            _drop_overlapping(current, path)
            current[path] = value
        for (k, m), paths in self.owned.items():
            if k == key and m != manager:
                paths -= set(sent)
        self.owned[(key, manager)] = set(sent)
        return self._commit(key, unflatten(current), manager, what)

    def delete(self, key: Key, manager: str) -> None:
        if self.objects.pop(key, None) is not None:
            self.writes.append((manager, key, "deleted"))
        for k in [k for k in self.owned if k[0] == key]:
            del self.owned[k]


def _content(obj: dict, status: bool = True) -> dict:
    out = copy.deepcopy(obj)
    (out.get("metadata") or {}).pop("resourceVersion", None)
    if not status:
        out.pop("status", None)
    return out

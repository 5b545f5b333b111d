"""Deterministic names: RDS identifiers, Kubernetes names and snapshot identifiers."""

from __future__ import annotations

import functools
import hashlib
import re

RDS_ID_MAX = 63  # DB instance identifier limit
_HASH = 6


def digest(*parts: str, length: int = _HASH) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


# Every request names its objects again; names are pure functions of a few short strings.
@functools.lru_cache(maxsize=4096)
def rds_identifier(namespace: str, name: str, *salt: str, limit: int = RDS_ID_MAX) -> str:
    """An RDS-valid identifier (letter first, [a-z0-9-], no "--", no trailing "-") for ns/name.

    The hash of the exact namespace and name keeps "a-b"/"c" and "a"/"b-c" apart.
    """
    base = f"{namespace}-{name}" if namespace else name
    clean = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", base.lower())).strip("-")
    if not clean or not clean[0].isalpha():
        clean = f"db-{clean}".rstrip("-")
    suffix = digest(namespace, name, *salt)
    head = clean[: limit - len(suffix) - 1].rstrip("-")
    return f"{head}-{suffix}"


def replica_identifier(identifier: str, index: int) -> str:
    """The identifier of read replica `index` of the primary `identifier`, at most 63 characters.

    Short identifiers keep the plain `<identifier>-r<index>` (replicas that exist keep their name);
    a long one drops characters of its readable head, never of its hash, so it stays distinct.
    """
    suffix = f"-r{index}"
    plain = f"{identifier}{suffix}"
    if len(plain) <= RDS_ID_MAX:
        return plain
    head, _, digest_part = identifier.rpartition("-")
    head = head[: RDS_ID_MAX - len(suffix) - len(digest_part) - 1].rstrip("-")
    return f"{head}-{digest_part}{suffix}"


def final_snapshot_identifier(identifier: str, uid: str) -> str:
    """Unique per composite: a database re-created under the same name gets a new final snapshot."""
    return f"{identifier}-final-{digest(uid, length=8)}"

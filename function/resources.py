"""Reading observed state and writing desired state, the same way for every kind."""

from __future__ import annotations

from typing import Any

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import structs

# Metadata the API server owns; it must not be sent back as desired state.
_SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "ownerReferences",
    "finalizers",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
)


def observed_resources(req: fnv1.RunFunctionRequest) -> dict[str, dict]:
    """Observed composed resources by name. Read-only: the dicts may be shared (structs.py)."""
    return {name: structs.to_dict(r.resource) for name, r in sorted(req.observed.resources.items())}


def dig(obj: Any, *path: str, default: Any = None) -> Any:
    """obj[path[0]][path[1]]..., or default where any step is missing or not a mapping."""
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return default
        obj = obj[key]
    return obj


def is_ready(observed: dict | None) -> bool:
    """A managed resource is ready when its Ready condition is True; anything missing means not."""
    for c in dig(observed, "status", "conditions", default=[]) or []:
        if isinstance(c, dict) and c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def set_desired(
    rsp: fnv1.RunFunctionResponse, name: str, body: dict, ready: bool | None = None
) -> None:
    target = rsp.desired.resources[name]
    structs.fill(target.resource, body)
    if ready is not None:
        target.ready = fnv1.READY_TRUE if ready else fnv1.READY_FALSE


# Kinds without a Ready condition: usable as soon as they exist.
ALWAYS_READY = {"ProviderConfig", "Usage", "Secret"}


def keep_observed(rsp: fnv1.RunFunctionResponse, observed: dict[str, dict]) -> None:
    """Desire exactly what exists, so that nothing is changed or deleted while input is invalid."""
    for name, body in observed.items():
        meta = {k: v for k, v in (body.get("metadata") or {}).items() if k not in _SERVER_METADATA}
        kept = {k: v for k, v in body.items() if k not in ("status", "metadata")}
        kept["metadata"] = meta
        set_desired(rsp, name, kept, ready=body.get("kind") in ALWAYS_READY or is_ready(body))


def set_status(rsp: fnv1.RunFunctionResponse, status: dict) -> None:
    composite = rsp.desired.composite.resource
    kept = {k: v for k, v in structs.to_dict(composite).items() if k != "status"}
    structs.fill(composite, {**kept, "status": status})

"""Reading observed state and writing desired state, the same way for every kind."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import naming, structs

if TYPE_CHECKING:  # specs imports (through conditions, parameters) this module
    from function.specs import Status

# Annotations and labels the function composes: its own prefix, and the external-name on the
# kinds it names itself (the AWS snapshot and vault names, the SQL role and user names). On every
# other kind the external-name is the provider's (upjet rewrites an rds Instance's to the DBI
# resource id): Crossplane applies composed resources with forced ownership, so re-sending it, or
# crossplane.io/external-create-*, would fight the provider.
# Management policies of every AWS resource the function composes. Without LateInitialize the
# provider never copies what AWS reports (iops, storageThroughput, parameterGroupName, a group's
# parameters, ...) into forProvider: a late-initialized `iops: 3000` makes AWS refuse gp3 storage
# of 400 GiB or more (terraform-provider-aws#28382), and a late-initialized parameter group of the
# old family is sent back after a major upgrade. The function owns every field it sets.
MANAGEMENT_POLICIES = ["Observe", "Create", "Update", "Delete"]
NAMED_BY_FUNCTION = {"Snapshot", "Vault", "Role", "User", "ParameterGroup"}


class Observed(Mapping[str, dict]):
    """Observed composed resources by name, converted to dicts only when read, once per request.
    Readiness is read from the Struct directly."""

    def __init__(self, req: fnv1.RunFunctionRequest) -> None:
        self._resources = req.observed.resources
        self._names = sorted(self._resources)
        self._dicts: dict[str, dict] = {}
        self._ready: dict[str, bool] = {}

    def __getitem__(self, name: str) -> dict:
        if name not in self._dicts:
            if name not in self._resources:
                raise KeyError(name)
            self._dicts[name] = structs.to_dict(self._resources[name].resource)
        return self._dicts[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._resources

    def ready(self, name: str) -> bool:
        """Like is_ready(self[name]), without converting the whole resource; once per request."""
        if name not in self._ready:
            self._ready[name] = (
                is_ready(self._dicts[name]) if name in self._dicts else self._struct_ready(name)
            )
        return self._ready[name]

    def _struct_ready(self, name: str) -> bool:
        if name not in self._resources:
            return False
        fields = self._resources[name].resource.fields
        if "status" not in fields:
            return False
        status = fields["status"].struct_value.fields
        if "conditions" not in status:
            return False
        for c in status["conditions"].list_value.values:
            cf = c.struct_value.fields
            if "type" in cf and cf["type"].string_value == "Ready":
                return "status" in cf and cf["status"].string_value == "True"
        return False


def observed_resources(req: fnv1.RunFunctionRequest) -> Observed:
    return Observed(req)


def dig(obj: Any, *path: str, default: Any = None) -> Any:
    """obj[path[0]][path[1]]..., or default where any step is missing or not a mapping, or where
    a default is given and the value found is not of its type: `default={}` always gives a
    mapping, `default=[]` a list, `default=""` a string. What a provider reports, and the
    statuses other kinds read, are the function's input too: a value of an unexpected type reads
    as absent rather than failing the whole answer."""
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return default
        obj = obj[key]
    if default is not None and not isinstance(obj, type(default)):
        return default
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


def set_desired_serialized(
    rsp: fnv1.RunFunctionResponse, name: str, body: bytes, ready: bool | None = None
) -> None:
    """set_desired with the body already serialized (structs.serialized)."""
    target = rsp.desired.resources[name]
    target.resource.Clear()
    target.resource.MergeFromString(body)
    if ready is not None:
        target.ready = fnv1.READY_TRUE if ready else fnv1.READY_FALSE


# Kinds without a Ready condition: usable as soon as they exist.
ALWAYS_READY = {"ProviderConfig", "Usage", "Secret"}


def keep_observed(rsp: fnv1.RunFunctionResponse, observed: Mapping[str, dict]) -> None:
    """Desire exactly what exists, so that nothing is changed or deleted while input is invalid."""
    for name, body in observed.items():
        keep(rsp, name, body)


def keep(rsp: fnv1.RunFunctionResponse, name: str, body: dict) -> None:
    """Desire one observed resource exactly as it exists (its spec, the function's metadata)."""
    kept = {k: v for k, v in body.items() if k not in ("status", "metadata")}
    kept["metadata"] = own_metadata(body)
    ready = dig(body, "kind", default="") in ALWAYS_READY or is_ready(body)
    set_desired(rsp, name, kept, ready=ready)


def own_metadata(body: dict) -> dict:
    """The metadata of an observed resource that the function itself composes: its name and
    namespace, its own labels and annotations; never what the API server, Crossplane or the
    provider wrote (uid, managedFields, ownerReferences, crossplane.io/* labels, ...)."""
    meta = dig(body, "metadata", default={})
    own = {k: meta[k] for k in ("name", "namespace") if k in meta}
    labels = {
        k: v for k, v in dig(meta, "labels", default={}).items() if k.startswith(naming.OWN_PREFIX)
    }
    annotations = {
        k: v
        for k, v in dig(meta, "annotations", default={}).items()
        if k.startswith(naming.OWN_PREFIX)
        or (k == naming.EXTERNAL_NAME and dig(body, "kind", default="") in NAMED_BY_FUNCTION)
    }
    if body.get("kind") == "Instance":
        # The provider's own name, exactly as the composing path sends it (see below).
        annotations.update(provider_external_name(body).get("annotations", {}))
    if labels:
        own["labels"] = labels
    if annotations:
        own["annotations"] = annotations
    return own


def provider_external_name(observed: dict | None) -> dict:
    """Metadata naming the external resource the way the provider does, or nothing.

    The provider owns an rds Instance's external name: the DBI resource id (upjet
    IdentifierFromProvider), which it writes after creating and after every observe;
    forProvider.identifier names the database. Composing anything else (the identifier, as
    earlier versions did) makes an endless update loop (provider-upjet-aws#2232). Once AWS
    reports the resource id, the function sends exactly that value: it never fights the
    provider, and an instance composed by an earlier version keeps its name (server-side apply
    would delete an annotation the function stopped sending, and the provider would then try
    to create the database again).
    """
    at = dig(observed, "status", "atProvider", default={}) or {}
    rid = at.get("id") or at.get("resourceId")
    return {"annotations": {naming.EXTERNAL_NAME: rid}} if isinstance(rid, str) and rid else {}


def set_status(rsp: fnv1.RunFunctionResponse, status: Status) -> None:
    """The composite's whole status, built with its kind's model (function/specs.py). It is
    server-side applied: every field is sent on every path, or it vanishes from the object."""
    composite = rsp.desired.composite.resource
    kept = {k: v for k, v in structs.to_dict(composite).items() if k != "status"}
    structs.fill(composite, {**kept, "status": status.wire()})

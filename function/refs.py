"""Resolving `instanceRef` (an instance or a Restore in the same namespace) through Crossplane
required resources: claims by their composite's claim labels, namespaced XRs by name."""

from __future__ import annotations

from dataclasses import dataclass

from crossplane.function import response
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import engines, naming
from function.conditions import Problem, Reason
from function.request import Request
from function.resources import dig, is_ready

API_VERSION = "rds.aws.anynines.com/v1"
RESTORE = "Restore"


@dataclass(frozen=True)
class Instance:
    body: dict  # the instance's (or Restore's) composite, as Crossplane returned it
    kind: str  # PostgresqlInstance, ..., Restore
    name: str
    engine: str

    @property
    def described(self) -> str:
        return f'{self.kind} "{self.name}"'

    def status(self, *path: str, default=None):
        return dig(self.body, "status", *path, default=default)

    @property
    def provider_config(self) -> str:
        return self.status("sqlProviderConfig", default="")

    @property
    def dbname(self) -> str:
        return self.status("dbname", default="")

    @property
    def endpoint(self) -> str | None:
        return self.status("endpoint", default="") or None

    @property
    def port(self) -> int | None:
        port = self.status("port")
        return int(port) if isinstance(port, int | float) else None

    @property
    def deleting(self) -> bool:
        return bool(dig(self.body, "metadata", "deletionTimestamp"))

    @property
    def ready(self) -> bool:
        return is_ready(self.body) and bool(self.provider_config and self.endpoint)


@dataclass(frozen=True)
class Target:
    instance: Instance | None = None
    problem: Problem | None = None


def _engine(kind: str, body: dict) -> str:
    """An instance kind's engine; a Restore's is the one its status reports."""
    e = engines.of_kind(kind)
    return e.name if e else dig(body, "status", "engine", default="")


def _requirement(kind: str) -> str:
    return f"instance-ref-{kind.lower()}"


def resolve(
    r: Request,
    rsp: fnv1.RunFunctionResponse,
    name: str,
    engine: str | None,
    need_ready: bool = True,
    kind: str | None = None,
    field: str = "spec.instanceRef",
) -> Target:
    """The instance or Restore `name` names: of `kind` if given, of `engine` if given."""
    # All kinds, also when the type is given, so that a wrong type is reported as a mismatch.
    kinds = [*sorted(e.kind for e in engines.ENGINES.values()), RESTORE]
    m = r.mode
    for k in kinds:
        if m.namespaced:
            response.require_resources(
                rsp,
                _requirement(k),
                API_VERSION,
                k,
                match_name=name,
                namespace=m.owner_namespace,
            )
        else:
            response.require_resources(
                rsp,
                _requirement(k),
                API_VERSION,
                f"X{k}",
                match_labels={naming.CLAIM_NAME: name, naming.CLAIM_NAMESPACE: m.owner_namespace},
            )
    where = f'in namespace "{m.owner_namespace}"'
    kind_field = field.removesuffix("instanceRef") + "instanceKind"
    prefix = f"cannot use {r.described()}"
    fetched = {k: r.required(_requirement(k)) for k in kinds}
    if any(v is None for v in fetched.values()):
        return Target(
            problem=Problem(field, Reason.INSTANCE_RESOLVING, f'looking up "{name}" {where}')
        )
    found = [
        Instance(body, k, name, _engine(k, body))
        for k, items in fetched.items()
        for body in items or []
        if kind is None or k == kind
    ]
    # A claim deleted and made again: its old composite may still be going; the new one counts.
    found = [i for i in found if not i.deleting] or found
    if not found:
        wanted = [kind] if kind else kinds
        return Target(
            problem=Problem(
                field,
                Reason.INSTANCE_NOT_FOUND,
                f'{prefix}: {field} "{name}": no {" or ".join(wanted)} of that name '
                f"{where}; allowed: the name of one of those in this namespace (waiting for it)",
            )
        )
    if engine:
        matching = [i for i in found if i.engine == engine]
        if not matching:
            inst = found[0]
            return Target(
                problem=Problem(
                    "spec.serviceInstanceType",
                    Reason.INSTANCE_TYPE_MISMATCH,
                    f'{prefix}: spec.serviceInstanceType "{engine}" does not match '
                    f'{inst.described}, which is {inst.engine}; allowed: "{inst.engine}" or unset',
                )
            )
        found = matching
    if len(found) > 1 and len({i.kind for i in found}) == 1:
        # Two composites of one claim name and kind (one left behind by an earlier claim, say):
        # no field of the spec can tell them apart.
        return Target(
            problem=Problem(
                field,
                Reason.INSTANCE_AMBIGUOUS,
                f'{prefix}: {field} "{name}" matches {len(found)} {found[0].kind} composites '
                f"{where}; allowed: exactly one (delete the composite left from an earlier "
                "claim)",
            )
        )
    if len(found) > 1:
        return Target(
            problem=Problem(
                kind_field,
                Reason.INSTANCE_AMBIGUOUS,
                f'{prefix}: {field} "{name}" names a '
                f"{' and a '.join(i.kind for i in found)} {where}; allowed: set {kind_field} "
                f"to one of {', '.join(i.kind for i in found)}",
            )
        )
    inst = found[0]
    if need_ready and inst.deleting:
        # A new user or snapshot of a database being deleted would fail in the provider or be
        # gone with it; what exists is kept meanwhile.
        return Target(
            problem=Problem(
                field,
                Reason.INSTANCE_NOT_READY,
                f"{prefix}: {inst.described} is being deleted; allowed: an instance that is not "
                "being deleted (waiting)",
            )
        )
    if need_ready and not inst.ready:
        return Target(
            problem=Problem(
                field,
                Reason.INSTANCE_NOT_READY,
                f"{prefix}: {inst.described} is not ready yet (waiting for it to be available)",
            )
        )
    return Target(instance=inst)

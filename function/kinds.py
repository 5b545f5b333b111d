"""The kinds developers apply, in one table: routing (fn.py), references, generation (XRDs,
Compositions, docs) and the tests all read it.

A kind's row says what it is called, the engine it runs (instances), its spec and status models,
the condition types it owns, the function that composes it, and what its XRD adds to the schema
(CEL rules, printer columns, connection keys).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from pydantic import BaseModel

from function import (
    backup,
    binding,
    conditions,
    engines,
    extension_lifecycle,
    instance,
    naming,
    resources,
    restore,
    schedule,
    sql,
)
from function.conditions import Reason, Type
from function.request import Request
from function.specs import (
    BackupRequestSpec,
    BackupRequestStatus,
    BindingSpec,
    BindingStatus,
    InstanceSpec,
    InstanceStatus,
    RestoreSpec,
    RestoreStatus,
)

Handler = Callable[[Request, fnv1.RunFunctionResponse], None]


@dataclass(frozen=True)
class Kind:
    claim: str  # PostgresqlInstance: the claim's kind, and the XR's in namespaced mode
    plural: str  # postgresqlinstances
    spec: type[BaseModel]
    status: type[BaseModel]
    # The condition types the kind owns: every answer carries each of them (conditions.complete).
    conditions: tuple[Type, ...]
    handler: Handler
    rules: tuple[dict, ...] = ()
    columns: tuple[dict, ...] = ()
    connection_keys: tuple[str, ...] = ()
    engine: str | None = None  # instances: the engine they run

    @property
    def composite(self) -> str:
        return f"X{self.claim}"

    @property
    def composite_plural(self) -> str:
        return f"x{self.plural}"

    @property
    def xrd_name(self) -> str:
        return f"{self.composite_plural}.{naming.GROUP}"


def _optional(expr: str, path: list[str], default: str) -> str:
    """CEL for `expr.a.b.c` where every step may be absent, with a default."""
    checks = " && ".join(f"has({'.'.join([expr, *path[: i + 1]])})" for i in range(len(path)))
    return f"({checks} ? {'.'.join([expr, *path])} : {default})"


# No rule compares with oldSelf (a transition rule): the API server sees only the last stored
# spec, never what runs. After the function refused a stored edit (17.5 -> 17.6 not offered), a
# rule "no downgrade" would refuse the way back to the running 17.5, and an immutable instanceRef
# would keep a typo that never resolved forever. The function refuses changes against what exists
# (observed resources) instead: downgrades, database name, region, encryption, a binding's
# instance and role, a Backup's instance. See README "Conditions and events".
INSTANCE_RULES = (
    {
        "rule": "!self.plan.startsWith('single-') || "
        + _optional("self", ["config", "compute", "replicas", "count"], "0")
        + " == 0",
        "message": "spec.config.compute.replicas needs a cluster-* plan; single-* plans have no "
        "read replicas",
        "fieldPath": ".config.compute.replicas",
        "reason": "FieldValueForbidden",
    },
)

INSTANCE_COLUMNS = (
    {"name": "VERSION", "type": "string", "jsonPath": ".spec.serviceVersion"},
    {"name": "PLAN", "type": "string", "jsonPath": ".spec.plan"},
    {"name": "ENDPOINT", "type": "string", "jsonPath": ".status.endpoint"},
    {"name": "PHASE", "type": "string", "jsonPath": ".status.phase", "priority": 1},
    {"name": "BACKUP", "type": "string", "jsonPath": ".status.backup.schedule", "priority": 1},
)

BINDING_RULES: tuple[dict, ...] = ()

BINDING_COLUMNS = (
    {"name": "INSTANCE", "type": "string", "jsonPath": ".spec.instanceRef"},
    {"name": "ROLE", "type": "string", "jsonPath": ".spec.role"},
    {"name": "SECRET", "type": "string", "jsonPath": ".status.binding.name"},
    {"name": "USER", "type": "string", "jsonPath": ".status.username", "priority": 1},
)

BACKUP_RULES: tuple[dict, ...] = ()
BACKUP_COLUMNS = (
    {"name": "INSTANCE", "type": "string", "jsonPath": ".spec.instanceRef"},
    {"name": "STATE", "type": "string", "jsonPath": ".status.phase"},
    {"name": "SNAPSHOT", "type": "string", "jsonPath": ".status.snapshotIdentifier"},
    {"name": "ARN", "type": "string", "jsonPath": ".status.snapshotArn", "priority": 1},
)


def _count(*conditions: str) -> str:
    return " + ".join(f"({c} ? 1 : 0)" for c in conditions)


RESTORE_RULES = (
    {
        "rule": _count("has(self.backupRef)", "has(self.backupArn)", "has(self.pointInTime)")
        + " == 1",
        "message": "exactly one source: spec.backupRef, spec.backupArn or spec.pointInTime",
    },
    {
        "rule": "!has(self.backupArn) || (has(self.serviceInstanceType) && has(self.plan))",
        "message": "spec.backupArn needs spec.serviceInstanceType and spec.plan",
        "fieldPath": ".backupArn",
    },
    {
        "rule": "!has(self.pointInTime) || "
        + _count(
            "has(self.pointInTime.restoreTime)",
            "has(self.pointInTime.useLatestRestorableTime) && "
            "self.pointInTime.useLatestRestorableTime",
        )
        + " == 1",
        "message": "spec.pointInTime needs exactly one of restoreTime and "
        "useLatestRestorableTime: true",
        "fieldPath": ".pointInTime",
    },
)
RESTORE_COLUMNS = (
    {"name": "VERSION", "type": "string", "jsonPath": ".status.version"},
    {"name": "PLAN", "type": "string", "jsonPath": ".status.plan"},
    {"name": "ENDPOINT", "type": "string", "jsonPath": ".status.endpoint"},
    {"name": "PHASE", "type": "string", "jsonPath": ".status.phase", "priority": 1},
)

KINDS: tuple[Kind, ...] = (
    *(
        Kind(
            e.kind,
            f"{e.kind.lower()}s",
            InstanceSpec,
            InstanceStatus,
            # Extensions are reported where an engine has them.
            (Type.SPEC_VALID, Type.EXTENSIONS_READY) if e.extensions else (Type.SPEC_VALID,),
            instance.run,
            INSTANCE_RULES,
            INSTANCE_COLUMNS,
            engine=e.name,
        )
        for e in engines.ENGINES.values()
    ),
    Kind(
        "ServiceBinding",
        "servicebindings",
        BindingSpec,
        BindingStatus,
        (Type.SPEC_VALID, Type.INSTANCE_READY, Type.CREDENTIALS_READY),
        binding.run,
        BINDING_RULES,
        BINDING_COLUMNS,
        binding.SECRET_KEYS + binding.OPTIONAL_KEYS,
    ),
    Kind(
        "Backup",
        "backups",
        BackupRequestSpec,
        BackupRequestStatus,
        (Type.SPEC_VALID, Type.INSTANCE_READY, Type.SNAPSHOT_READY),
        backup.run,
        BACKUP_RULES,
        BACKUP_COLUMNS,
    ),
    Kind(
        "Restore",
        "restores",
        RestoreSpec,
        RestoreStatus,
        (Type.SPEC_VALID, Type.SOURCE_READY, Type.EXTENSIONS_READY),
        restore.run,
        RESTORE_RULES,
        RESTORE_COLUMNS,
    ),
)

_BY_NAME = {k.claim: k for k in KINDS}


def get(kind: str) -> Kind | None:
    """The row of a claim kind or a composite kind (XPostgresqlInstance), else None."""
    return _BY_NAME.get(kind.removeprefix("X"))


# The names the function gives what it composes, for any kind.
OWN_NAMES = frozenset(
    {
        instance.PRIMARY,
        instance.SQL_PROVIDER_CONFIG,
        instance.DELETION_PROTECTION,
        schedule.VAULT,
        schedule.PLAN,
        schedule.SELECTION,
        *sql.GROUP_RESOURCES,
        binding.USER,
        binding.GRANT,
        binding.USAGE,
        binding.SECRET,
        backup.SNAPSHOT,
    }
)
OWN_PREFIXES = (
    instance.REPLICA_PREFIX,
    instance.PARAMETER_GROUP_PREFIX,
    extension_lifecycle.KEY_PREFIX,
    extension_lifecycle.RELEASE_PREFIX,
)


def keep_unknown(r: Request, rsp: fnv1.RunFunctionResponse) -> None:
    """Keep, as it is, every observed resource of a name the function never composes and no
    earlier step of the pipeline desires: a newer version's (the function rolled back) or a
    removed step's. Left out, Crossplane would delete it; what it is, only a person can tell."""
    for name in r.observed:
        if name in rsp.desired.resources or name in OWN_NAMES or name.startswith(OWN_PREFIXES):
            continue
        body = r.observed[name]
        resources.keep(rsp, name, body)
        kind = resources.dig(body, "kind", default="")
        external = resources.dig(body, "metadata", "name", default="")
        conditions.warn(
            rsp,
            Reason.UNKNOWN_RESOURCE_KEPT,
            f'{r.described()}: composed resource "{name}" ({kind} "{external}") is not one this '
            "version of function-rds composes; it is kept as it is (delete it by hand if it is "
            "no longer wanted)",
        )

"""XRDs, Compositions and the Input CRD, generated from the pydantic models (one source of truth).

`python -m function.generate` writes them to xrds/, compositions/ and package/input/; a test fails
when the committed files differ from what this module produces.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from function import binding, inputs, openapi
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

GROUP = "rds.aws.anynines.com"
VERSION = "v1"
FUNCTION_NAME = "function-rds"
CATEGORIES = ["klutch", "rds"]


@dataclass(frozen=True)
class Kind:
    claim: str  # PostgresqlInstance
    plural: str  # postgresqlinstances
    spec: type[BaseModel]
    status: type[BaseModel]
    rules: tuple[dict, ...]
    columns: tuple[dict, ...]
    connection_keys: tuple[str, ...] = ()

    @property
    def composite(self) -> str:
        return f"X{self.claim}"

    @property
    def composite_plural(self) -> str:
        return f"x{self.plural}"

    @property
    def xrd_name(self) -> str:
        return f"{self.composite_plural}.{GROUP}"


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

KINDS = (
    Kind(
        "PostgresqlInstance",
        "postgresqlinstances",
        InstanceSpec,
        InstanceStatus,
        INSTANCE_RULES,
        INSTANCE_COLUMNS,
    ),
    Kind(
        "MysqlInstance",
        "mysqlinstances",
        InstanceSpec,
        InstanceStatus,
        INSTANCE_RULES,
        INSTANCE_COLUMNS,
    ),
    Kind(
        "MariadbInstance",
        "mariadbinstances",
        InstanceSpec,
        InstanceStatus,
        INSTANCE_RULES,
        INSTANCE_COLUMNS,
    ),
    Kind(
        "ServiceBinding",
        "servicebindings",
        BindingSpec,
        BindingStatus,
        BINDING_RULES,
        BINDING_COLUMNS,
        binding.SECRET_KEYS + binding.OPTIONAL_KEYS,
    ),
    Kind("Backup", "backups", BackupRequestSpec, BackupRequestStatus, BACKUP_RULES, BACKUP_COLUMNS),
    Kind("Restore", "restores", RestoreSpec, RestoreStatus, RESTORE_RULES, RESTORE_COLUMNS),
)


def xrd(kind: Kind, namespaced: bool = False) -> dict:
    """The LegacyCluster XRD (with claims), or the Crossplane v2 Namespaced one."""
    spec = openapi.structural(kind.spec)
    if kind.rules:
        spec["x-kubernetes-validations"] = [dict(r) for r in kind.rules]
    if namespaced:
        if kind.connection_keys:
            # v2 XRs have no connection details: the binding names its Secret here instead.
            spec["properties"]["writeConnectionSecretToRef"] = {
                "type": "object",
                "description": "Name of the Secret with the credentials; default <name>-creds.",
                "properties": {"name": {"type": "string", "maxLength": 253}},
            }
        return _namespaced_xrd(kind, spec)
    extra = {"connectionSecretKeys": list(kind.connection_keys)} if kind.connection_keys else {}
    return {
        "apiVersion": "apiextensions.crossplane.io/v1",
        "kind": "CompositeResourceDefinition",
        "metadata": {"name": kind.xrd_name},
        "spec": {
            "scope": "LegacyCluster",
            "group": GROUP,
            "names": {
                "kind": kind.composite,
                "plural": kind.composite_plural,
                "categories": CATEGORIES,
            },
            "claimNames": {"kind": kind.claim, "plural": kind.plural, "categories": CATEGORIES},
            "defaultCompositionRef": {"name": kind.xrd_name},
            **extra,
            "versions": _versions(kind, spec),
        },
    }


def _versions(kind: Kind, spec: dict) -> list[dict]:
    return [
        {
            "name": VERSION,
            "served": True,
            "referenceable": True,
            "additionalPrinterColumns": [dict(c) for c in kind.columns],
            "schema": {
                "openAPIV3Schema": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {"spec": spec, "status": openapi.structural(kind.status)},
                }
            },
        }
    ]


def _namespaced_xrd(kind: Kind, spec: dict) -> dict:
    return {
        "apiVersion": "apiextensions.crossplane.io/v2",
        "kind": "CompositeResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{GROUP}"},
        "spec": {
            "scope": "Namespaced",
            "group": GROUP,
            "names": {"kind": kind.claim, "plural": kind.plural, "categories": CATEGORIES},
            "defaultCompositionRef": {"name": f"{kind.plural}.{GROUP}"},
            "versions": _versions(kind, spec),
        },
    }


def composition(kind: Kind, platform: dict, namespaced: bool = False) -> dict:
    """The Composition of one kind, its function step carrying the platform's Input as written
    (validated here too, so that no Composition is ever made from an Input the function refuses)."""
    parsed = inputs.Input.model_validate(platform)
    name = f"{kind.plural}.{GROUP}" if namespaced else kind.xrd_name
    spec: dict = {
        "compositeTypeRef": {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": kind.claim if namespaced else kind.composite,
        },
        "mode": "Pipeline",
        "pipeline": [
            {
                "step": "rds",
                "functionRef": {"name": FUNCTION_NAME},
                "input": platform,
            }
        ],
    }
    if not namespaced:
        # A LegacyCluster XR gets its writeConnectionSecretToRef only from here: without it the
        # XR publishes no connection details and a claim's Secret is never written.
        spec["writeConnectionSecretsToNamespace"] = parsed.secretNamespace
    return {
        "apiVersion": "apiextensions.crossplane.io/v1",
        "kind": "Composition",
        "metadata": {"name": name, "labels": {"provider": "aws"}},
        "spec": spec,
    }


def input_crd() -> dict:
    schema = openapi.structural(inputs.Input)
    schema["properties"]["apiVersion"] = {"type": "string"}
    schema["properties"]["kind"] = {"type": "string"}
    schema["properties"]["metadata"] = {"type": "object"}
    group = inputs.API_VERSION.split("/")[0]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"inputs.{group}"},
        "spec": {
            "group": group,
            "names": {
                "kind": "Input",
                "listKind": "InputList",
                "plural": "inputs",
                "singular": "input",
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": inputs.API_VERSION.split("/")[1],
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }

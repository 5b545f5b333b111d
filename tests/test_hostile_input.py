"""Hostile and malformed input never crashes the function, never composes an unsafe resource and
never drops what exists.

Each row starts from a settled object (every composed resource observed, as a provider reports
it) of some kind, in both modes, and changes one thing a provider, another kind's status or a
hand edit could make odd. The answer must carry no fatal result (an "internal error" stops every
reconcile of the object), keep every observed resource, compose only resources their CRDs accept,
and, where a row names them, carry exactly the warnings it lists.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from function import xrds
from function.resources import dig
from tests import crds
from tests.helpers import (
    EXAMPLE_INPUT,
    composite,
    desired,
    observed_from,
    ready_composite,
    request,
    resolve_requirements,
    tagged,
)

SECRET = "HostilePassw0rdNeverShown"
DETAILS = {"username": "dbadmin", "password": SECRET, "endpoint": "h", "port": "5432"}
AT = {
    "address": "orders.abc.eu-central-1.rds.amazonaws.com",
    "port": 5432,
    "arn": "arn:aws:rds:eu-central-1:123456789012:db:x",
    "id": "db-ABCDEFGHIJKL",
    "status": "available",
    "allocatedStorage": 50,
    "engineVersionActual": "17.5",
    "instanceClass": "db.t4g.medium",
    "latestRestorableTime": "2026-11-24T09:35:00Z",
    "dbName": "app",
}
SNAPSHOT_AT = {
    "status": "available",
    "dbSnapshotArn": "arn:aws:rds:eu-central-1:123456789012:snapshot:s",
    "engineVersion": "17.5",
    "allocatedStorage": 50,
}
INSTANCE_SPECS = {
    "PostgresqlInstance": {
        "serviceVersion": "17.5",
        "plan": "cluster-small",
        "backup": {"schedule": "hourly"},
        "config": {"extensions": ["pgcrypto"], "parameters": {"work_mem": "8MB"}},
    },
    "MysqlInstance": {"serviceVersion": "8.4.5", "plan": "cluster-small"},
    "MariadbInstance": {"serviceVersion": "11.4.5", "plan": "cluster-small"},
}


def _xr(kind: str, spec: dict, name: str, namespaced: bool) -> dict:
    if namespaced:
        return {
            "apiVersion": f"{xrds.GROUP}/{xrds.VERSION}",
            "kind": kind,
            "metadata": {"name": name, "namespace": "team-a", "uid": "0b7c-namespaced"},
            "spec": spec,
        }
    return composite(kind, spec, name=name)


@dataclass
class Settled:
    """One settled object: its composite, observed resources and required resources."""

    xr: dict
    observed: dict[str, dict]
    required: dict[str, list[dict]] = field(default_factory=dict)
    connection: dict[str, dict[str, str]] = field(default_factory=dict)

    def request(self) -> fnv1.RunFunctionRequest:
        return request(self.xr, self.observed, required=self.required, connection=self.connection)


def _settle(stub, xr: dict, required=None, connection=None, at=None) -> dict[str, dict]:
    """Compose until nothing new appears, every resource observed as its provider reports it."""
    observed: dict[str, dict] = {}
    for _ in range(3):
        got = desired(
            stub.RunFunction(request(xr, observed, required=required, connection=connection))
        )
        observed = {
            n: observed_from(
                b, at_provider=at if n == "instance" or n.startswith("replica-") else {}
            )
            for n, b in got.items()
        }
    return observed


def settled(stub, namespaced: bool) -> dict[str, Settled]:
    out = {}
    for kind, spec in INSTANCE_SPECS.items():
        xr = _xr(kind, spec, "orders", namespaced)
        at = {**AT, "engineVersionActual": spec["serviceVersion"]}
        out[kind] = Settled(xr, _settle(stub, xr, at=at), connection={"instance": DETAILS})
    instance = ready_composite(
        out["PostgresqlInstance"].xr, stub.RunFunction(out["PostgresqlInstance"].request())
    )

    def with_pool(xr: dict, pool: list[dict], at: dict | None = None, connection=None) -> Settled:
        required = resolve_requirements(stub.RunFunction(request(xr)), pool)
        observed = _settle(stub, xr, required, connection, at or {})
        return Settled(xr, observed, required, connection or {})

    binding = _xr("ServiceBinding", {"instanceRef": "orders"}, "app", namespaced)
    user = {"user": {**DETAILS, "username": "app"}}
    out["ServiceBinding"] = with_pool(binding, [instance], connection=user)
    backup = with_pool(_xr("Backup", {"instanceRef": "orders"}, "pre", namespaced), [instance])
    backup.observed["snapshot"]["status"]["atProvider"] = dict(SNAPSHOT_AT)
    out["Backup"] = backup
    ready_backup = ready_composite(backup.xr, stub.RunFunction(backup.request()))
    pit = {"pointInTime": {"instanceRef": "orders", "useLatestRestorableTime": True}}
    out["Restore"] = with_pool(_xr("Restore", pit, "r", namespaced), [instance], AT)
    out["RestoreFromBackup"] = with_pool(
        _xr("Restore", {"backupRef": "pre"}, "r2", namespaced), [ready_backup, instance], AT
    )
    return out


_SETTLED: dict[bool, dict[str, Settled]] = {}


def base(stub, name: str, namespaced: bool) -> Settled:
    if namespaced not in _SETTLED:
        _SETTLED[namespaced] = settled(stub, namespaced)
    return copy.deepcopy(_SETTLED[namespaced][name])


# Observed resources a function may leave out: replicas beyond the asked count, AWS Backup
# objects when no longer hourly (none of the rows asks for that).
def check(
    rsp: fnv1.RunFunctionResponse, s: Settled, storable: bool = True, may_drop: tuple = ()
) -> None:
    fatal = [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL]
    assert not fatal, fatal
    got = desired(rsp)
    dropped = sorted(n for n in set(s.observed) - set(got) if not n.startswith(may_drop))
    assert not dropped, f"observed resources left out (Crossplane would delete them): {dropped}"
    for body in got.values() if storable else ():
        if body.get("kind") != "Secret":
            crds.validate(body)
    for text in [r.message for r in rsp.results] + [c.message for c in rsp.conditions]:
        assert SECRET not in text


Change = Callable[[Settled], None]


def at_provider(resource: str, key: str, value: object) -> Change:
    return put(resource, f"status.atProvider.{key}", value)


def put(resource: str, path: str, value: object) -> Change:
    """Set (or with value DELETE remove) observed[resource] at a dotted path; a path through a
    metadata key with dots puts the key in brackets."""

    def change(s: Settled) -> None:
        node = s.observed[resource]
        keys = _keys(path)
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        if value is DELETE:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value

    return change


def required_status(requirement: str, path: str, value: object) -> Change:
    def change(s: Settled) -> None:
        (item,) = s.required[requirement]
        node = item.setdefault("status", {})
        keys = _keys(path)
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value

    return change


def _keys(path: str) -> list[str]:
    if "[" in path:
        head, _, rest = path.partition("[")
        key, _, tail = rest.partition("]")
        return [*head.strip(".").split("."), key, *[k for k in tail.split(".") if k]]
    return path.split(".")


DELETE = object()


@dataclass
class Row:
    id: str
    base: str
    change: Change
    # Every warning event (reason, message) the answer must carry; None: not checked.
    want: list[tuple[str, str]] | None = None
    # False where the API server would refuse to store the change (a spec field of another type
    # than its CRD's): the function keeps the resource as it is, so its body is not checked.
    storable: bool = True


PG, MY, MARIA = "PostgresqlInstance", "MysqlInstance", "MariadbInstance"
PG_GROUP = "parameters-postgres17"

# fmt: off
OBSERVED_ROWS = [
    # --- status.conditions that are no list -----------------------------------------------------
    *(
        Row(f"ConditionsANumber-{n}", k, put(n, "status.conditions", 1), [])
        for k, n in [(PG, "instance"), (PG, "replica-1"), (PG, PG_GROUP), (PG, "sql-role-rw"),
                     (PG, "sql-extension-pgcrypto"), ("ServiceBinding", "user"),
                     ("Backup", "snapshot"), ("Restore", "instance")]
    ),
    Row("ConditionsAMapping", PG, put("instance", "status.conditions", {"type": "Ready"}), []),
    Row("NoStatus", PG, put("instance", "status", DELETE), []),
    # --- atProvider fields of unexpected types ---------------------------------------------------
    Row("PortAString", PG, at_provider("instance", "port", "5432"), []),
    Row("PortNotANumber", PG, at_provider("instance", "port", "five"), []),
    Row("AllocatedStorageFractional", PG, at_provider("instance", "allocatedStorage", 50.5), []),
    Row("AllocatedStorageAString", PG, at_provider("instance", "allocatedStorage", "50"), []),
    Row("EngineVersionActualMissing", PG, at_provider("instance", "engineVersionActual", DELETE)),
    Row("EngineVersionActualANumber", MY, at_provider("instance", "engineVersionActual", 8.4), []),
    Row("StatusANumber", MARIA, at_provider("instance", "status", 1), []),
    Row("AddressAList", PG, at_provider("instance", "address", ["a", "b"]), []),
    Row("MultiAzAString", PG, at_provider("instance", "multiAz", "false"), []),
    Row("ParameterGroupNameAList", PG, at_provider("replica-1", "parameterGroupName", []), []),
    Row("AtProviderAList", PG, put("instance", "status.atProvider", [1]), []),
    Row("ReplicaAtProviderANumber", PG, put("replica-1", "status.atProvider", 1), []),
    Row("RetentionHeldNotANumber", PG, at_provider("instance", "backupRetentionPeriod", "x")),
    Row("LatestRestorableTimeANumber", PG, at_provider("instance", "latestRestorableTime", 1)),
    Row("ParameterNameAList", PG, put(PG_GROUP, "spec.forProvider.parameter", [{"name": []}])),
    Row("ParametersAMapping", MY, put("parameters-mysql8-4", "spec.forProvider.parameter", {})),
    Row("ExtensionPoliciesNotStrings", PG, put("sql-extension-pgcrypto", "spec.managementPolicies", [[]]), storable=False),
    Row("ExtensionNameAList", PG, put("sql-extension-pgcrypto", "spec.forProvider.extension", [1]), storable=False),
    Row("GrantForProviderANumber", "ServiceBinding", put("grant", "spec.forProvider", 1)),
    Row("SecretNameANumber", "ServiceBinding", put("secret", "metadata.name", 5)),
    Row("SnapshotAtProviderANumber", "Backup", put("snapshot", "status.atProvider", 1)),
    Row("SnapshotEngineVersionANumber", "Backup", at_provider("snapshot", "engineVersion", 17.5)),
    Row("RestoredTagsAString", "Restore", put("instance", "spec.forProvider.tags", "x"), storable=False),
    Row("KindAList", "Backup", put("snapshot", "kind", []), storable=False),
    Row("SnapshotRegionANumber", "Backup", put("snapshot", "spec.forProvider.region", 1), storable=False),
    # --- annotations the function reads back, edited by hand --------------------------------------
    Row("PendingRebootNotJson", PG, put("instance", "metadata.annotations[klutch.io/pending-reboot]", "{not json"), []),
    Row("PendingRebootAList", PG, put("instance", "metadata.annotations[klutch.io/pending-reboot]", "[1]"), []),
    Row("SnapshotStorageNotDigits", "Backup", put("snapshot", "metadata.annotations[klutch.io/allocated-storage]", "50.5")),
    Row("RestoreSourceNotJson", "Restore", put("instance", "metadata.annotations[klutch.io/restore-source]", "{not json"), []),
    Row("RestoreSourceAList", "RestoreFromBackup", put("instance", "metadata.annotations[klutch.io/restore-source]", "[1]"), []),
    Row("RestoreSourceDbnameANumber", "Restore", put("instance", "metadata.annotations[klutch.io/restore-source]", '{"dbname": 5}')),
]
# fmt: on


@pytest.mark.parametrize("namespaced", [False, True], ids=["cluster", "namespaced"])
@pytest.mark.parametrize("row", OBSERVED_ROWS, ids=[r.id for r in OBSERVED_ROWS])
def test_odd_observed_state_never_breaks_the_function(stub, row: Row, namespaced: bool):
    s = base(stub, row.base, namespaced)
    row.change(s)
    rsp = stub.RunFunction(s.request())
    check(rsp, s, row.storable)
    if row.want is not None:
        warnings = [(r.reason, r.message) for r in rsp.results]
        assert warnings == row.want


# --- required resources (the instance or Backup an object refers to) in odd states --------------

INSTANCE_REF = "instance-ref-postgresqlinstance"


def fresh(*changes: Change) -> Change:
    """Nothing composed yet (a new object), then the changes."""

    def change(s: Settled) -> None:
        s.observed.clear()
        s.connection.clear()
        for c in changes:
            c(s)

    return change


def deleting(s: Settled) -> None:
    (item,) = s.required[INSTANCE_REF]
    item["metadata"]["deletionTimestamp"] = "2026-11-24T09:00:00Z"


def old_composite_deleting(s: Settled) -> None:
    """A claim deleted and made again: Crossplane returns the old composite (going) too."""
    (item,) = s.required[INSTANCE_REF]
    old = copy.deepcopy(item)
    old["metadata"]["deletionTimestamp"] = "2026-11-24T09:00:00Z"
    old["status"].pop("endpoint")
    s.required[INSTANCE_REF] = [old, item]


RESTORE = 'cannot restore Restore "r": '
RESTORE2 = 'cannot restore Restore "r2": '
PLANS = (
    "cluster-large, cluster-medium, cluster-nano, cluster-small, single-large, single-medium, "
    "single-nano, single-small"
)
NO_DBNAME = (
    "spec.config.database.name is required: the source does not tell the name of the database "
    "inside the snapshot, and RDS restores the snapshot's database whatever name is asked for; "
    "allowed: the name of the database in the snapshot"
)
UNKNOWN_ENGINE = (
    'the source\'s engine "{}" is not one the function runs; allowed: a source of engine '
    "postgresql, mysql, mariadb (spec.serviceInstanceType names it where the source does not)"
)
NOT_RESTORABLE = (
    'PostgresqlInstance "orders" has no restorable time yet (waiting for RDS to report it)'
)
BEING_DELETED = (
    'PostgresqlInstance "orders" is being deleted; allowed: an instance that is not being '
    "deleted (waiting)"
)

# fmt: off
REQUIRED_ROWS = [
    Row("BackupWithoutEngine", "RestoreFromBackup", fresh(required_status("backup-ref", "engine", "")),
        [("RestoreSourceInvalid", RESTORE2 + UNKNOWN_ENGINE.format(""))]),
    Row("BackupOfAnUnknownEngine", "RestoreFromBackup", fresh(required_status("backup-ref", "engine", "oracle")),
        [("RestoreSourceInvalid", RESTORE2 + UNKNOWN_ENGINE.format("oracle"))]),
    Row("BackupPlanEmpty", "RestoreFromBackup", fresh(required_status("backup-ref", "plan", "")),
        [("RestoreSourceInvalid", RESTORE2 + "spec.plan is required when the source does not tell its plan; allowed: " + PLANS)]),
    Row("BackupDbnameNoName", "RestoreFromBackup", fresh(required_status("backup-ref", "dbname", "1-bad")),
        [("RestoreSourceInvalid", RESTORE2 + NO_DBNAME)]),
    Row("RestorableTimeNoTime", "Restore", fresh(required_status(INSTANCE_REF, "backup.latestRestorableTime", "yesterday")),
        [("SourceNotRestorableYet", RESTORE + NOT_RESTORABLE)]),
    Row("RestorableTimeWithoutZone", "Restore", fresh(required_status(INSTANCE_REF, "backup.latestRestorableTime", "2026-11-24T09:35:00")),
        [("SourceNotRestorableYet", RESTORE + NOT_RESTORABLE)]),
    Row("RetentionDaysBeyondAnyDate", "Restore", fresh(required_status(INSTANCE_REF, "backup.retentionDays", 10**6)), []),
    Row("SourcePlanEmpty", "Restore", fresh(required_status(INSTANCE_REF, "plan", "")),
        [("RestoreSourceInvalid", RESTORE + "spec.plan is required when the source does not tell its plan; allowed: " + PLANS)]),
    Row("SourceDbnameNoName", "Restore", fresh(required_status(INSTANCE_REF, "dbname", "x" * 80)),
        [("RestoreSourceInvalid", RESTORE + NO_DBNAME)]),
    Row("BindingToAnInstanceBeingDeleted", "ServiceBinding", fresh(deleting),
        [("InstanceNotReady", 'cannot use ServiceBinding "app": ' + BEING_DELETED)]),
    Row("BackupOfAnInstanceBeingDeleted", "Backup", fresh(deleting),
        [("InstanceNotReady", 'cannot use Backup "pre": ' + BEING_DELETED)]),
    Row("BindingWhileTheOldCompositeGoes", "ServiceBinding", fresh(old_composite_deleting), []),
    Row("BackupWhileTheOldCompositeGoes", "Backup", fresh(old_composite_deleting), []),
    # Already answered well: waiting for an instance that reports nothing yet.
    Row("BindingToAnInstanceWithoutStatus", "ServiceBinding", fresh(required_status(INSTANCE_REF, "conditions", [])),
        [("InstanceNotReady", 'cannot use ServiceBinding "app": PostgresqlInstance "orders" is not ready yet (waiting for it to be available)')]),
]
# fmt: on


@pytest.mark.parametrize("namespaced", [False, True], ids=["cluster", "namespaced"])
@pytest.mark.parametrize("row", REQUIRED_ROWS, ids=[r.id for r in REQUIRED_ROWS])
def test_odd_required_resources_are_named_or_waited_for(stub, row: Row, namespaced: bool):
    s = base(stub, row.base, namespaced)
    row.change(s)
    rsp = stub.RunFunction(s.request())
    check(rsp, s, row.storable)
    assert [(r.reason, r.message) for r in rsp.results] == row.want


# --- the composite's own names: long, dotted, starting with a digit, double hyphens -----------

NAMES = ["a", "a" * 63, "x" * 247, "my.app.v2", "1abc", "a-b--c", "z9"]
NAMESPACES = ["team-a", "n" * 63, "t1"]
RDS_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
# AWS's limits of the identifiers the function composes (RDS CreateDBInstance, CreateDBSnapshot,
# CreateDBParameterGroup: a letter first, letters, digits and single hyphens, no hyphen last).
AWS_IDENTIFIERS = {
    "identifier": 63,
    "replicateSourceDb": 63,
    "dbInstanceIdentifier": 63,
    "finalSnapshotIdentifier": 255,
    "dbSnapshotIdentifier": 255,
    "parameterGroupName": 255,
}


def _aws_identifier_problems(where: str, fp: dict) -> list[str]:
    out = []
    for key, limit in AWS_IDENTIFIERS.items():
        value = fp.get(key)
        if isinstance(value, str) and not (
            RDS_NAME.match(value) and "--" not in value and not value.endswith("-")
        ):
            out.append(f"{where}.{key} {value!r} is no RDS identifier")
        if isinstance(value, str) and len(value) > limit:
            out.append(f"{where}.{key} has {len(value)} characters; RDS allows {limit}")
    return out


def _name_problems(rsp: fnv1.RunFunctionResponse) -> list[str]:
    out = [f"{r.reason}: {r.message}" for r in rsp.results]
    for n, body in desired(rsp).items():
        out += _aws_identifier_problems(n, dig(body, "spec", "forProvider", default={}))
        name = dig(body, "metadata", "name", default="")
        if name and not (K8S_NAME.match(name) and len(name) <= 253):
            out.append(f"{n}: metadata.name {name!r} is no Kubernetes name")
        external = dig(body, "metadata", "annotations", "crossplane.io/external-name", default="")
        if body["kind"] in ("Role", "User") and len(external) > 32:
            # MySQL user names have at most 32 characters, PostgreSQL's 63.
            out.append(f"{n}: SQL name {external!r} is longer than MySQL's 32")
    return out


@pytest.mark.parametrize("namespaced", [False, True], ids=["cluster", "namespaced"])
@pytest.mark.parametrize("namespace", NAMESPACES)
def test_any_kubernetes_name_makes_valid_aws_and_sql_names(stub, namespace: str, namespaced: bool):
    problems = []
    inst = base(stub, PG, namespaced)
    instance = ready_composite(inst.xr, stub.RunFunction(inst.request()))
    for name in NAMES:
        for kind, spec in [
            (PG, INSTANCE_SPECS[PG]),
            (MY, INSTANCE_SPECS[MY]),
            ("ServiceBinding", {"instanceRef": "orders"}),
            ("Backup", {"instanceRef": "orders"}),
            (
                "Restore",
                {"pointInTime": {"instanceRef": "orders", "useLatestRestorableTime": True}},
            ),
        ]:
            xr = _xr(kind, spec, name, namespaced)
            if namespaced:
                xr["metadata"]["namespace"] = namespace
            else:
                xr = composite(kind, spec, name=name, namespace=namespace)
            pool = [{**instance, "metadata": {**instance["metadata"], "namespace": namespace}}]
            if not namespaced:
                labels = {
                    **instance["metadata"]["labels"],
                    "crossplane.io/claim-namespace": namespace,
                }
                pool = [{**instance, "metadata": {**instance["metadata"], "labels": labels}}]
            required = resolve_requirements(stub.RunFunction(request(xr)), pool)
            user = {"user": {**DETAILS, "username": "u"}}
            # AWS reports the version it runs: the instance's own.
            at = {
                **AT,
                "engineVersionActual": spec.get("serviceVersion", AT["engineVersionActual"]),
            }
            observed = _settle(stub, xr, required, user, at)
            rsp = stub.RunFunction(request(xr, observed, required=required, connection=user))
            problems += [f"{kind} {name!r}: {p}" for p in _name_problems(rsp)]
    assert problems == []


@pytest.mark.parametrize("namespaced", [False, True], ids=["cluster", "namespaced"])
def test_a_binding_name_too_long_for_its_secret_is_refused_naming_the_limit(stub, namespaced):
    name = "b" * 250
    s = base(stub, "ServiceBinding", namespaced)
    if namespaced:
        s.xr["metadata"]["name"] = name
    else:
        s.xr = composite("ServiceBinding", {"instanceRef": "orders"}, name=name)
    s.observed.clear()
    s.connection.clear()
    rsp = stub.RunFunction(s.request())
    check(rsp, s)
    allowed = "a ServiceBinding name of at most 247 characters" + (
        ", or spec.writeConnectionSecretToRef.name" if namespaced else ""
    )
    assert [(r.reason, r.message) for r in rsp.results] == [
        (
            "SpecInvalid",
            f'cannot bind ServiceBinding "{name}": metadata.name: the Secret name "{name}-creds" '
            "has 256 characters, more than a Kubernetes name may have (253); allowed: " + allowed,
        )
    ]
    assert desired(rsp) == {}


# --- numbers at the bounds of what AWS accepts ---------------------------------------------------

BIG_PLAN = {
    "instanceClass": "db.r7g.16xlarge",
    "storageGiB": 20,
    "maxStorageGiB": 65536,
    "replicas": 1,
    "maxReplicas": 1,
}


@pytest.mark.parametrize(
    "storage,ceiling",
    [
        (20, 65536),
        (59578, 65536),  # 10% more is 65535.8: RDS's largest volume still leaves room
        (59579, None),  # 10% more would exceed 65536 GiB: no autoscaling ceiling RDS accepts
        (65536, None),
    ],
)
def test_storage_near_rds_largest_volume_composes_a_ceiling_rds_accepts(stub, storage, ceiling):
    inp = copy.deepcopy(EXAMPLE_INPUT)
    inp["catalog"] = {"plans": {"huge": BIG_PLAN}}
    spec = {"serviceVersion": "17.5", "plan": "huge", "config": {"allocatedStorage": storage}}
    xr = composite(PG, spec)
    # The primary available (replicas are composed then), its volume as asked.
    at = {**AT, "allocatedStorage": storage}
    observed = {"instance": observed_from({}, at_provider=at)}
    got = desired(stub.RunFunction(request(xr, observed, inp=inp)))
    for name in ("instance", "replica-1"):
        fp = got[name]["spec"]["forProvider"]
        assert fp.get("maxAllocatedStorage") == ceiling, name
    assert got["instance"]["spec"]["forProvider"]["allocatedStorage"] == storage


# --- a composed resource of a name the function does not know ----------------------------------


def _stranger(s: Settled) -> dict:
    """What a newer version might have composed: an AWS resource the function never names."""
    return {
        "apiVersion": "rds.aws.upbound.io/v1beta1",
        "kind": "ClusterSnapshot",
        "metadata": {"name": "orders-abcde-zz", "annotations": {"klutch.io/x": "y"}},
        "spec": {"forProvider": {"region": "eu-central-1"}, "deletionPolicy": "Delete"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


@pytest.mark.parametrize("namespaced", [False, True], ids=["cluster", "namespaced"])
@pytest.mark.parametrize("kind", [PG, MARIA, "ServiceBinding", "Backup", "Restore"])
def test_an_unknown_composed_resource_is_kept_as_it_is(stub, kind: str, namespaced: bool):
    s = base(stub, kind, namespaced)
    s.observed["cluster-snapshot"] = _stranger(s)
    rsp = stub.RunFunction(s.request())
    check(rsp, s, storable=False)
    kept = desired(rsp)["cluster-snapshot"]
    assert kept["spec"] == s.observed["cluster-snapshot"]["spec"]
    assert "status" not in kept
    assert rsp.desired.resources["cluster-snapshot"].ready == fnv1.READY_TRUE
    described = (
        f'{kind} "{s.xr["metadata"]["labels"]["crossplane.io/claim-name"]}"'
        if not namespaced
        else f'{kind} "{s.xr["metadata"]["name"]}"'
    )
    assert [(r.reason, r.message) for r in rsp.results] == [
        (
            "UnknownResourceKept",
            f'{described}: composed resource "cluster-snapshot" (ClusterSnapshot '
            '"orders-abcde-zz") is not one this version of function-rds composes; it is kept as '
            "it is (delete it by hand if it is no longer wanted)",
        )
    ]


def test_a_resource_an_earlier_pipeline_step_desires_is_left_to_it(stub):
    s = base(stub, PG, False)
    s.observed["cluster-snapshot"] = _stranger(s)
    req = s.request()
    wanted = {**_stranger(s), "spec": {"forProvider": {"region": "us-east-1"}}}
    del wanted["status"]
    req.desired.resources["cluster-snapshot"].resource.update(wanted)
    rsp = stub.RunFunction(tagged(req))
    assert desired(rsp)["cluster-snapshot"]["spec"] == wanted["spec"]
    assert [r.reason for r in rsp.results] == []


# --- any one value of what is observed or required, made odd -----------------------------------

ODD_VALUES = [None, "", "x", "{not json", 1.5, -1, 10**20, True, [], {}, [1], {"a": 1}, "ü" * 300]
BASES = [PG, MY, MARIA, "ServiceBinding", "Backup", "Restore", "RestoreFromBackup"]


def _paths(obj: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    which=st.sampled_from(BASES),
    namespaced=st.booleans(),
    value=st.sampled_from([*ODD_VALUES, DELETE]),
    data=st.data(),
)
def test_any_odd_observed_or_required_value_never_breaks_the_function(
    stub, which, namespaced, value, data
):
    s = base(stub, which, namespaced)
    targets = [s.observed[n] for n in sorted(s.observed)] + [
        item for n in sorted(s.required) for item in s.required[n]
    ]
    target = data.draw(st.sampled_from(targets))
    path = data.draw(st.sampled_from(_paths(target)))
    node = target
    for k in path[:-1]:
        node = node[k]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    check(stub.RunFunction(s.request()), s, storable=False)


# --- a provider's message repeated to the developer ----------------------------------------------


@pytest.mark.parametrize("namespaced", [False, True], ids=["cluster", "namespaced"])
def test_a_refused_restore_repeats_no_credential_and_no_whole_page(stub, namespaced):
    s = base(stub, "Restore", namespaced)
    s.connection = {"instance": DETAILS}
    primary = s.observed["instance"]
    primary["status"]["atProvider"] = {}  # AWS has not accepted the restore
    said = f"create failed: InvalidParameterCombination: password {SECRET} " + "x" * 2000
    primary["status"]["conditions"] = [
        {"type": "Synced", "status": "False", "reason": "ReconcileError", "message": said}
    ]
    rsp = stub.RunFunction(s.request())
    check(rsp, s)
    (event,) = [r for r in rsp.results if r.reason == "RestoreRefused"]
    # At most 1000 characters of it (a Kubernetes event is no place for a whole page).
    shown = ("create failed: InvalidParameterCombination: password (redacted) " + "x" * 2000)[:999]
    shown += "…"
    assert event.message == (
        f'cannot restore Restore "r": AWS refused to create the restored instance: {shown}; fix '
        "the spec (for example spec.pointInTime.restoreTime) and the restore is tried again"
    )


# --- the platform's Input changed under existing instances ---------------------------------------

KEY_A = "arn:aws:kms:eu-central-1:123456789012:key/aaaa-1111"
KEY_B = "arn:aws:kms:eu-central-1:123456789012:key/bbbb-2222"


@pytest.mark.parametrize("namespaced", [False, True], ids=["cluster", "namespaced"])
@pytest.mark.parametrize("created_with", [KEY_A, None])
def test_a_new_kms_key_in_the_input_is_for_new_instances_only(stub, namespaced, created_with):
    """kms_key_id is ForceNew: a changed key would make upjet refuse every update of the
    instance; new instances get the new key."""
    s = base(stub, PG, namespaced)
    fp = s.observed["instance"]["spec"]["forProvider"]
    fp.pop("kmsKeyId", None)
    if created_with:
        fp["kmsKeyId"] = created_with
    inp = {**copy.deepcopy(EXAMPLE_INPUT), "kmsKeyId": KEY_B}
    req = request(s.xr, s.observed, inp=inp, required=s.required, connection=s.connection)
    got = desired(stub.RunFunction(req))
    assert got["instance"]["spec"]["forProvider"].get("kmsKeyId") == created_with
    new = desired(stub.RunFunction(request(s.xr, inp=inp)))
    assert new["instance"]["spec"]["forProvider"]["kmsKeyId"] == KEY_B


def test_two_live_composites_of_one_claim_name_are_named_not_mistaken_for_two_kinds(stub):
    s = base(stub, "ServiceBinding", False)
    s.observed.clear()
    s.connection.clear()
    (item,) = s.required[INSTANCE_REF]
    s.required[INSTANCE_REF] = [item, copy.deepcopy(item)]
    rsp = stub.RunFunction(s.request())
    check(rsp, s)
    assert [(r.reason, r.message) for r in rsp.results] == [
        (
            "InstanceAmbiguous",
            'cannot use ServiceBinding "app": spec.instanceRef "orders" matches 2 '
            'PostgresqlInstance composites in namespace "team-a"; allowed: exactly one (delete '
            "the composite left from an earlier claim)",
        )
    ]


# --- the developer's spec, in both modes, over settled and new objects ---------------------------

_TEXT = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        ["", "a" * 64, "a" * 300, "ünï😀", "\x00", "17", "17.5.0", "v17.5", "1e3", "NaN",
         "2026-11-24T09:30:00.123456789Z", "2026-11-24T09:30:00-23:59", "0001-01-01T00:00:00Z",
         "9999-12-31T23:59:59Z", "2026-11-24T09:30:00", "2026-11-24t09:30:00z"]
    ),
)  # fmt: skip
_NUMBER = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.sampled_from([0, 19, 20, 65536, 65537, 35, 36, 15, 16, 2**53, 20.0, 20.5]),
)
_ANY = st.one_of(_TEXT, _NUMBER, st.booleans(), st.none(), st.just({}), st.just([]))
_CONFIG = st.fixed_dictionaries(
    {},
    optional={
        "parameters": st.one_of(
            st.dictionaries(
                st.one_of(
                    _TEXT,
                    st.sampled_from(
                        [
                            "work_mem",
                            "max_connections",
                            "WORK_MEM",
                            "shared_preload_libraries",
                            "rds.force_ssl",
                        ]
                    ),
                ),
                _ANY,
                max_size=3,
            ),
            _ANY,
        ),
        "extensions": st.one_of(
            st.lists(st.sampled_from(["pgcrypto", "pgcrypto", "postgis", "PGCRYPTO", "vector"])),
            _ANY,
        ),
        "tags": st.one_of(
            st.dictionaries(
                st.one_of(_TEXT, st.sampled_from(["k" * 128, "k" * 129, "aws:x"])),
                st.one_of(_TEXT, st.sampled_from(["v" * 256, "v" * 257])),
                max_size=4,
            ),
            _ANY,
        ),
        "allocatedStorage": _ANY,
        "compute": st.one_of(_ANY, st.just({"replicas": {"count": 2}})),
        "database": st.one_of(_ANY, st.fixed_dictionaries({"name": _TEXT})),
        "region": _ANY,
        "multiAZ": _ANY,
    },
)
_SPECS = {
    "instance": st.fixed_dictionaries(
        {"serviceVersion": st.sampled_from(["17.5", "8.4.5", "11.4.5", "16.5", "99.1"]),
         "plan": st.sampled_from(["cluster-small", "single-small", "gold"])},
        optional={"config": _CONFIG, "backup": st.one_of(_ANY, st.fixed_dictionaries(
            {}, optional={"schedule": st.sampled_from(["hourly", "daily", "none", "weekly"]),
                          "retentionDays": _ANY, "window": st.one_of(_TEXT, st.sampled_from(
                              ["23:30-00:30", "03:00-03:29", "25:00-26:00"]))}))},
    ),
    "restore": st.fixed_dictionaries(
        {},
        optional={
            "pointInTime": st.fixed_dictionaries(
                {"instanceRef": st.sampled_from(["orders", "x"])},
                optional={"restoreTime": _TEXT, "useLatestRestorableTime": _ANY},
            ),
            "backupRef": st.one_of(_TEXT, st.just("pre")),
            "backupArn": st.one_of(_TEXT, st.just("arn:aws:rds:eu-central-1:1:snapshot:s")),
            "serviceInstanceType": _ANY,
            "plan": _ANY,
            "config": _CONFIG,
        },
    ),
    "other": st.fixed_dictionaries(
        {"instanceRef": st.sampled_from(["orders", "x", "ORDERS", ""])},
        optional={"role": _ANY, "instanceKind": _ANY, "serviceInstanceType": _ANY,
                  "deletionPolicy": _ANY, "writeConnectionSecretToRef": _ANY},
    ),
}  # fmt: skip


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    which=st.sampled_from(BASES),
    namespaced=st.booleans(),
    settled_before=st.booleans(),
    data=st.data(),
)
def test_any_spec_in_either_mode_never_breaks_the_function(
    stub, which, namespaced, settled_before, data
):
    s = base(stub, which, namespaced)
    group = "instance" if which in INSTANCE_SPECS else "restore" if "Restore" in which else "other"
    s.xr["spec"] = data.draw(_SPECS[group])
    if not settled_before:
        s.observed.clear()
        s.connection.clear()
    rsp = stub.RunFunction(s.request())
    # What a valid spec may remove on purpose: replicas beyond its count, AWS Backup's objects
    # when no longer hourly, extensions no longer listed, the group of the version left.
    check(rsp, s, may_drop=("replica-", "backup-", "sql-extension-", "parameters-"))

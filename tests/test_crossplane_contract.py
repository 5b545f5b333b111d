"""The Crossplane contract (issue 9, items 11-14 and 19): what Crossplane and the API server do
with what the function answers. Conditions are never removed, status is server-side applied,
composed resources are applied as sent, and the XRDs' CEL rules run before the function."""

from __future__ import annotations

import jsonschema
import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import kinds, xrds
from tests import crds
from tests import test_backup_restore as tbr
from tests import test_binding as tb
from tests.helpers import composite, conditions, desired, observed_from, request, run, status
from tests.test_instance import existing


def _spec_schema(kind: kinds.Kind, namespaced: bool) -> dict:
    xrd = xrds.xrd(kind, namespaced)
    return xrd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


# --- item 14: no CEL rule refuses a return to what runs ----------------------------------------


def _instance(version: str, **config) -> dict:
    return {
        "serviceVersion": version,
        "plan": "single-small",
        **({"config": config} if config else {}),
    }


# Each sequence is a list of specs stored one after the other; every step must be admitted.
# The function (not CEL) refuses what cannot apply, against what runs.
SEQUENCES = [
    ("RefusedUpgradeThenBackToRunning", "PostgresqlInstance",
     [_instance("17.5"), _instance("17.6"), _instance("17.5")]),
    ("RefusedDowngradeThenBack", "PostgresqlInstance",
     [_instance("17.5"), _instance("16.9"), _instance("17.5")]),
    ("DatabaseNameTypoFixedBeforeCreation", "MysqlInstance",
     [_instance("8.4.5", database={"name": "ordrs"}), _instance("8.4.5", database={"name": "orders"})]),
    ("BindingInstanceRefTypoFixed", "ServiceBinding",
     [{"instanceRef": "ordrs"}, {"instanceRef": "orders"}]),
    ("BindingRoleFixedBeforeTheUserExists", "ServiceBinding",
     [{"instanceRef": "orders", "role": "readOnly"}, {"instanceRef": "orders"}]),
    ("BackupInstanceRefTypoFixed", "Backup", [{"instanceRef": "ordrs"}, {"instanceRef": "orders"}]),
]  # fmt: skip


@pytest.mark.parametrize("namespaced", [False, True], ids=["cluster", "namespaced"])
@pytest.mark.parametrize("case", SEQUENCES, ids=[c[0] for c in SEQUENCES])
def test_cel_admits_every_return_to_the_running_state(case, namespaced):
    name, claim, specs = case
    schema = _spec_schema(next(k for k in kinds.KINDS if k.claim == claim), namespaced)
    old = None
    for new in specs:
        assert crds.cel_failures(schema, new, old, path="spec") == [], f"{name}: {old} -> {new}"
        old = new


def test_the_function_refuses_an_unoffered_version_and_accepts_the_way_back(stub):
    observed = existing(stub)  # 17.5 runs
    refused = run(stub, composite("PostgresqlInstance", _instance("17.6")), observed)
    cond = conditions(refused)["SpecValid"]
    assert (cond.status, cond.reason) == (fnv1.STATUS_CONDITION_FALSE, "VersionNotOffered")
    back = run(stub, composite("PostgresqlInstance", _instance("17.5")), observed)
    cond = conditions(back)["SpecValid"]
    assert (cond.status, cond.reason) == (fnv1.STATUS_CONDITION_TRUE, "SpecAccepted")


# --- item 13: keeping what exists re-sends only what the function composes --------------------

FOREIGN_METADATA = {
    "uid": "0f0e0d0c-0000-4000-8000-000000000009",
    "resourceVersion": "4711",
    "generation": 3,
    "creationTimestamp": "2026-11-24T09:00:00Z",
    "managedFields": [{"manager": "provider-aws", "operation": "Update"}],
    "ownerReferences": [
        {"apiVersion": "x", "kind": "XPostgresqlInstance", "name": "o", "uid": "u"}
    ],
    "finalizers": ["finalizer.managedresource.crossplane.io"],
    "generateName": "orders-abcde-",
    "labels": {"crossplane.io/composite": "orders-abcde", "crossplane.io/claim-name": "orders"},
    "annotations": {
        "crossplane.io/composition-resource-name": "instance",
        "crossplane.io/external-create-pending": "2026-11-24T09:00:00Z",
        "crossplane.io/external-create-succeeded": "2026-11-24T09:00:01Z",
        "crossplane.io/external-create-failed": "2026-11-24T09:00:02Z",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
    },
}


def _as_on_a_cluster(body: dict) -> dict:
    """The body as the API server returns it: foreign metadata next to the function's own, and an
    external-name the provider rewrote where it owns it."""
    meta = body.setdefault("metadata", {})
    own_labels, own_annotations = meta.get("labels", {}), meta.get("annotations", {})
    meta.update({k: v for k, v in FOREIGN_METADATA.items() if k not in ("labels", "annotations")})
    meta["labels"] = {**FOREIGN_METADATA["labels"], **own_labels}
    meta["annotations"] = {**FOREIGN_METADATA["annotations"], **own_annotations}
    if body["kind"] == "Instance":
        meta["annotations"]["crossplane.io/external-name"] = "db-ABCDEFGHIJKLMNOPQRSTUVWXY"
        body.setdefault("status", {}).setdefault("atProvider", {})["id"] = (
            "db-ABCDEFGHIJKLMNOPQRSTUVWXY"
        )
    return body


def _own(body: dict) -> dict:
    """What the function composes of that metadata."""
    meta = body["metadata"]
    own = {k: meta[k] for k in ("name", "namespace") if k in meta}
    annotations = {
        k: v
        for k, v in meta.get("annotations", {}).items()
        if k.startswith("klutch.io/")
        or (
            k == "crossplane.io/external-name"
            and body["kind"] in ("Snapshot", "Vault", "Role", "User", "ParameterGroup")
        )
        # An rds Instance: the provider's own name, repeated once AWS reports it, so that
        # server-side apply never deletes it (the provider would then create the database again).
        or (
            k == "crossplane.io/external-name"
            and body["kind"] == "Instance"
            and v == body["status"]["atProvider"]["id"]
        )
    }
    labels = {k: v for k, v in meta.get("labels", {}).items() if k.startswith("klutch.io/")}
    return (
        own
        | ({"annotations": annotations} if annotations else {})
        | ({"labels": labels} if labels else {})
    )


def test_kept_resources_carry_only_the_functions_metadata(stub):
    spec = {"serviceVersion": "17.5", "plan": "cluster-small"}
    first = existing(stub, spec=spec)
    # Once the primary is ready, the group roles (named by the function) are composed as well.
    second = desired(run(stub, composite("PostgresqlInstance", spec), first))
    observed = {n: _as_on_a_cluster(first.get(n) or observed_from(b)) for n, b in second.items()}
    assert {b["kind"] for b in observed.values()} >= {"Instance", "ProviderConfig", "Role", "Grant"}
    rsp = run(stub, composite("PostgresqlInstance", _instance("17.4")), observed)
    assert conditions(rsp)["SpecValid"].reason == "VersionDowngradeRefused"
    got = desired(rsp)
    assert sorted(got) == sorted(observed)
    for name, body in got.items():
        assert body["metadata"] == _own(observed[name]), name
        assert body["spec"] == observed[name]["spec"], name
        assert "status" not in body, name


# --- item 11: every answer carries every condition type its kind owns -------------------------

T, F, U = fnv1.STATUS_CONDITION_TRUE, fnv1.STATUS_CONDITION_FALSE, fnv1.STATUS_CONDITION_UNKNOWN


def _secret_observed(stub) -> dict:
    """A binding whose Secret exists: what Crossplane observes after the published path."""
    xr = tb.binding({"instanceRef": "orders"})
    first = tb.call(stub, xr, [tb.READY_PG])
    observed = {n: observed_from(b) for n, b in desired(first).items()}
    published = tb.call(stub, xr, [tb.READY_PG], observed, connection={"user": tb.DETAILS})
    observed = {n: observed_from(b) for n, b in desired(published).items()}
    observed["secret"]["metadata"]["name"] = "app-creds"  # the function names the Secret
    return observed


def _binding(stub, spec, pool, observed=None, connection=None):
    return tb.call(stub, tb.binding(spec), pool, observed, connection)


def _snapshot_observed(stub) -> dict:
    inst, _ = tbr.provisioned(stub)
    snap = desired(tbr.call(stub, tbr.backup_xr(), [inst]))["snapshot"]
    seen = observed_from(snap, at_provider={"status": "available", "engineVersion": "17.5"})
    return {"snapshot": seen}


def _restored_observed(stub) -> dict:
    xr = tbr.restore_xr({"backupRef": "pre-migration"})
    first = tbr.call(stub, xr, [tbr.backup_object()])
    return {
        # Accepted by AWS: the new instance has its resource id (see restore.accepted).
        n: observed_from(b, at_provider={"status": "available", "id": "db-RESTORED"})
        for n, b in desired(first).items()
    }


RUNNING = {"serviceVersion": "17.5", "plan": "single-small"}
AMBIGUOUS_RESTORE = {
    **composite("Restore", {"backupRef": "b"}, name="orders"),
    "status": {**tb.READY_PG["status"], "engine": "postgresql"},
}


def _paths():
    """(case, kind, answer(stub), {owned type: (status, reason)}) for every path of every kind."""
    pg = "PostgresqlInstance"
    return [
        ("InstanceCreated", pg, lambda s: run(s, composite(pg, RUNNING)), {"SpecValid": (T, "SpecAccepted"), "ExtensionsReady": (T, "ExtensionsAsListed")}),
        ("InstanceSpecInvalid", pg, lambda s: run(s, composite(pg, {"plan": 5})), {"SpecValid": (F, "SpecInvalid"), "ExtensionsReady": (T, "ExtensionsAsListed")}),
        ("InstanceEditRefused", pg, lambda s: run(s, composite(pg, _instance("17.6")), existing(s)),
         {"SpecValid": (F, "VersionNotOffered"), "ExtensionsReady": (T, "ExtensionsAsListed")}),
        ("InstanceEditFixed", pg, lambda s: run(s, composite(pg, RUNNING), existing(s)),
         {"SpecValid": (T, "SpecAccepted"), "ExtensionsReady": (T, "ExtensionsAsListed")}),
        ("MysqlSpecInvalid", "MysqlInstance", lambda s: run(s, composite("MysqlInstance", {})),
         {"SpecValid": (F, "SpecInvalid")}),
        ("MariadbCreated", "MariadbInstance",
         lambda s: run(s, composite("MariadbInstance", {"serviceVersion": "11.4.5", "plan": "single-small"})),
         {"SpecValid": (T, "SpecAccepted")}),
        ("BindingSpecInvalid", "ServiceBinding", lambda s: _binding(s, {"instanceRef": "orders", "role": "admin"}, [tb.READY_PG]),
         {"SpecValid": (F, "SpecInvalid"), "InstanceReady": (U, "NotChecked"), "CredentialsReady": (F, "CredentialsPending")}),
        ("BindingResolving", "ServiceBinding", lambda s: s.RunFunction(request(tb.binding({"instanceRef": "orders"}))),
         {"SpecValid": (T, "SpecAccepted"), "InstanceReady": (F, "InstanceResolving"), "CredentialsReady": (F, "CredentialsPending")}),
        ("BindingInstanceNotFound", "ServiceBinding", lambda s: _binding(s, {"instanceRef": "nothing"}, [tb.READY_PG]),
         {"SpecValid": (T, "SpecAccepted"), "InstanceReady": (F, "InstanceNotFound"), "CredentialsReady": (F, "CredentialsPending")}),
        ("BindingInstanceNotReady", "ServiceBinding", lambda s: _binding(s, {"instanceRef": "shop"}, [tb.UNREADY_MYSQL]),
         {"SpecValid": (T, "SpecAccepted"), "InstanceReady": (F, "InstanceNotReady"), "CredentialsReady": (F, "CredentialsPending")}),
        ("BindingTypeMismatch", "ServiceBinding",
         lambda s: _binding(s, {"instanceRef": "orders", "serviceInstanceType": "mysql"}, [tb.READY_PG]),
         {"SpecValid": (F, "InstanceTypeMismatch"), "InstanceReady": (F, "InstanceTypeMismatch"), "CredentialsReady": (F, "CredentialsPending")}),
        ("BindingAmbiguous", "ServiceBinding", lambda s: _binding(s, {"instanceRef": "orders"}, [tb.READY_PG, AMBIGUOUS_RESTORE]),
         {"SpecValid": (F, "InstanceAmbiguous"), "InstanceReady": (F, "InstanceAmbiguous"), "CredentialsReady": (F, "CredentialsPending")}),
        ("BindingCredentialsPending", "ServiceBinding", lambda s: _binding(s, {"instanceRef": "orders"}, [tb.READY_PG]),
         {"SpecValid": (T, "SpecAccepted"), "InstanceReady": (T, "InstanceAvailable"), "CredentialsReady": (F, "CredentialsPending")}),
        ("BindingPublished", "ServiceBinding",
         lambda s: _binding(s, {"instanceRef": "orders"}, [tb.READY_PG], _secret_observed(s), {"user": tb.DETAILS}),
         {"SpecValid": (T, "SpecAccepted"), "InstanceReady": (T, "InstanceAvailable"), "CredentialsReady": (T, "CredentialsPublished")}),
        ("BindingRoleChangeRefused", "ServiceBinding",
         lambda s: _binding(s, {"instanceRef": "orders", "role": "readOnly"}, [tb.READY_PG], _secret_observed(s), {"user": tb.DETAILS}),
         {"SpecValid": (F, "ImmutableFieldChanged"), "InstanceReady": (T, "InstanceAvailable"), "CredentialsReady": (T, "CredentialsPublished")}),
        ("BindingInstanceGoneUnready", "ServiceBinding",
         lambda s: _binding(s, {"instanceRef": "orders"}, [], _secret_observed(s), {"user": tb.DETAILS}),
         {"SpecValid": (T, "SpecAccepted"), "InstanceReady": (F, "InstanceNotFound"), "CredentialsReady": (T, "CredentialsPublished")}),
        ("BackupSpecInvalid", "Backup", lambda s: tbr.call(s, tbr.backup_xr({"instanceRef": 5}), []),
         {"SpecValid": (F, "SpecInvalid"), "InstanceReady": (U, "NotChecked"), "SnapshotReady": (F, "BackupPending")}),
        ("BackupSpecInvalidSnapshotExists", "Backup",
         lambda s: tbr.call(s, tbr.backup_xr({"instanceRef": "orders", "deletionPolicy": "Keep"}), [], _snapshot_observed(s)),
         {"SpecValid": (F, "SpecInvalid"), "InstanceReady": (U, "InstanceNotNeeded"), "SnapshotReady": (T, "BackupCompleted")}),
        ("BackupWaiting", "Backup", lambda s: tbr.call(s, tbr.backup_xr(), []),
         {"SpecValid": (T, "SpecAccepted"), "InstanceReady": (F, "InstanceNotFound"), "SnapshotReady": (F, "BackupPending")}),
        ("BackupAmbiguous", "Backup", lambda s: tbr.call(s, tbr.backup_xr(), [tb.READY_PG, AMBIGUOUS_RESTORE]),
         {"SpecValid": (F, "InstanceAmbiguous"), "InstanceReady": (F, "InstanceAmbiguous"), "SnapshotReady": (F, "BackupPending")}),
        ("BackupComposed", "Backup", lambda s: tbr.call(s, tbr.backup_xr(), [tbr.provisioned(s)[0]]),
         {"SpecValid": (T, "SpecAccepted"), "InstanceReady": (T, "InstanceAvailable"), "SnapshotReady": (F, "BackupPending")}),
        ("BackupDone", "Backup", lambda s: tbr.call(s, tbr.backup_xr(), [], _snapshot_observed(s)),
         {"SpecValid": (T, "SpecAccepted"), "InstanceReady": (U, "InstanceNotNeeded"), "SnapshotReady": (T, "BackupCompleted")}),
        ("BackupRetargetRefused", "Backup", lambda s: tbr.call(s, tbr.backup_xr({"instanceRef": "x"}), [], _snapshot_observed(s)),
         {"SpecValid": (F, "ImmutableFieldChanged"), "InstanceReady": (U, "InstanceNotNeeded"), "SnapshotReady": (T, "BackupCompleted")}),
        ("RestoreSpecInvalid", "Restore", lambda s: tbr.call(s, tbr.restore_xr({"backupRef": 5}), []),
         {"SpecValid": (F, "SpecInvalid"), "SourceReady": (U, "NotChecked"), "ExtensionsReady": (U, "NotChecked")}),
        ("RestoreNoSource", "Restore", lambda s: tbr.call(s, tbr.restore_xr({}), []),
         {"SpecValid": (F, "RestoreSourceInvalid"), "SourceReady": (U, "NotChecked"), "ExtensionsReady": (U, "NotChecked")}),
        ("RestoreWaiting", "Restore", lambda s: tbr.call(s, tbr.restore_xr({"backupRef": "pre-migration"}), []),
         {"SpecValid": (U, "SourcePending"), "SourceReady": (F, "BackupNotFound"), "ExtensionsReady": (U, "NotChecked")}),
        ("RestoreSourceRefused", "Restore",
         lambda s: tbr.call(s, tbr.restore_xr({"backupRef": "pre-migration"}), [tbr.backup_object(region="us-east-1")]),
         {"SpecValid": (F, "RestoreRegionMismatch"), "SourceReady": (F, "RestoreRegionMismatch"), "ExtensionsReady": (U, "NotChecked")}),
        ("RestoreComposed", "Restore", lambda s: tbr.call(s, tbr.restore_xr({"backupRef": "pre-migration"}), [tbr.backup_object()]),
         {"SpecValid": (T, "SpecAccepted"), "SourceReady": (T, "SourceAvailable"), "ExtensionsReady": (T, "ExtensionsAsListed")}),
        ("RestoreCreatedSpecRefused", "Restore",
         lambda s: tbr.call(s, tbr.restore_xr({"backupRef": "pre-migration", "plan": "huge"}), [], _restored_observed(s)),
         {"SpecValid": (F, "PlanNotOffered"), "SourceReady": (T, "SourceAvailable"), "ExtensionsReady": (T, "ExtensionsAsListed")}),
        ("RestoreCreatedSpecInvalid", "Restore",
         lambda s: tbr.call(s, tbr.restore_xr({"backupRef": "pre-migration", "plan": 5}), [], _restored_observed(s)),
         {"SpecValid": (F, "SpecInvalid"), "SourceReady": (T, "SourceAvailable"), "ExtensionsReady": (T, "ExtensionsAsListed")}),
    ]  # fmt: skip


PATHS = _paths()


@pytest.mark.parametrize("case", PATHS, ids=[c[0] for c in PATHS])
def test_every_answer_carries_every_owned_condition_once(stub, case):
    name, kind, answer, want = case
    rsp = answer(stub)
    assert not [r for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL], name
    types = [c.type for c in rsp.conditions]
    assert sorted(types) == sorted(kinds.get(kind).conditions), f"{name}: {types}"
    got = {c.type: (c.status, c.reason) for c in rsp.conditions}
    assert got == want, name
    assert all(c.target == fnv1.TARGET_COMPOSITE_AND_CLAIM for c in rsp.conditions)
    # The status is applied as sent: a refused value of another type must not be echoed into it.
    xrd = xrds.xrd(next(k for k in kinds.KINDS if k.claim == kind))
    schema = xrd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    problems = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(status(rsp))]
    assert problems == [], name


# --- item 12: status is whole on every path, and tells what runs ------------------------------

CLUSTER = {"serviceVersion": "17.5", "plan": "cluster-small",
           "config": {"compute": {"replicas": {"count": 1}}}, "backup": {"retentionDays": 7}}  # fmt: skip
HOURLY = {"serviceVersion": "17.5", "plan": "single-small",
          "backup": {"schedule": "hourly", "retentionDays": 3}}  # fmt: skip
# (case, running spec, refused edit): the refused edit's status is the running database's.
REFUSED_EDITS = [
    ("NewPlanVersionReplicasRetention", CLUSTER,
     {"serviceVersion": "17.6", "plan": "single-medium", "backup": {"retentionDays": 14}}),
    ("ReplicasOutOfRange", CLUSTER, {**CLUSTER, "config": {"compute": {"replicas": {"count": 9}}}}),
    ("HourlyToNoneWithReplicas", HOURLY,
     {**HOURLY, "plan": "cluster-small", "backup": {"schedule": "none"},
      "config": {"compute": {"replicas": {"count": 1}}}}),
    ("SpecInvalid", HOURLY, {"serviceVersion": "17.5", "plan": 5}),
]  # fmt: skip


@pytest.mark.parametrize("case", REFUSED_EDITS, ids=[c[0] for c in REFUSED_EDITS])
def test_a_refused_edit_reports_the_running_database(stub, case):
    name, running, edit = case
    at = {"address": "h", "port": 5432, "status": "available", "allocatedStorage": 50,
          "latestRestorableTime": "2026-11-24T09:35:00Z"}  # fmt: skip
    observed: dict = {}
    for _ in range(2):  # replicas are composed once the primary is available
        made = desired(run(stub, composite("PostgresqlInstance", running), observed))
        observed = {
            n: observed_from(b, at_provider=at if n == "instance" else {}) for n, b in made.items()
        }
    want = status(run(stub, composite("PostgresqlInstance", running), observed))
    refused = run(stub, composite("PostgresqlInstance", edit), observed)
    assert conditions(refused)["SpecValid"].status == fnv1.STATUS_CONDITION_FALSE, name
    assert status(refused) == want, name


def test_binding_status_keeps_the_secret_on_every_path(stub):
    observed = _secret_observed(stub)
    user = tb.DETAILS
    want = {
        "instance": "orders",
        "secretName": "app-creds",
        "username": status(_binding(stub, {"instanceRef": "orders"}, [tb.READY_PG]))["username"],
        "binding": {"name": "app-creds"},
        "type": "postgresql",
    }
    paths = {
        "Published": ({"instanceRef": "orders"}, [tb.READY_PG], {"user": user}),
        "DetailsMissing": ({"instanceRef": "orders"}, [tb.READY_PG], None),
        "InstanceNotFound": ({"instanceRef": "orders"}, [], {"user": user}),
        "InstanceNotReady": ({"instanceRef": "orders"}, [tb.UNREADY_MYSQL], {"user": user}),
        "RoleChangeRefused": ({"instanceRef": "orders", "role": "readOnly"}, [tb.READY_PG], None),
        "SpecInvalid": ({"instanceRef": "orders", "role": "admin"}, [tb.READY_PG], None),
    }
    for name, (spec, pool, connection) in paths.items():
        rsp = _binding(stub, spec, pool, observed, connection)
        assert status(rsp) == want, name
        assert "secret" in desired(rsp), f"{name}: the Secret must be kept"


def test_backup_and_restore_status_is_whole_on_refused_paths(stub):
    snap = _snapshot_observed(stub)
    want = status(tbr.call(stub, tbr.backup_xr(), [], snap))
    assert want["snapshotIdentifier"] and want["plan"] == "single-small"
    for spec in ({"instanceRef": "x"}, {"instanceRef": "orders", "deletionPolicy": "Keep"}):
        assert status(tbr.call(stub, tbr.backup_xr(spec), [], snap)) == want, spec

    restored = _restored_observed(stub)
    ok = {"backupRef": "pre-migration"}
    want = status(tbr.call(stub, tbr.restore_xr(ok), [], restored))
    assert want["plan"] == "single-medium" and want["source"]["backupRef"] == "pre-migration"
    for spec in ({**ok, "plan": "huge"}, {**ok, "plan": 5}, {}):
        assert status(tbr.call(stub, tbr.restore_xr(spec), [], restored)) == want, spec


# --- item 19: an instance and a Restore of one name and engine --------------------------------

PIT = {"pointInTime": {"instanceRef": "orders", "useLatestRestorableTime": True}}
SAME_NAME_RESTORE = {
    **AMBIGUOUS_RESTORE,
    "status": {
        **AMBIGUOUS_RESTORE["status"],
        "identifier": "team-a-orders-restore-123456",
        "plan": "single-small",
        "version": "17.5",
        "region": "eu-central-1",
        "backup": {"schedule": "daily", "retentionDays": 7,
                   "latestRestorableTime": "2026-11-24T09:35:00Z"},
    },
}  # fmt: skip
# (case, kind, spec, field of the answer)
AMBIGUITIES = [
    ("Binding", "ServiceBinding", {"instanceRef": "orders"}, "spec.instanceKind"),
    ("Backup", "Backup", {"instanceRef": "orders"}, "spec.instanceKind"),
    ("PointInTime", "Restore", PIT, "spec.pointInTime.instanceKind"),
]


def _with_kind(spec: dict, field: str, kind: str) -> dict:
    if field.startswith("spec.pointInTime"):
        return {"pointInTime": {**spec["pointInTime"], "instanceKind": kind}}
    return {**spec, "instanceKind": kind}


@pytest.mark.parametrize("case", AMBIGUITIES, ids=[c[0] for c in AMBIGUITIES])
def test_an_ambiguous_instance_ref_says_how_to_choose_and_the_choice_resolves(stub, case):
    name, kind, spec, field = case
    inst = tbr.provisioned(stub)[0]
    pool = [inst, SAME_NAME_RESTORE]
    xr = composite(kind, spec, name="other")
    rsp = tbr.call(stub, xr, pool)
    cond = conditions(rsp)["SpecValid"]
    ref = field.removesuffix("instanceKind") + "instanceRef"
    assert (cond.reason, cond.message) == (
        "InstanceAmbiguous",
        f'cannot use {kind} "other": {ref} "orders" names a PostgresqlInstance and a Restore in '
        f'namespace "team-a"; allowed: set {field} to one of PostgresqlInstance, Restore',
    ), name
    assert desired(rsp) == {}, name
    for choice, identifier in (
        ("PostgresqlInstance", inst["status"]["identifier"]),
        ("Restore", SAME_NAME_RESTORE["status"]["identifier"]),
    ):
        chosen = tbr.call(
            stub, composite(kind, _with_kind(spec, field, choice), name="other"), pool
        )
        got = {c.type: c.reason for c in chosen.results if c.severity == fnv1.SEVERITY_FATAL}
        assert not got and conditions(chosen)["SpecValid"].reason == "SpecAccepted", (name, choice)
        if kind == "Backup":
            fp = desired(chosen)["snapshot"]["spec"]["forProvider"]
            assert fp["dbInstanceIdentifier"] == identifier, (name, choice)
        elif kind == "Restore":
            fp = desired(chosen)["instance"]["spec"]["forProvider"]
            assert fp["restoreToPointInTime"]["sourceDbInstanceIdentifier"] == identifier
        else:
            assert desired(chosen)["usage"]["spec"]["of"]["kind"] == f"X{choice}", (name, choice)


def test_instance_kind_is_in_every_referring_schema():
    for claim, path in (("ServiceBinding", []), ("Backup", []), ("Restore", ["pointInTime"])):
        schema = _spec_schema(next(k for k in kinds.KINDS if k.claim == claim), False)
        for step in path:
            schema = schema["properties"][step]
        assert schema["properties"]["instanceKind"]["enum"] == [
            "PostgresqlInstance", "MysqlInstance", "MariadbInstance", "Restore"
        ], claim  # fmt: skip


def test_a_kept_snapshot_and_secret_carry_only_the_functions_metadata(stub):
    snap = {n: _as_on_a_cluster(b) for n, b in _snapshot_observed(stub).items()}
    for spec in ({"instanceRef": "orders"}, {"instanceRef": "x"}, {"instanceRef": 5}):
        got = desired(tbr.call(stub, tbr.backup_xr(spec), [], snap))["snapshot"]
        assert got["metadata"] == _own(snap["snapshot"]), spec
        assert got["metadata"]["annotations"]["crossplane.io/external-name"]
    observed = {n: _as_on_a_cluster(b) for n, b in _secret_observed(stub).items()}
    for spec in ({"instanceRef": "orders", "role": "readOnly"}, {"instanceRef": "gone"}):
        got = desired(_binding(stub, spec, [tb.READY_PG], observed))
        for name, body in got.items():
            assert body["metadata"] == _own(observed[name]), (spec, name)
        assert got["secret"]["metadata"]["labels"] == {"klutch.io/binding": "app"}

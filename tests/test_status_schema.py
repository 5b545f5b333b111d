"""Every composite status matches the XRD generated for its kind.

The API server silently prunes a status field its schema lacks and refuses a whole status with a
value of another type; Backups, Restores and bindings read these statuses. So the function builds
every status with its kind's model (function/specs.py), which refuses a field it lacks, and every
answer the tests get (tests/conftest.py stubs, helpers.call) is checked against the generated
XRD's status schema. These tests show that both checks fail where they must.
"""

from __future__ import annotations

import json
import re

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from pydantic import ValidationError

from function import naming, specs, xrds
from function.specs import BackupRequestStatus, BindingStatus, InstanceStatus, RestoreStatus
from tests import crds
from tests.conftest import Checked, InProcess
from tests.helpers import (
    ROOT,
    call,
    check_status,
    claim,
    composite,
    desired,
    load_yaml,
    observed_from,
    request,
    status,
)
from tests.test_backup_restore import backup_object, restore_xr
from world.crossplane import Crossplane, prune
from world.store import Store, key_of

GOLDEN = sorted((ROOT / "tests" / "golden").glob("*.yaml"))
INSTANCE = composite("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-small"})
BINDING = composite("ServiceBinding", {"instanceRef": "orders"}, name="orders-app")


@pytest.mark.parametrize(
    ("case", "kind", "sent", "want"),
    [
        (
            "UnknownField",
            "PostgresqlInstance",
            {"phase": "available", "endpont": "orders.example"},
            "status: Additional properties are not allowed ('endpont' was unexpected)",
        ),
        (
            "UnknownNestedField",
            "MysqlInstance",
            {"backup": {"schedule": "hourly", "vault": "orders"}},
            "status.backup: Additional properties are not allowed ('vault' was unexpected)",
        ),
        (
            "WrongType",
            "MariadbInstance",
            {"port": "3306", "replicaEndpoints": "r1.example"},
            "status.port: '3306' is not of type 'integer'\n"
            "status.replicaEndpoints: 'r1.example' is not of type 'array'",
        ),
        (
            "BindingSecretNamespace",
            "ServiceBinding",
            {"binding": {"name": "orders-app-creds", "namespace": "team-a"}},
            "status.binding: Additional properties are not allowed ('namespace' was unexpected)",
        ),
        (
            "BackupUnknownField",
            "Backup",
            {"snapshotIdentifier": "s", "snapshotStatus": "available"},
            "status: Additional properties are not allowed ('snapshotStatus' was unexpected)",
        ),
        (
            "RestoreSourceDbname",
            "Restore",
            {"source": {"backupRef": "pre-migration", "dbname": "orders"}},
            "status.source: Additional properties are not allowed ('dbname' was unexpected)",
        ),
    ],
)
def test_a_status_the_api_server_would_prune_or_refuse_fails(case, kind, sent, want):
    with pytest.raises(AssertionError) as err:
        crds.validate_status(kind, sent)
    assert str(err.value) == f"{kind} status does not match its XRD:\n{want}", case


@pytest.mark.parametrize(
    ("kind", "sent"),
    [
        ("PostgresqlInstance", InstanceStatus(port=5432, backup={"schedule": "daily"})),
        ("ServiceBinding", BindingStatus(binding={"name": "orders-app-creds"}, type="mysql")),
        ("Backup", BackupRequestStatus(instance="orders", allocatedStorage=20)),
        ("Restore", RestoreStatus(engine="postgresql", source={"backupArn": "arn:x"})),
    ],
)
def test_a_status_built_with_its_model_matches_its_xrd(kind, sent):
    crds.validate_status(kind, sent.wire())


def test_a_status_field_the_model_lacks_is_an_error():
    with pytest.raises(ValidationError, match="endpont\n  Extra inputs are not permitted"):
        InstanceStatus(endpont="orders.example")
    with pytest.raises(ValidationError, match=r"source\.dbname\n  Extra inputs are not permitted"):
        RestoreStatus(source={"backupRef": "pre-migration", "dbname": "orders"})
    built = BindingStatus()
    with pytest.raises(ValidationError, match="secretNam\n  Object has no attribute"):
        built.secretNam = "orders-app-creds"
    with pytest.raises(ValidationError, match=r"binding\.name\n  Input should be a valid string"):
        built.binding = {"name": 1}


def test_unset_status_fields_are_not_sent():
    """structs.fill drops None values: the model sends exactly the fields that have one."""
    sent = InstanceStatus(phase="available", backup={"schedule": "none", "window": None})
    assert sent.wire() == {"phase": "available", "backup": {"schedule": "none"}}


def _plant(monkeypatch) -> None:
    """Every status the function sends gets a field no XRD declares."""
    wire = specs.Status.wire
    monkeypatch.setattr(specs.Status, "wire", lambda self: {**wire(self), "planted": True})


PLANTED = "status: Additional properties are not allowed ('planted' was unexpected)"


def test_the_in_process_stub_fails_on_a_planted_status_field(monkeypatch):
    _plant(monkeypatch)
    runner = InProcess()  # its own response cache: nothing answered before the plant
    try:
        with pytest.raises(AssertionError, match=re.escape(PLANTED)):
            runner.RunFunction(request(INSTANCE))
    finally:
        runner.loop.close()


class Planting:
    """A function that answers every request with a planted status field, like a gRPC stub."""

    def RunFunction(self, req: fnv1.RunFunctionRequest, **_: object) -> fnv1.RunFunctionResponse:  # noqa: N802
        rsp = fnv1.RunFunctionResponse()
        rsp.desired.composite.resource.update({"status": {"username": "u", "planted": True}})
        return rsp


def test_the_grpc_stub_and_call_fail_on_a_planted_status_field():
    want = f"ServiceBinding status does not match its XRD:\n{PLANTED}"
    with pytest.raises(AssertionError) as err:
        Checked(Planting()).RunFunction(request(BINDING))
    assert str(err.value) == want
    with pytest.raises(AssertionError) as err:
        call(Planting(), BINDING, [])  # checked even with a stub that does not check
    assert str(err.value) == want


def test_answers_without_a_status_or_of_a_foreign_kind_are_not_checked():
    foreign = request({**INSTANCE, "kind": "XBucket"})
    planted = Planting().RunFunction(foreign)
    assert check_status(foreign, planted) is planted
    empty = fnv1.RunFunctionResponse()
    assert check_status(request(INSTANCE), empty) is empty


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda p: p.stem)
def test_every_rendered_status_matches_its_xrd(golden):
    """The statuses `function-rds render` answers (tests/test_render.py compares its output with
    these files), without the conditions Crossplane itself adds to the status."""
    (xr,) = [d for d in load_yaml(golden) if d["apiVersion"].startswith(f"{xrds.GROUP}/")]
    rendered = {k: v for k, v in xr["status"].items() if k != "conditions"}
    assert rendered, "render reports a status"
    crds.validate_status(xr["kind"].removeprefix("X"), rendered)


def test_a_restore_source_recorded_by_another_version_shows_only_known_fields(stub):
    """A key another version of the function recorded (before a rollback) is left out of
    status.source, as the API server would prune it; the restore carries on."""
    first = desired(call(stub, restore_xr({"backupRef": "pre-migration"}), [backup_object()]))
    observed = {n: observed_from(b, at_provider={"resourceId": "db-ABC"}) for n, b in first.items()}
    annotations = observed["instance"]["metadata"]["annotations"]
    recorded = json.loads(annotations[naming.ANNOTATION_RESTORE_SOURCE])
    annotations[naming.ANNOTATION_RESTORE_SOURCE] = json.dumps({**recorded, "copyTags": True})
    later = call(stub, restore_xr({"backupRef": "pre-migration"}), [], observed)
    assert [r.message for r in later.results if r.severity == fnv1.SEVERITY_FATAL] == []
    assert status(later)["source"] == {
        "backupRef": "pre-migration",
        "snapshotIdentifier": "team-a-pre-migration-123456",
    }


@pytest.mark.parametrize(
    ("namespaced", "xr"),
    [
        (False, INSTANCE),
        (True, claim("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-small"})),
    ],
)
def test_the_world_prunes_status_fields_the_xrd_lacks(namespaced, xr):
    """The lifecycle world stores a composite's status as the API server does, so that a scenario
    reading status sees only what a cluster would keep."""
    store = Store()
    crossplane = Crossplane.load(store, "", namespaced=namespaced)
    sent = {
        "phase": "available",
        "planted": True,
        "backup": {"schedule": "daily", "vault": "orders"},
        "replicaEndpoints": ["r1.example"],
    }
    crossplane._set_conditions(xr, [], unknown_others=False, status=sent)
    assert store.get(key_of(xr))["status"] == {
        "phase": "available",
        "backup": {"schedule": "daily"},
        "replicaEndpoints": ["r1.example"],
        "conditions": [],
    }


@pytest.mark.parametrize(
    ("schema", "value", "want"),
    [
        ({"type": "object"}, {"a": 1}, {}),
        ({"type": "object", "x-kubernetes-preserve-unknown-fields": True}, {"a": 1}, {"a": 1}),
        (
            {"type": "object", "additionalProperties": {"type": "object", "properties": {}}},
            {"k": {"x": 1}},
            {"k": {}},
        ),
        (
            {"type": "array", "items": {"type": "object", "properties": {"a": {}}}},
            [{"a": 1, "b": 2}],
            [{"a": 1}],
        ),
        ({"type": "string"}, "s", "s"),
    ],
)
def test_pruning_follows_the_structural_schema(schema, value, want):
    assert prune(schema, value) == want

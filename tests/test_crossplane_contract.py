"""The Crossplane contract (issue 9, items 11-14 and 19): what Crossplane and the API server do
with what the function answers. Conditions are never removed, status is server-side applied,
composed resources are applied as sent, and the XRDs' CEL rules run before the function."""

from __future__ import annotations

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import xrds
from tests import crds
from tests.helpers import composite, conditions, desired, observed_from, request
from tests.test_instance import existing


def run(stub, xr, observed=None, inp=None, required=None, connection=None):
    return stub.RunFunction(request(xr, observed, inp, required, connection), timeout=10)


def _spec_schema(kind: xrds.Kind, namespaced: bool) -> dict:
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
    schema = _spec_schema(next(k for k in xrds.KINDS if k.claim == claim), namespaced)
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
    return body


def _own(body: dict) -> dict:
    """What the function composes of that metadata."""
    meta = body["metadata"]
    own = {k: meta[k] for k in ("name", "namespace") if k in meta}
    annotations = {
        k: v
        for k, v in meta.get("annotations", {}).items()
        if k.startswith("klutch.io/")
        or (k == "crossplane.io/external-name" and body["kind"] in ("Snapshot", "Vault", "Role"))
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

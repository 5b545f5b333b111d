"""The Crossplane contract (issue 9, items 11-14 and 19): what Crossplane and the API server do
with what the function answers. Conditions are never removed, status is server-side applied,
composed resources are applied as sent, and the XRDs' CEL rules run before the function."""

from __future__ import annotations

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import xrds
from tests import crds
from tests.helpers import composite, conditions, request
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

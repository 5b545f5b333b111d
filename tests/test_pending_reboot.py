"""A static parameter change stays pending over the reconciles after its group was updated, until
something observable says the instance rebooted (upjet reports no ParameterApplyStatus).

Each reconcile here is what Crossplane does: the function's answer is applied (specs and the
function's annotations) and observed in the next request."""

from __future__ import annotations

import copy
import json

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function.naming import ANNOTATION_PENDING_REBOOT as PENDING_REBOOT_ANNOTATION
from function.naming import ANNOTATION_REBOOTED as REBOOTED_ANNOTATION
from tests.helpers import composite, conditions, desired, request, status
from tests.test_instance_parameters import settled, with_config

AT = {"instanceClass": "db.t4g.medium", "engineVersionActual": "17.5"}
WAITING = (
    'PostgresqlInstance "orders": max_connections change(s) at the next reboot of the instance '
    "(static parameters; the platform reboots in the maintenance window)"
)


def spec(max_connections: int, **more) -> dict:
    return with_config(parameters={"max_connections": max_connections, "work_mem": "4MB", **more})


def reconcile(stub, spec: dict, observed: dict, annotations: dict | None = None):
    xr = composite("PostgresqlInstance", spec)
    if annotations:
        xr["metadata"]["annotations"] = annotations
    return stub.RunFunction(request(xr, observed))


def applied(observed: dict, rsp) -> dict:
    """Crossplane applied the answer: every observed resource takes its desired spec and the
    function's annotations (server-side apply drops one the function stopped sending)."""
    out = copy.deepcopy(observed)
    for name, body in desired(rsp).items():
        if name not in out:
            continue
        out[name]["spec"] = body["spec"]
        meta = out[name].setdefault("metadata", {})
        kept = {k: v for k, v in (meta.get("annotations") or {}).items()
                if not k.startswith("klutch.io/")}  # fmt: skip
        meta["annotations"] = {**kept, **(body.get("metadata") or {}).get("annotations", {})}
    return out


def told(rsp) -> tuple[list[str] | None, list[str], dict | None]:
    """What the answer says: status.pendingReboot, the warnings, the record on the primary."""
    warnings = [r.message for r in rsp.results if r.reason == "ParametersPendingReboot"]
    record = (desired(rsp)["instance"].get("metadata") or {}).get("annotations", {})
    raw = record.get(PENDING_REBOOT_ANNOTATION)
    return status(rsp).get("pendingReboot"), warnings, json.loads(raw) if raw else None


PENDING = (
    ["max_connections"],
    [WAITING],
    {"parameters": {"max_connections": "200"},
     "since": {"engineVersion": "17.5", "instanceClass": "db.t4g.medium"}},
)  # fmt: skip
CLEARED = (None, [], None)


@pytest.fixture(scope="module")
def waiting(stub) -> dict:
    """max_connections changed from 200 to 400, the group updated, three reconciles later."""
    observed = settled(stub, spec(200), at=AT)
    for _ in range(3):
        rsp = reconcile(stub, spec(400), observed)
        assert told(rsp) == PENDING
        observed = applied(observed, rsp)
    group = observed["parameters-postgres17"]["spec"]["forProvider"]["parameter"]
    assert {"name": "max_connections", "value": "400", "applyMethod": "pending-reboot"} in group
    return observed


def _with_at(observed: dict, **at) -> dict:
    out = copy.deepcopy(observed)
    out["instance"]["status"]["atProvider"].update(at)
    return out


@pytest.mark.parametrize("change,expected", [
    pytest.param(lambda o: (spec(400), o, None), PENDING, id="nothing-happened"),
    pytest.param(lambda o: (spec(400), _with_at(o, status="modifying"), None), PENDING,
                 id="modifying-is-no-reboot"),
    pytest.param(lambda o: (spec(400), _with_at(o, status="rebooting"), None), CLEARED,
                 id="seen-rebooting"),
    pytest.param(lambda o: (spec(400), _with_at(o, instanceClass="db.m7g.large"), None), CLEARED,
                 id="new-instance-class"),
    pytest.param(lambda o: (spec(400), _with_at(o, engineVersionActual="17.6"), None), CLEARED,
                 id="new-engine-version"),
    pytest.param(lambda o: (spec(400), o, {REBOOTED_ANNOTATION: "2026-11-27T04:00:00Z"}), CLEARED,
                 id="platform-says-rebooted"),
    pytest.param(lambda o: (spec(200), o, None), CLEARED, id="set-back-to-what-runs"),
    pytest.param(
        lambda o: (spec(400, shared_preload_libraries=["pg_stat_statements"]), o, None),
        (["max_connections", "shared_preload_libraries"],
         [WAITING.replace("max_connections", "max_connections, shared_preload_libraries")],
         {"parameters": {"max_connections": "200", "shared_preload_libraries": None},
          "since": PENDING[2]["since"]}),
        id="another-static-change-keeps-the-first",
    ),
])  # fmt: skip
def test_pending_until_a_reboot_is_observed(stub, waiting, change, expected):
    spec_now, observed, annotations = change(waiting)
    rsp = reconcile(stub, spec_now, observed, annotations)
    assert told(rsp) == expected
    # Cleared stays cleared: the next reconcile sees the group as it is, nothing changes.
    again = reconcile(stub, spec_now, applied(observed, rsp), annotations)
    assert told(again) == expected


def test_a_refused_edit_still_says_what_waits_for_a_reboot(stub, waiting):
    refused = {**spec(400), "plan": "no-such-plan"}
    rsp = reconcile(stub, refused, waiting)
    assert conditions(rsp)["SpecValid"].status == fnv1.STATUS_CONDITION_FALSE
    assert told(rsp) == PENDING

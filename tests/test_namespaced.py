"""Crossplane v2 namespaced mode: the same kinds without claims, composing *.m.* resources."""

from __future__ import annotations

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import kinds, xrds
from tests import crds
from tests.helpers import (
    ROOT,
    call,
    conditions,
    desired,
    load_yaml,
    observed_from,
    request,
    status,
)

NS = "team-a"


def xr(kind: str, spec: dict, name: str = "orders") -> dict:
    return {
        "apiVersion": f"{xrds.GROUP}/{xrds.VERSION}",
        "kind": kind,
        "metadata": {"name": name, "namespace": NS, "uid": "0b7c-namespaced"},
        "spec": spec,
    }


def settled_instance(stub) -> tuple[dict, dict]:
    x = xr(
        "PostgresqlInstance",
        {"serviceVersion": "17.5", "plan": "cluster-small", "backup": {"schedule": "hourly"}},
    )
    at = {
        "address": "h.example",
        "port": 5432,
        "arn": "arn:aws:rds:eu-central-1:1:db:x",
        "status": "available",
    }
    observed: dict = {}
    for _ in range(3):
        got = desired(stub.RunFunction(request(x, observed)))
        observed = {
            n: observed_from(b, at_provider=at if n == "instance" else {}) for n, b in got.items()
        }
    final = stub.RunFunction(request(x, observed))
    return {
        **x,
        "status": {**status(final), "conditions": [{"type": "Ready", "status": "True"}]},
    }, desired(final)


def test_instance_composes_namespaced_managed_resources(stub):
    _, got = settled_instance(stub)
    assert "backup-selection" in got and "sql-role-rw" in got and "replica-1" in got
    for name, body in got.items():
        # Crossplane's own namespaced Usage holds the composite; every managed resource is .m.
        want = "protection.crossplane.io/" if body["kind"] == "Usage" else ".m."
        assert want in body["apiVersion"], name
        crds.validate(body)
        assert "deletionPolicy" not in body["spec"], name
    fp = got["instance"]["spec"]["forProvider"]
    assert fp["passwordSecretRef"] == {"name": fp["identifier"] + "-master", "key": "password"}
    assert got["instance"]["spec"]["providerConfigRef"] == {
        "kind": "ClusterProviderConfig",
        "name": "default",
    }
    assert got["sql-role-rw"]["spec"]["providerConfigRef"] == {
        "kind": "ProviderConfig",
        "name": fp["identifier"],
    }
    assert got["sql-providerconfig"]["spec"]["credentials"]["connectionSecretRef"] == {
        "name": fp["identifier"] + "-conn"
    }
    # Nothing that holds data is deleted with the composite: the roles and vault are kept.
    assert "Delete" not in got["sql-role-rw"]["spec"]["managementPolicies"]
    assert "Delete" not in got["backup-vault"]["spec"]["managementPolicies"]


def test_binding_backup_and_restore_find_the_instance_by_name(stub):
    inst, _ = settled_instance(stub)
    b = xr(
        "ServiceBinding",
        {"instanceRef": "orders", "writeConnectionSecretToRef": {"name": "orders-env"}},
        name="app",
    )
    first = stub.RunFunction(request(b))
    sel = first.requirements.resources["instance-ref-postgresqlinstance"]
    assert (sel.kind, sel.match_name, sel.namespace) == ("PostgresqlInstance", "orders", NS)
    got = desired(call(stub, b, [inst]))
    for body in got.values():
        crds.validate(body)
    assert got["usage"]["apiVersion"] == "protection.crossplane.io/v1beta1"
    observed = {n: observed_from(body) for n, body in got.items()}
    done = call(
        stub,
        b,
        [inst],
        observed,
        {"user": {"username": "u", "password": "p", "endpoint": "h", "port": "5432"}},
    )
    secret = desired(done)["secret"]
    assert (secret["metadata"]["name"], secret["metadata"]["namespace"]) == ("orders-env", NS)
    assert not done.desired.composite.connection_details, "v2 XRs have no connection details"

    snap = desired(call(stub, xr("Backup", {"instanceRef": "orders"}, name="pre"), [inst]))[
        "snapshot"
    ]
    assert snap["apiVersion"] == "rds.aws.m.upbound.io/v1beta1"
    crds.validate(snap)
    restore = xr(
        "Restore",
        {"pointInTime": {"instanceRef": "orders", "useLatestRestorableTime": True}},
        name="copy",
    )
    inst["status"]["backup"]["latestRestorableTime"] = "2026-11-24T09:35:00Z"
    got = desired(call(stub, restore, [inst]))
    crds.validate(got["instance"])
    assert conditions(call(stub, restore, [inst]))["SpecValid"].status == fnv1.STATUS_CONDITION_TRUE


def test_namespaced_xrds_and_compositions_validate():
    xrd_files = sorted((ROOT / "xrds" / "namespaced").glob("*.yaml"))
    comp_files = sorted((ROOT / "compositions" / "namespaced").glob("*.yaml"))
    assert len(xrd_files) == len(comp_files) == len(kinds.KINDS)
    for path in xrd_files:
        (doc,) = load_yaml(path)
        crds.validate(doc)
        assert (doc["apiVersion"], doc["spec"]["scope"]) == (
            "apiextensions.crossplane.io/v2",
            "Namespaced",
        )
    for path in comp_files:
        (doc,) = load_yaml(path)
        crds.validate(doc)
        assert not doc["spec"]["compositeTypeRef"]["kind"].startswith("X")

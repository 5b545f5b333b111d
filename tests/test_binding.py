"""ServiceBinding through the real gRPC server: resolving the instance, waiting, errors, Usage."""

from __future__ import annotations

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from tests import crds
from tests.helpers import (
    SERVER_LOG,
    call,
    composite,
    conditions,
    desired,
    observed_from,
    request,
    status,
)

READY_PG = {
    **composite("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-small"}),
    "status": {
        "endpoint": "orders.x.eu-central-1.rds.amazonaws.com",
        "port": 5432,
        "dbname": "app",
        "engine": "postgresql",
        "sqlProviderConfig": "team-a-orders-6ca319",
        "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}],
    },
}
READY_PG["metadata"]["name"] = "orders-6ca31"
UNREADY_MYSQL = {
    **composite("MysqlInstance", {"serviceVersion": "8.4.5", "plan": "single-small"}, name="shop"),
    "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Creating"}]},
}
DETAILS = {
    "username": "b_app_123",
    "password": "s3cr3tPassw0rdFromProvider",
    "endpoint": "orders.x",
    "port": "5432",
}


def binding(spec: dict, name: str = "app") -> dict:
    return composite("ServiceBinding", spec, name=name)


def test_first_call_asks_for_the_instance_by_claim_labels(stub):
    rsp = stub.RunFunction(request(binding({"instanceRef": "orders"})))
    sel = rsp.requirements.resources["instance-ref-postgresqlinstance"]
    assert (sel.api_version, sel.kind) == ("rds.aws.anynines.com/v1", "XPostgresqlInstance")
    assert dict(sel.match_labels.labels) == {
        "crossplane.io/claim-name": "orders",
        "crossplane.io/claim-namespace": "team-a",
    }
    claim = rsp.requirements.resources["binding-claim"]
    assert (claim.kind, claim.match_name, claim.namespace) == ("ServiceBinding", "app", "team-a")
    assert sorted(rsp.requirements.resources) == [
        "binding-claim",
        "instance-ref-mariadbinstance",
        "instance-ref-mysqlinstance",
        "instance-ref-postgresqlinstance",
        "instance-ref-restore",
    ]
    assert conditions(rsp)["InstanceReady"].reason == "InstanceResolving"
    assert desired(rsp) == {}
    assert not rsp.results, "looking up is not worth an event"


# (case, spec, pool, reason, message)
WAITING = [
    (
        "MissingInstanceWaits",
        {"instanceRef": "nothing"},
        [READY_PG],
        "InstanceNotFound",
        'cannot use ServiceBinding "app": spec.instanceRef "nothing": no MariadbInstance or '
        'MysqlInstance or PostgresqlInstance or Restore of that name in namespace "team-a"; '
        "allowed: the name of one of those in this namespace (waiting for it)",
    ),
    (
        "UnreadyInstanceWaits",
        {"instanceRef": "shop"},
        [READY_PG, UNREADY_MYSQL],
        "InstanceNotReady",
        'cannot use ServiceBinding "app": MysqlInstance "shop" is not ready yet (waiting for it '
        "to be available)",
    ),
    (
        "TypeMismatchIsReported",
        {"instanceRef": "orders", "serviceInstanceType": "mysql"},
        [READY_PG],
        "InstanceTypeMismatch",
        'cannot use ServiceBinding "app": spec.serviceInstanceType "mysql" does not match '
        'PostgresqlInstance "orders", which is postgresql; allowed: "postgresql" or unset',
    ),
]


@pytest.mark.parametrize("case", WAITING, ids=[c[0] for c in WAITING])
def test_binding_waits_or_reports_with_a_condition(stub, case):
    name, spec, pool, reason, message = case
    rsp = call(stub, binding(spec), pool)
    cond = conditions(rsp)["InstanceReady"]
    assert (cond.status, cond.reason, cond.message) == (
        fnv1.STATUS_CONDITION_FALSE,
        reason,
        message,
    ), name
    assert [(r.severity, r.reason, r.message) for r in rsp.results] == [
        (fnv1.SEVERITY_WARNING, reason, message)
    ]
    assert desired(rsp) == {}, name


def test_binding_composes_user_grant_and_usage_then_the_secret(stub):
    xr = binding({"instanceRef": "orders"})
    rsp = call(stub, xr, [READY_PG])
    got = desired(rsp)
    assert sorted(got) == ["grant", "usage", "user"]
    for body in got.values():
        crds.validate(body)
    user = got["user"]
    assert user["metadata"]["annotations"]["crossplane.io/external-name"] == status(rsp)["username"]
    assert user["spec"]["providerConfigRef"] == {"name": "team-a-orders-6ca319"}
    assert user["spec"]["forProvider"]["privileges"]["superUser"] is False
    assert got["grant"]["spec"]["forProvider"] == {
        "role": status(rsp)["username"],
        "memberOf": "klutch_rw",
    }
    usage = got["usage"]["spec"]
    assert usage["of"] == {
        "apiVersion": "rds.aws.anynines.com/v1",
        "kind": "XPostgresqlInstance",
        "resourceRef": {"name": "orders-6ca31"},
    }
    assert usage["by"] == {
        "apiVersion": "postgresql.sql.crossplane.io/v1alpha1",
        "kind": "Role",
        "resourceSelector": {"matchControllerRef": True},
    }
    assert conditions(rsp)["CredentialsReady"].reason == "CredentialsPending"
    assert rsp.desired.composite.ready == fnv1.READY_FALSE, "no Secret yet: not ready"
    assert "binding" not in status(rsp)
    assert rsp.desired.resources["user"].ready == fnv1.READY_FALSE

    observed = {n: observed_from(b) for n, b in got.items()}
    done = call(stub, xr, [READY_PG], observed, {"user": DETAILS})
    secret = desired(done)["secret"]
    assert secret["metadata"]["namespace"] == "team-a"
    assert secret["type"] == "servicebinding.io/postgresql"
    assert status(done)["binding"] == {"name": "app-creds"}
    assert all(r.ready == fnv1.READY_TRUE for r in done.desired.resources.values())
    assert conditions(done)["CredentialsReady"].reason == "CredentialsPublished"
    assert done.desired.composite.ready == fnv1.READY_UNSPECIFIED
    for c in done.conditions:
        assert DETAILS["password"] not in c.message
    for r in done.results:
        assert DETAILS["password"] not in r.message

    # The provider's secret is gone for a moment: the Secret an app uses is kept as it was.
    again = call(stub, xr, [READY_PG], {**observed, "secret": observed_from(secret)})
    assert desired(again)["secret"]["data"] == secret["data"]


def test_role_cannot_change_once_the_user_exists(stub):
    xr = binding({"instanceRef": "orders"})
    got = desired(call(stub, xr, [READY_PG]))
    observed = {n: observed_from(b) for n, b in got.items()}
    rsp = call(stub, binding({"instanceRef": "orders", "role": "readOnly"}), [READY_PG], observed)
    cond = conditions(rsp)["SpecValid"]
    assert cond.reason == "ImmutableFieldChanged"
    assert 'spec.role cannot change from "readWrite" to "readOnly"' in cond.message
    assert {n: b["spec"] for n, b in desired(rsp).items()} == {
        n: b["spec"] for n, b in observed.items()
    }


def test_vanished_instance_keeps_the_binding_user(stub):
    got = desired(call(stub, binding({"instanceRef": "orders"}), [READY_PG]))
    observed = {n: observed_from(b) for n, b in got.items()}
    rsp = call(stub, binding({"instanceRef": "orders"}), [], observed)
    assert conditions(rsp)["InstanceReady"].reason == "InstanceNotFound"
    assert sorted(desired(rsp)) == sorted(observed)


def test_mysql_grants(stub):
    ready_mysql = {
        **UNREADY_MYSQL,
        "status": {
            **READY_PG["status"],
            "engine": "mysql",
            "port": 3306,
            "sqlProviderConfig": "shop-pc",
        },
    }
    for role, privileges in (("readWrite", ["ALL"]), ("readOnly", ["SELECT", "SHOW VIEW"])):
        got = desired(call(stub, binding({"instanceRef": "shop", "role": role}), [ready_mysql]))
        for body in got.values():
            crds.validate(body)
        assert got["grant"]["spec"]["forProvider"]["privileges"] == privileges
        assert got["grant"]["spec"]["forProvider"]["database"] == "app"
        assert got["user"]["kind"] == "User"


def test_no_password_in_the_function_log(grpc_stub):
    # The real server, which logs at debug level to SERVER_LOG.
    xr = binding({"instanceRef": "orders"})
    got = desired(call(grpc_stub, xr, [READY_PG]))
    observed = {n: observed_from(b) for n, b in got.items()}
    call(grpc_stub, xr, [READY_PG], observed, {"user": DETAILS})
    log = SERVER_LOG.read_text()
    assert "composed" in log, "the server runs with --debug; its log must be there to check"
    assert DETAILS["password"] not in log


def test_claim_secret_of_the_same_name_is_reported_not_fought_over(stub):
    xr = binding({"instanceRef": "orders"})
    got = desired(call(stub, xr, [READY_PG]))
    observed = {n: observed_from(b) for n, b in got.items()}
    claim = {
        "apiVersion": "rds.aws.anynines.com/v1",
        "kind": "ServiceBinding",
        "metadata": {"name": "app", "namespace": "team-a"},
        "spec": {"instanceRef": "orders", "writeConnectionSecretToRef": {"name": "app-creds"}},
    }
    rsp = call(stub, xr, [READY_PG, claim], observed, {"user": DETAILS})
    cond = conditions(rsp)["CredentialsReady"]
    assert cond.reason == "SecretNameClash"
    assert (
        'spec.writeConnectionSecretToRef.name "app-creds" is the Secret this binding composes'
        in cond.message
    )
    assert "secret" not in desired(rsp)
    assert rsp.desired.composite.connection_details["password"] == DETAILS["password"].encode()
    claim["spec"]["writeConnectionSecretToRef"]["name"] = "app-env"
    fine = call(stub, xr, [READY_PG, claim], observed, {"user": DETAILS})
    assert conditions(fine)["CredentialsReady"].reason == "CredentialsPublished"
    assert "secret" in desired(fine)

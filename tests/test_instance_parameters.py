"""Parameters, server-side TLS and extensions as instances compose them: every problem named at
once before anything changes, one parameter group per family, the old group kept until the
instance has left it, extensions once the server is reachable."""

from __future__ import annotations

import copy

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import conditions as fnconditions
from tests import crds
from tests.helpers import (
    EXAMPLE_INPUT,
    composite,
    conditions,
    desired,
    observed_from,
    request,
    status,
)

PG = {"serviceVersion": "17.5", "plan": "single-small"}


def run(stub, spec, observed=None, inp=None, kind="PostgresqlInstance"):
    return stub.RunFunction(request(composite(kind, spec), observed, inp=inp))


def settled(stub, spec, kind="PostgresqlInstance", at=None):
    """Composed twice (extensions wait for a ready primary) and observed as the provider left it."""
    observed: dict = {}
    for _ in range(2):
        made = desired(run(stub, spec, observed, kind=kind))
        observed = {
            n: observed_from(
                b,
                at_provider={"status": "available", **(at or {})} if n == "instance" else {},
            )
            for n, b in made.items()
        }
    return observed


def with_config(**config) -> dict:
    return {**PG, "config": config}


def test_parameters_become_the_instances_group_with_tls_enforced(stub):
    spec = with_config(
        parameters={
            "max_connections": 200,
            "work_mem": "64MB",
            "statement_timeout": "30s",
            "log_min_duration_statement": "500ms",
        }
    )
    got = desired(run(stub, spec))
    group = got["parameters-postgres17"]
    crds.validate(group)
    name = group["metadata"]["annotations"]["crossplane.io/external-name"]
    assert got["instance"]["spec"]["forProvider"]["parameterGroupName"] == name
    assert group["spec"]["forProvider"]["family"] == "postgres17"
    assert group["spec"]["managementPolicies"] == ["Observe", "Create", "Update", "Delete"]
    assert group["spec"]["forProvider"]["parameter"] == [
        {"name": "log_min_duration_statement", "value": "500", "applyMethod": "immediate"},
        {"name": "max_connections", "value": "200", "applyMethod": "pending-reboot"},
        {"name": "rds.force_ssl", "value": "1", "applyMethod": "immediate"},
        {"name": "statement_timeout", "value": "30000", "applyMethod": "immediate"},
        {"name": "work_mem", "value": "65536", "applyMethod": "immediate"},
    ]


def test_bad_parameters_and_extensions_are_refused_before_anything_is_composed(stub):
    # Whole messages come from the catalogs' own tables (tests/test_parameters.py); here: every
    # problem reaches the developer, on SpecValid and as events, and nothing is composed.
    spec = with_config(
        parameters={"work_mem": "3GB", "fsync": "off", "rds.force_ssl": 0},
        extensions=["pg_stat_statements", "no_such_extension"],
    )
    rsp = run(stub, spec)
    assert desired(rsp) == {}
    reasons = sorted(r.reason for r in rsp.results)
    assert reasons == [
        "ExtensionNeedsPreload",
        "ExtensionNotAllowed",
        "ParameterNotAllowed",
        "ParameterReserved",
        "ParameterValueInvalid",
    ], [r.message for r in rsp.results]
    assert all(reason in fnconditions.REFUSALS for reason in reasons)
    valid = conditions(rsp)["SpecValid"]
    assert valid.status == fnv1.STATUS_CONDITION_FALSE
    for r in rsp.results:
        assert r.message.startswith('cannot compose PostgresqlInstance "orders": spec.config.')
    mysql = run(stub, {"serviceVersion": "8.4.5", "plan": "single-small",
                       "config": {"extensions": ["vector"]}}, kind="MysqlInstance")  # fmt: skip
    assert [(r.reason, r.message) for r in mysql.results] == [
        (
            "ExtensionsNotOffered",
            'cannot compose MysqlInstance "orders": spec.config.extensions is for PostgreSQL; '
            "allowed: none on mysql",
        )
    ]


def test_a_refused_parameter_keeps_the_running_database_as_it_is(stub):
    observed = settled(stub, with_config(parameters={"work_mem": "64MB"}))
    rsp = run(stub, with_config(parameters={"work_mem": "3GB"}), observed)
    assert conditions(rsp)["SpecValid"].reason == "ParameterValueInvalid"
    got = desired(rsp)
    assert sorted(got) == sorted(observed)
    for name, body in got.items():
        assert body["spec"] == observed[name]["spec"], name


def test_extensions_are_created_once_the_server_is_reachable(stub):
    spec = with_config(
        parameters={"shared_preload_libraries": ["pg_stat_statements"]},
        extensions=["pg_trgm", "pg_stat_statements"],
    )
    first = desired(run(stub, spec))
    assert not [n for n in first if n.startswith("sql-extension-")], "the server is not up yet"
    got = desired(run(stub, spec, settled(stub, spec)))
    ext = {n: b for n, b in got.items() if n.startswith("sql-extension-")}
    assert sorted(ext) == ["sql-extension-pg_stat_statements", "sql-extension-pg_trgm"]
    for body in ext.values():
        crds.validate(body)
        assert body["spec"]["forProvider"]["database"] == "app"
    # Removing one from the list first allows its delete (its resource is kept when the
    # instance is deleted), then removes its resource: provider-sql drops it without CASCADE
    # (tests/test_extensions_lifecycle.py).
    fewer = {**spec, "config": {**spec["config"], "extensions": ["pg_trgm"]}}
    observed = settled(stub, spec)
    assert observed["sql-extension-pg_stat_statements"]["spec"]["deletionPolicy"] == "Orphan"
    armed = desired(run(stub, fewer, observed))
    assert armed["sql-extension-pg_stat_statements"]["spec"]["deletionPolicy"] == "Delete"
    observed["sql-extension-pg_stat_statements"]["spec"]["deletionPolicy"] = "Delete"
    after = desired(run(stub, fewer, observed))
    assert sorted(n for n in after if n.startswith("sql-extension-")) == ["sql-extension-pg_trgm"]


def test_a_major_upgrade_moves_to_a_new_group_and_keeps_the_old_one_until_left(stub):
    old_spec = {"serviceVersion": "16.9", "plan": "single-small"}
    observed = settled(stub, old_spec, at={"parameterGroupName": "team-a-orders-6ca319-postgres16"})
    assert "parameters-postgres16" in observed
    new_spec = {"serviceVersion": "17.5", "plan": "single-small"}
    during = desired(run(stub, new_spec, observed))
    assert during["instance"]["spec"]["forProvider"]["parameterGroupName"] == (
        "team-a-orders-6ca319-postgres17"
    )
    assert during["instance"]["spec"]["forProvider"]["allowMajorVersionUpgrade"] is True
    # RDS still runs on the old group: it stays until the instance has left it.
    assert {"parameters-postgres16", "parameters-postgres17"} <= set(during)
    assert during["parameters-postgres16"]["spec"] == observed["parameters-postgres16"]["spec"]
    moved = copy.deepcopy(observed)
    moved["instance"]["status"]["atProvider"]["parameterGroupName"] = (
        "team-a-orders-6ca319-postgres17"
    )
    moved["instance"]["spec"]["forProvider"]["engineVersion"] = "17.5"
    moved["parameters-postgres17"] = observed_from(during["parameters-postgres17"])
    after = desired(run(stub, new_spec, moved))
    assert "parameters-postgres16" not in after and "parameters-postgres17" in after


def test_a_static_change_says_it_waits_for_a_reboot(stub):
    before = with_config(parameters={"max_connections": 200, "work_mem": "4MB"})
    observed = settled(stub, before)
    rsp = run(stub, with_config(parameters={"max_connections": 400, "work_mem": "8MB"}), observed)
    assert conditions(rsp)["SpecValid"].status == fnv1.STATUS_CONDITION_TRUE
    assert [(r.reason, r.message) for r in rsp.results] == [
        (
            "ParametersPendingReboot",
            'PostgresqlInstance "orders": max_connections change(s) at the next reboot of the '
            "instance (static parameters; the platform reboots in the maintenance window)",
        )
    ]
    assert status(rsp)["pendingReboot"] == ["max_connections"]
    # A dynamic change alone applies at once: nothing waits.
    quiet = run(stub, with_config(parameters={"max_connections": 200, "work_mem": "8MB"}), observed)
    assert not quiet.results and "pendingReboot" not in status(quiet)


def test_the_platform_may_allow_plaintext_and_must_for_a_plaintext_sql_provider(stub):
    inp = copy.deepcopy(EXAMPLE_INPUT)
    inp["safety"] = {**inp.get("safety", {}), "allowPlaintext": True}
    got = desired(run(stub, PG, inp=inp))
    assert got["parameters-postgres17"]["spec"]["forProvider"]["parameter"] == []
    inp = copy.deepcopy(EXAMPLE_INPUT)
    inp["sqlSslMode"] = "disable"
    rsp = run(stub, PG, inp=inp)
    assert [r.severity for r in rsp.results] == [fnv1.SEVERITY_FATAL]
    assert rsp.results[0].message == (
        "cannot use the function input of this Composition step: input: sqlSslMode disable "
        "cannot reach servers that refuse plaintext (rds.force_ssl, require_secure_transport); "
        "allowed: 'require', or safety.allowPlaintext true"
    )


@pytest.mark.parametrize("kind,version,family", [
    ("MysqlInstance", "8.4.5", "mysql8-4"),
    ("MariadbInstance", "11.4.5", "mariadb11-4"),
])  # fmt: skip
def test_mysql_and_mariadb_enforce_tls_and_take_their_parameters(stub, kind, version, family):
    spec = {"serviceVersion": version, "plan": "single-small",
            "config": {"parameters": {"long_query_time": 2, "slow_query_log": True}}}  # fmt: skip
    got = desired(run(stub, spec, kind=kind))
    params = got[f"parameters-{family}"]["spec"]["forProvider"]["parameter"]
    assert {p["name"]: p["value"] for p in params} == {
        "long_query_time": "2",
        "require_secure_transport": "1",
        "slow_query_log": "1",
    }


def test_a_restore_from_an_arn_gets_its_group_once_aws_reports_the_version(stub):
    arn = "arn:aws:rds:eu-central-1:123456789012:snapshot:orders-2026-11-24"
    spec = {"backupArn": arn, "serviceInstanceType": "postgresql", "plan": "single-small",
            "config": {"database": {"name": "app"}}}  # fmt: skip
    first = desired(run(stub, spec, kind="Restore"))
    # The snapshot decides the version: no family to choose a group of yet.
    assert not [n for n in first if n.startswith("parameters-")]
    restored = {
        "instance": observed_from(
            first["instance"],
            at_provider={"id": "db-RESTORED", "status": "available", "engineVersionActual": "16.9"},
        )
    }
    got = desired(run(stub, spec, restored, kind="Restore"))
    assert got["instance"]["spec"]["forProvider"]["parameterGroupName"].endswith("-postgres16")
    group = got["parameters-postgres16"]["spec"]["forProvider"]["parameter"]
    assert {"name": "rds.force_ssl", "value": "1", "applyMethod": "immediate"} in group


@pytest.mark.parametrize(
    ("parameters", "want"),
    [
        ({"work_mem": "64MB"}, (fnv1.STATUS_CONDITION_TRUE, "SpecAccepted", {"work_mem": "65536"})),
        ({"work_mem": "lots"}, (fnv1.STATUS_CONDITION_FALSE, "ParameterValueInvalid", None)),
    ],
    ids=["taken", "refused"],
)
def test_a_restore_from_an_arn_checks_and_takes_its_parameters_for_the_version_aws_reports(
    stub, parameters, want
):
    """The snapshot decides the version: the developer's parameters are checked against it and
    composed once AWS reports it, never dropped without a word."""
    arn = "arn:aws:rds:eu-central-1:123456789012:snapshot:orders-2026-11-24"
    spec = {"backupArn": arn, "serviceInstanceType": "postgresql", "plan": "single-small",
            "config": {"database": {"name": "app"}, "parameters": parameters}}  # fmt: skip
    first = desired(run(stub, spec, kind="Restore"))
    restored = {
        "instance": observed_from(
            first["instance"],
            at_provider={"id": "db-RESTORED", "status": "available", "engineVersionActual": "16.9"},
        )
    }
    rsp = run(stub, spec, restored, kind="Restore")
    valid = next(c for c in rsp.conditions if c.type == "SpecValid")
    status, reason, taken = want
    assert (valid.status, valid.reason) == (status, reason)
    if taken is not None:
        group = desired(rsp)["parameters-postgres16"]["spec"]["forProvider"]["parameter"]
        assert {p["name"]: p["value"] for p in group if p["name"] in taken} == taken

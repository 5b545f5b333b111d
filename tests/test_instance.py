"""Database instances through the real gRPC server: plans, engines, versions, invalid input."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import conditions as fnconditions
from tests import crds
from tests.helpers import (
    EXAMPLE_INPUT,
    KIND_OF_ENGINE,
    composite,
    conditions,
    desired,
    observed_from,
    request,
    run,
    status,
)

LATEST = {"postgresql": "17.5", "mysql": "8.4.5", "mariadb": "11.4.5"}
RDS_ENGINE = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mariadb"}
SQL_GROUP = {"postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql"}

# What AWS reports once the primary is up: replicas wait for it.
AVAILABLE = {"status": "available"}


# --- valid specs: every engine and plan ---------------------------------------------------------


@pytest.mark.parametrize("engine", ["postgresql", "mysql", "mariadb"])
@pytest.mark.parametrize(
    "plan",
    [
        "single-nano",
        "single-small",
        "single-medium",
        "single-large",
        "cluster-nano",
        "cluster-large",
    ],
)
def test_every_engine_and_plan_composes_schema_valid_resources(stub, engine, plan):
    xr = composite(KIND_OF_ENGINE[engine], {"serviceVersion": LATEST[engine], "plan": plan})
    first = desired(run(stub, xr))
    assert not [n for n in first if n.startswith("replica-")], "replicas wait for the primary"
    # Once the primary is available, its replicas are composed.
    rsp = run(stub, xr, {"instance": observed_from(first["instance"], at_provider=AVAILABLE)})
    assert not [r for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL], rsp.results
    got = desired(rsp)
    replicas = 1 if plan.startswith("cluster-") else 0
    aws_and_config = [n for n in got if n == "sql-providerconfig" or not n.startswith("sql-")]
    family = {"postgresql": "postgres17", "mysql": "mysql8-4", "mariadb": "mariadb11-4"}[engine]
    assert sorted(aws_and_config) == sorted(
        ["instance", f"parameters-{family}", "sql-providerconfig"]
        + [f"replica-{i}" for i in range(1, replicas + 1)]
    )
    for body in got.values():
        crds.validate(body)
    fp = got["instance"]["spec"]["forProvider"]
    assert fp["engine"] == RDS_ENGINE[engine]
    assert fp["engineVersion"] == LATEST[engine]
    assert fp["multiAz"] is plan.startswith("cluster-")
    assert fp["storageEncrypted"] is True
    assert fp["skipFinalSnapshot"] is False
    assert fp["finalSnapshotIdentifier"].startswith(fp["identifier"] + "-final-")
    assert fp["deleteAutomatedBackups"] is False
    assert fp["autoMinorVersionUpgrade"] is False
    assert fp["publiclyAccessible"] is False
    # Every server refuses plaintext: its parameter group enforces TLS.
    group = got[f"parameters-{family}"]["spec"]["forProvider"]
    assert (
        fp["parameterGroupName"]
        == got[f"parameters-{family}"]["metadata"]["annotations"]["crossplane.io/external-name"]
    )
    assert group["parameter"] == [
        {
            "name": "rds.force_ssl" if engine == "postgresql" else "require_secure_transport",
            "value": "1",
            "applyMethod": "immediate",
        }
    ]
    assert (
        got["sql-providerconfig"]["apiVersion"] == f"{SQL_GROUP[engine]}.sql.crossplane.io/v1alpha1"
    )
    assert conditions(rsp)["SpecValid"].status == fnv1.STATUS_CONDITION_TRUE


PLAN_TABLE = {
    # plan: (instanceClass, storage, maxStorage)
    "single-nano": ("db.t4g.micro", 20, 100),
    "single-small": ("db.t4g.medium", 50, 500),
    "single-medium": ("db.m7g.large", 100, 1000),
    "single-large": ("db.m7g.xlarge", 200, 2000),
    "cluster-small": ("db.t4g.medium", 50, 500),
}


@pytest.mark.parametrize("plan", sorted(PLAN_TABLE))
def test_plan_sets_class_and_storage(stub, plan):
    rsp = run(stub, composite("PostgresqlInstance", {"serviceVersion": "16.5", "plan": plan}))
    fp = desired(rsp)["instance"]["spec"]["forProvider"]
    assert (fp["instanceClass"], fp["allocatedStorage"], fp["maxAllocatedStorage"]) == PLAN_TABLE[
        plan
    ]


@pytest.mark.parametrize("version", ["16.5", "17.4", "17.5", "13.21", "14.18", "15.13"])
def test_postgresql_versions_are_offered(stub, version):
    rsp = run(
        stub, composite("PostgresqlInstance", {"serviceVersion": version, "plan": "single-nano"})
    )
    assert desired(rsp)["instance"]["spec"]["forProvider"]["engineVersion"] == version


def test_full_klutch_example_is_composed_as_asked(stub):
    spec = {
        "serviceVersion": "17.5",
        "plan": "cluster-small",
        "config": {
            "region": "eu-west-1",
            "tags": {"team": "orders"},
            "database": {"name": "orders"},
            "compute": {"replicas": {"count": 2}},
            "allocatedStorage": 100,
            "multiAZ": False,
        },
        "backup": {"schedule": "daily", "retentionDays": 14, "window": "01:00-02:00"},
    }
    xr = composite("PostgresqlInstance", spec)
    first = desired(run(stub, xr))["instance"]
    rsp = run(stub, xr, {"instance": observed_from(first, at_provider=AVAILABLE)})
    got = desired(rsp)
    fp = got["instance"]["spec"]["forProvider"]
    assert fp["region"] == "eu-west-1"
    assert fp["dbName"] == "orders"
    assert fp["allocatedStorage"] == 100
    assert fp["multiAz"] is False
    assert fp["backupRetentionPeriod"] == 14
    assert fp["backupWindow"] == "01:00-02:00"
    assert fp["tags"]["team"] == "orders"
    assert fp["tags"]["klutch.io/namespace"] == "team-a"
    assert fp["tags"]["klutch.io/name"] == "orders"
    assert fp["tags"]["klutch.io/plan"] == "cluster-small"
    assert got["replica-2"]["spec"]["forProvider"]["replicateSourceDb"] == fp["identifier"]
    assert got["replica-2"]["spec"]["forProvider"]["identifier"] == fp["identifier"] + "-r2"
    pc = got["sql-providerconfig"]["spec"]
    assert pc["credentials"]["secretKeyMapping"] == {"endpoint": "address"}
    assert pc["sslMode"] == "require"
    assert (
        pc["credentials"]["connectionSecretRef"]
        == got["instance"]["spec"]["writeConnectionSecretToRef"]
    )


# --- invalid specs: each yields its reason, a message naming the field, and nothing new ---------


@dataclass
class Invalid:
    reason: str
    spec: dict
    want_reason: str
    want_message: str
    engine: str = "postgresql"
    inp: dict | None = None
    extra_reasons: list[str] = field(default_factory=list)


def _spec(**config) -> dict:
    spec: dict = {"serviceVersion": "17.5", "plan": "single-small"}
    spec.update(config)
    return spec


NO_HOURLY = copy.deepcopy(EXAMPLE_INPUT)
NO_HOURLY["backup"]["hourly"] = {}

INVALID = [
    Invalid(
        "PlanNotInCatalogIsRefused",
        _spec(plan="gold"),
        "PlanNotOffered",
        'cannot compose PostgresqlInstance "orders": spec.plan "gold" is not offered; allowed: '
        "cluster-large, cluster-medium, cluster-nano, cluster-small, single-large, "
        "single-medium, single-nano, single-small",
    ),
    Invalid(
        "VersionNotInCatalogIsRefused",
        _spec(serviceVersion="12.1"),
        "VersionNotOffered",
        'cannot compose PostgresqlInstance "orders": spec.serviceVersion "12.1" is not offered '
        "for postgresql; allowed: 13.20, 13.21, 14.17, 14.18, 15.12, 15.13, 16.5, 16.8, 16.9, "
        "17.4, 17.5",
    ),
    Invalid(
        "MysqlVersionOnPostgresIsRefused",
        _spec(serviceVersion="8.0.40"),
        "VersionNotOffered",
        'spec.serviceVersion "8.0.40" is not offered for postgresql',
    ),
    Invalid(
        "ReplicasOnSinglePlanAreRefused",
        _spec(config={"compute": {"replicas": {"count": 2}}}),
        "ReplicasNotAllowed",
        'cannot compose PostgresqlInstance "orders": spec.config.compute.replicas.count 2: plan '
        '"single-small" has no read replicas; allowed: a cluster-* plan, or remove '
        "spec.config.compute.replicas",
    ),
    Invalid(
        "TooManyReplicasAreRefused",
        _spec(plan="cluster-small", config={"compute": {"replicas": {"count": 6}}}),
        "ReplicasOutOfRange",
        'spec.config.compute.replicas.count 6 exceeds plan "cluster-small"; allowed: 0..5',
    ),
    Invalid(
        "StorageBelowPlanMinimumIsRefused",
        _spec(config={"allocatedStorage": 30}),
        "StorageOutOfRange",
        'spec.config.allocatedStorage 30 is outside plan "single-small"; allowed: 50..500 (GiB)',
    ),
    Invalid(
        "StorageAbovePlanMaximumIsRefused",
        _spec(config={"allocatedStorage": 501}),
        "StorageOutOfRange",
        "allowed: 50..500 (GiB)",
    ),
    Invalid(
        "PublicAccessIsRefused",
        _spec(config={"publiclyAccessible": True}),
        "PublicAccessRefused",
        "spec.config.publiclyAccessible true is not allowed on this platform",
    ),
    Invalid(
        "UnencryptedStorageIsRefused",
        _spec(config={"encryptedStorage": False}),
        "UnencryptedRefused",
        "spec.config.encryptedStorage false is not allowed on this platform; allowed: true",
    ),
    Invalid(
        "HourlyWithoutPlatformRoleIsRefused",
        _spec(backup={"schedule": "hourly"}),
        "HourlyBackupUnavailable",
        'spec.backup.schedule "hourly" needs AWS Backup',
        inp=NO_HOURLY,
    ),
    Invalid(
        "NoBackupsWithReplicasIsRefused",
        _spec(plan="cluster-small", backup={"schedule": "none"}),
        "ReplicasNeedBackups",
        'spec.backup.schedule "none" with 1 read replica(s)',
    ),
    Invalid(
        "ShortBackupWindowIsRefused",
        _spec(backup={"window": "03:00-03:15"}),
        "BackupWindowInvalid",
        'spec.backup.window "03:00-03:15" is shorter than 30 minutes',
    ),
    Invalid(
        "PlatformTagIsRefused",
        _spec(config={"tags": {"klutch.io/namespace": "other"}}),
        "TagReserved",
        'spec.config.tags key "klutch.io/namespace" is reserved; allowed: keys not starting with "aws:" or "klutch.io/"',
    ),
    Invalid(
        "RetentionAbove35IsRefused",
        _spec(backup={"retentionDays": 36}),
        "SpecInvalid",
        "spec.backup.retentionDays: input should be less than or equal to 35 (got 36)",
    ),
    Invalid(
        "UnknownFieldIsRefused",
        _spec(config={"replicas": 2}),
        "SpecInvalid",
        "spec.config.replicas: extra inputs are not permitted (got 2)",
    ),
    Invalid(
        "MissingPlanIsRefused",
        {"serviceVersion": "17.5"},
        "SpecInvalid",
        "spec.plan: field required",
    ),
    Invalid(
        "NumberAsVersionIsRefused",
        {"serviceVersion": 17, "plan": "single-small"},
        "SpecInvalid",
        "spec.serviceVersion: input should be a valid string (got 17)",
    ),
    Invalid(
        "BadDatabaseNameIsRefused",
        _spec(config={"database": {"name": "1-orders"}}),
        "SpecInvalid",
        "spec.config.database.name: string should match pattern",
    ),
    Invalid(
        "SeveralProblemsAreAllReported",
        _spec(plan="gold", serviceVersion="99.1", config={"publiclyAccessible": True}),
        "SpecInvalid",
        'spec.plan "gold" is not offered',
        extra_reasons=["PlanNotOffered", "VersionNotOffered", "PublicAccessRefused"],
    ),
]


@pytest.mark.parametrize("case", INVALID, ids=[c.reason for c in INVALID])
def test_invalid_spec_is_reported_and_composes_nothing(stub, case: Invalid):
    rsp = run(stub, composite(KIND_OF_ENGINE[case.engine], case.spec), inp=case.inp)
    assert case.want_reason in fnconditions.REFUSALS, f"{case.reason}: reason not documented"
    cond = conditions(rsp)["SpecValid"]
    assert cond.status == fnv1.STATUS_CONDITION_FALSE, case.reason
    assert cond.reason == case.want_reason, case.reason
    assert case.want_message in cond.message, f"{case.reason}: {cond.message}"
    assert all(r.severity == fnv1.SEVERITY_WARNING for r in rsp.results), case.reason
    assert any(case.want_message in r.message for r in rsp.results), case.reason
    if case.extra_reasons:
        assert sorted(r.reason for r in rsp.results) == sorted(case.extra_reasons), case.reason
    assert all(r.target == fnv1.TARGET_COMPOSITE_AND_CLAIM for r in rsp.results)
    assert desired(rsp) == {}, f"{case.reason}: nothing may be composed from an invalid spec"


# --- changes to an existing database ------------------------------------------------------------


def existing(stub, engine="postgresql", spec=None, at_provider=None):
    """Compose once, then return the observed state as if the provider had created it."""
    spec = spec or {"serviceVersion": LATEST[engine], "plan": "single-small"}
    first = desired(run(stub, composite(KIND_OF_ENGINE[engine], spec)))
    at = {
        "address": "orders.abc.eu-central-1.rds.amazonaws.com",
        "port": 5432,
        "arn": "arn:aws:rds:eu-central-1:123456789012:db:x",
        "status": "available",
        "allocatedStorage": first["instance"]["spec"]["forProvider"]["allocatedStorage"],
        "latestRestorableTime": "2026-11-24T09:35:00Z",
        **(at_provider or {}),
    }
    return {
        name: observed_from(body, at_provider=at if name == "instance" else {})
        for name, body in first.items()
    }


@dataclass
class Change:
    reason: str
    old: dict
    new: dict
    want_reason: str
    want_message: str


CHANGES = [
    Change(
        "DowngradeIsRefused",
        {"serviceVersion": "17.5", "plan": "single-small"},
        {"serviceVersion": "17.4", "plan": "single-small"},
        "VersionDowngradeRefused",
        'spec.serviceVersion "17.4" is lower than the running version "17.5"; allowed: "17.5" '
        "or a higher offered version",
    ),
    Change(
        "MajorDowngradeIsRefused",
        {"serviceVersion": "17.5", "plan": "single-small"},
        {"serviceVersion": "16.9", "plan": "single-small"},
        "VersionDowngradeRefused",
        "is lower than the running version",
    ),
    Change(
        "RegionChangeIsRefused",
        {"serviceVersion": "17.5", "plan": "single-small"},
        {"serviceVersion": "17.5", "plan": "single-small", "config": {"region": "us-east-1"}},
        "ImmutableFieldChanged",
        'spec.config.region cannot change on an existing database (is "eu-central-1", asked '
        '"us-east-1"); allowed: "eu-central-1", or restore into a new instance',
    ),
    Change(
        "DatabaseRenameIsRefused",
        {"serviceVersion": "17.5", "plan": "single-small"},
        {"serviceVersion": "17.5", "plan": "single-small", "config": {"database": {"name": "x"}}},
        "ImmutableFieldChanged",
        "spec.config.database.name cannot change on an existing database",
    ),
]


@pytest.mark.parametrize("case", CHANGES, ids=[c.reason for c in CHANGES])
def test_invalid_change_keeps_the_observed_database(stub, case: Change):
    observed = existing(stub, spec=case.old)
    rsp = run(stub, composite("PostgresqlInstance", case.new), observed)
    cond = conditions(rsp)["SpecValid"]
    assert (cond.status, cond.reason) == (fnv1.STATUS_CONDITION_FALSE, case.want_reason), (
        case.reason
    )
    assert case.want_message in cond.message, f"{case.reason}: {cond.message}"
    got = desired(rsp)
    assert sorted(got) == sorted(observed), f"{case.reason}: an observed resource was dropped"
    for name, body in got.items():
        assert body["spec"] == observed[name]["spec"], f"{case.reason}: {name} was changed"
        assert "status" not in body
    assert rsp.desired.resources["instance"].ready == fnv1.READY_TRUE
    assert status(rsp)["endpoint"] == "orders.abc.eu-central-1.rds.amazonaws.com"


def test_major_upgrade_the_catalog_forbids_is_refused(stub):
    inp = copy.deepcopy(EXAMPLE_INPUT)
    inp["catalog"] = {"versions": {"postgresql": [{"version": "17.5", "majorUpgradeFrom": ["16"]}]}}
    observed = existing(stub, spec={"serviceVersion": "15.13", "plan": "single-small"})
    rsp = run(
        stub,
        composite("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-small"}),
        observed,
        inp,
    )
    cond = conditions(rsp)["SpecValid"]
    assert cond.reason == "MajorUpgradeNotAllowed"
    assert (
        'a major upgrade from "15.13" is not allowed; allowed: 15.12, 15.13, 16.5' in cond.message
    )


@pytest.mark.parametrize(
    ("case", "running", "asked", "major"),
    [
        ("MajorUpgradeTheCatalogAllowsIsApplied", "16.9", "17.5", True),
        ("MinorUpgradeIsApplied", "17.4", "17.5", False),
    ],
)
def test_upgrade_is_applied_in_place(stub, case, running, asked, major):
    observed = existing(stub, spec={"serviceVersion": running, "plan": "single-small"})
    xr = composite("PostgresqlInstance", {"serviceVersion": asked, "plan": "single-small"})
    fp = desired(run(stub, xr, observed))["instance"]["spec"]["forProvider"]
    assert (fp["engineVersion"], fp["allowMajorVersionUpgrade"]) == (asked, major), case
    assert fp["identifier"] == observed["instance"]["spec"]["forProvider"]["identifier"], case


def test_plan_change_resizes_in_place_and_never_shrinks_storage(stub):
    observed = existing(stub, spec={"serviceVersion": "17.5", "plan": "single-medium"})
    rsp = run(
        stub,
        composite("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-small"}),
        observed,
    )
    got = desired(rsp)["instance"]["spec"]["forProvider"]
    was = observed["instance"]["spec"]["forProvider"]
    assert got["identifier"] == was["identifier"], "a plan change must not replace the database"
    assert got["instanceClass"] == "db.t4g.medium"
    assert got["allocatedStorage"] == 100
    assert got["maxAllocatedStorage"] == 500
    warnings = [r for r in rsp.results if r.reason == "StorageShrinkKept"]
    assert len(warnings) == 1
    assert "storage stays at 100 GiB, larger than the 50 GiB asked for" in warnings[0].message
    assert conditions(rsp)["SpecValid"].status == fnv1.STATUS_CONDITION_TRUE


def test_autoscaled_storage_is_kept(stub):
    observed = existing(stub, at_provider={"allocatedStorage": 480})
    rsp = run(
        stub,
        composite("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-small"}),
        observed,
    )
    fp = desired(rsp)["instance"]["spec"]["forProvider"]
    assert fp["allocatedStorage"] == 480
    assert fp["maxAllocatedStorage"] == 528, "the ceiling stays 10% above the allocated size"


def test_version_dropped_from_catalog_keeps_running_with_a_warning(stub):
    inp = copy.deepcopy(EXAMPLE_INPUT)
    observed = existing(stub)
    inp["catalog"] = {
        "mode": "replace",
        "plans": {
            "single-small": {
                "instanceClass": "db.t4g.medium",
                "storageGiB": 50,
                "maxStorageGiB": 500,
            }
        },
        "versions": {"postgresql": [{"version": "17.6"}]},
    }
    rsp = run(
        stub,
        composite("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-small"}),
        observed,
        inp,
    )
    assert desired(rsp)["instance"]["spec"]["forProvider"]["engineVersion"] == "17.5"
    assert [r.reason for r in rsp.results] == ["VersionNoLongerOffered"]


def test_status_reports_what_aws_observed(stub):
    observed = existing(stub)
    rsp = run(
        stub,
        composite("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-small"}),
        observed,
    )
    s = status(rsp)
    ident = observed["instance"]["spec"]["forProvider"]["identifier"]
    assert s == {
        "phase": "available",
        "endpoint": "orders.abc.eu-central-1.rds.amazonaws.com",
        "port": 5432,
        "dbname": "app",
        "identifier": ident,
        "region": "eu-central-1",
        "arn": "arn:aws:rds:eu-central-1:123456789012:db:x",
        "engine": "postgresql",
        "version": "17.5",
        "plan": "single-small",
        "instanceClass": "db.t4g.medium",
        "allocatedStorage": 50,
        "multiAZ": False,
        "replicas": 0,
        "sqlProviderConfig": ident,
        "parameterGroup": f"{ident}-postgres17",
        "backup": {
            "schedule": "daily",
            "retentionDays": 7,
            "window": "03:00-04:00",
            "pointInTimeRestore": "Available",
            "latestRestorableTime": "2026-11-24T09:35:00Z",
        },
    }
    assert rsp.desired.resources["instance"].ready == fnv1.READY_TRUE
    assert rsp.desired.resources["sql-providerconfig"].ready == fnv1.READY_TRUE


def test_unready_instance_is_not_ready(stub):
    rsp = run(
        stub, composite("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-small"})
    )
    assert rsp.desired.resources["instance"].ready == fnv1.READY_FALSE


def test_no_schedule_means_no_point_in_time_restore(stub):
    rsp = run(
        stub,
        composite(
            "MysqlInstance",
            {"serviceVersion": "8.4.5", "plan": "single-small", "backup": {"schedule": "none"}},
        ),
    )
    assert desired(rsp)["instance"]["spec"]["forProvider"]["backupRetentionPeriod"] == 0
    assert status(rsp)["backup"] == {
        "schedule": "none",
        "retentionDays": 0,
        "window": "03:00-04:00",
        "pointInTimeRestore": "Unavailable",
    }


def test_hourly_schedule_composes_aws_backup_plan_vault_and_selection(stub):
    spec = {
        "serviceVersion": "11.4.5",
        "plan": "single-nano",
        "backup": {"schedule": "hourly", "retentionDays": 14},
    }
    first = desired(run(stub, composite("MariadbInstance", spec)))
    assert sorted(first) == [
        "backup-plan",
        "backup-vault",
        "instance",
        "parameters-mariadb11-4",
        "sql-providerconfig",
    ], "the selection waits for the instance ARN"
    observed = existing(stub, engine="mariadb", spec=spec)
    got = desired(run(stub, composite("MariadbInstance", spec), observed))
    for body in got.values():
        crds.validate(body)
    rule = got["backup-plan"]["spec"]["forProvider"]["rule"][0]
    assert rule["schedule"] == "cron(0 * ? * * *)"
    assert rule["enableContinuousBackup"] is True
    assert rule["lifecycle"] == {"deleteAfter": 14}
    assert got["backup-vault"]["spec"]["deletionPolicy"] == "Orphan"
    sel = got["backup-selection"]["spec"]["forProvider"]
    assert sel["resources"] == ["arn:aws:rds:eu-central-1:123456789012:db:x"]
    assert sel["iamRoleArn"] == EXAMPLE_INPUT["backup"]["hourly"]["iamRoleArn"]
    # AWS Backup's continuous backup owns the retention: set at creation only.
    assert got["instance"]["spec"]["initProvider"]["backupRetentionPeriod"] == 14
    assert "backupRetentionPeriod" not in got["instance"]["spec"]["forProvider"]


# --- input, routing, determinism -----------------------------------------------------------------


def test_invalid_input_is_fatal_and_names_the_field(stub):
    inp = copy.deepcopy(EXAMPLE_INPUT)
    inp["safety"]["allowPublicAcess"] = True
    inp["backup"]["defaults"]["retentionDays"] = 90
    rsp = run(stub, composite("PostgresqlInstance", _spec()), inp=inp)
    assert [r.severity for r in rsp.results] == [fnv1.SEVERITY_FATAL]
    msg = rsp.results[0].message
    assert "input.safety.allowPublicAcess: extra inputs are not permitted" in msg
    assert (
        "input.backup.defaults.retentionDays: input should be less than or equal to 35 (got 90)"
        in msg
    )


def test_unknown_kind_is_fatal(stub):
    xr = composite("PostgresqlInstance", _spec())
    xr["kind"] = "XRedisInstance"
    rsp = run(stub, xr)
    assert rsp.results[0].severity == fnv1.SEVERITY_FATAL
    assert 'cannot compose kind "XRedisInstance"' in rsp.results[0].message


def test_catalog_from_input_extends_plans(stub):
    inp = copy.deepcopy(EXAMPLE_INPUT)
    inp["catalog"] = {
        "plans": {
            "single-xlarge": {
                "instanceClass": "db.r7g.2xlarge",
                "storageGiB": 500,
                "maxStorageGiB": 4000,
            }
        }
    }
    rsp = run(stub, composite("PostgresqlInstance", _spec(plan="single-xlarge")), inp=inp)
    assert desired(rsp)["instance"]["spec"]["forProvider"]["instanceClass"] == "db.r7g.2xlarge"
    rsp = run(stub, composite("PostgresqlInstance", _spec(plan="single-small")), inp=inp)
    assert "instance" in desired(rsp), "extend keeps the built-in plans"


@pytest.mark.parametrize("engine", ["postgresql", "mysql", "mariadb"])
def test_identical_requests_give_identical_bytes(stub, engine):
    spec = {
        "serviceVersion": LATEST[engine],
        "plan": "cluster-small",
        "config": {"tags": {"b": "2", "a": "1"}},
    }
    observed = existing(stub, engine=engine, spec=spec)
    req = request(composite(KIND_OF_ENGINE[engine], spec), observed)
    one = stub.RunFunction(req).SerializeToString(deterministic=False)
    two = stub.RunFunction(req).SerializeToString(deterministic=False)
    assert one == two


def test_fresh_and_remembered_answers_are_the_same_bytes():
    """Two runners (no shared memo) and a remembered answer all serialize identically."""
    import asyncio

    from crossplane.function import logging as fnlog

    from function import fn

    fnlog.configure(fnlog.Level.DISABLED)
    spec = {
        "serviceVersion": "17.5",
        "plan": "cluster-small",
        "config": {"tags": {"b": "2", "a": "1"}},
    }
    req = request(composite("PostgresqlInstance", spec))
    loop = asyncio.new_event_loop()
    first, second = fn.FunctionRunner(), fn.FunctionRunner()
    answers = [
        loop.run_until_complete(first.RunFunction(req)),
        loop.run_until_complete(second.RunFunction(req)),
        loop.run_until_complete(first.RunFunction(req)),  # remembered
    ]
    loop.close()
    assert len({a.SerializeToString() for a in answers}) == 1


def test_composite_with_nothing_composed_is_not_ready(stub):
    rsp = run(stub, composite("PostgresqlInstance", _spec(plan="gold")))
    assert desired(rsp) == {}
    assert rsp.desired.composite.ready == fnv1.READY_FALSE
    ok = run(stub, composite("PostgresqlInstance", _spec()))
    assert ok.desired.composite.ready == fnv1.READY_UNSPECIFIED, "readiness comes from resources"


def test_a_bug_becomes_a_fatal_result_without_its_text(monkeypatch, capsys):
    """Fatal means Crossplane applies nothing this time: nothing existing is deleted."""
    import asyncio

    from crossplane.function import logging as fnlog

    from function import fn, instance

    def broken(r):
        raise ValueError("password=hunter2-in-an-exception")

    monkeypatch.setattr(instance, "parse_spec", broken)
    fnlog.configure(fnlog.Level.INFO)
    req = request(composite("PostgresqlInstance", _spec()))
    rsp = asyncio.new_event_loop().run_until_complete(fn.FunctionRunner().RunFunction(req))
    assert [r.severity for r in rsp.results] == [fnv1.SEVERITY_FATAL]
    assert rsp.results[0].message == (
        "cannot compose PostgresqlInstance: internal error (ValueError); nothing was changed, "
        "please report this"
    )
    assert desired(rsp) == {}
    out = capsys.readouterr()
    assert "internal error" in out.out + out.err
    assert "hunter2" not in out.out + out.err

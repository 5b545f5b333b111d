"""Backup and Restore through the real gRPC server, and their AWS calls on botocore + moto."""

from __future__ import annotations

import boto3
import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from moto import mock_aws

from tests import aws, aws_parameters, crds
from tests.helpers import (
    KIND_OF_ENGINE,
    call,
    composite,
    conditions,
    desired,
    observed_from,
    ready_composite,
    request,
    status,
)

REGION = "eu-central-1"
LATEST = "2026-11-24T09:35:00Z"


def provisioned(stub, engine="postgresql", spec=None, name="orders", at=None):
    """An instance composite as Crossplane stores it once AWS has created its database."""
    spec = spec or {"serviceVersion": "17.5", "plan": "single-small"}
    xr = composite(KIND_OF_ENGINE[engine], spec, name=name)
    first = desired(stub.RunFunction(request(xr)))
    ident = first["instance"]["spec"]["forProvider"]["identifier"]
    at_provider = {
        "identifier": ident,
        "address": f"{ident}.abc.{REGION}.rds.amazonaws.com",
        "port": 5432,
        "arn": f"arn:aws:rds:{REGION}:123456789012:db:{ident}",
        "status": "available",
        "allocatedStorage": first["instance"]["spec"]["forProvider"]["allocatedStorage"],
        "latestRestorableTime": LATEST,
        **(at or {}),
    }
    observed = {
        n: observed_from(b, at_provider=at_provider if n == "instance" else {})
        for n, b in first.items()
    }
    return ready_composite(xr, stub.RunFunction(request(xr, observed))), observed


def backup_xr(spec=None, name="pre-migration"):
    return composite("Backup", spec or {"instanceRef": "orders"}, name=name)


# --- Backup ---------------------------------------------------------------------------------------


def test_backup_of_an_available_instance_is_one_snapshot(stub):
    inst, _ = provisioned(stub)
    rsp = call(stub, backup_xr(), [inst])
    got = desired(rsp)
    assert sorted(got) == ["snapshot"]
    snap = got["snapshot"]
    crds.validate(snap)
    assert snap["spec"]["forProvider"]["dbInstanceIdentifier"] == inst["status"]["identifier"]
    assert snap["spec"]["forProvider"]["region"] == REGION
    assert "deletionPolicy" not in snap["spec"], "Delete (default) is the provider's default"
    ann = snap["metadata"]["annotations"]
    assert ann["klutch.io/plan"] == "single-small" and ann["klutch.io/engine"] == "postgresql"
    assert ann["klutch.io/engine-version"] == "17.5" and ann["klutch.io/allocated-storage"] == "50"
    assert conditions(rsp)["SnapshotReady"].reason == "BackupPending"
    again = call(stub, backup_xr(), [inst])
    assert again.SerializeToString() == rsp.SerializeToString(), "deterministic"


def test_retained_backup_orphans_the_snapshot(stub):
    inst, _ = provisioned(stub)
    got = desired(
        call(stub, backup_xr({"instanceRef": "orders", "deletionPolicy": "Retain"}), [inst])
    )
    assert got["snapshot"]["spec"]["deletionPolicy"] == "Orphan"


@pytest.mark.parametrize(
    ("case", "pool", "reason", "message"),
    [
        (
            "InstanceNotAvailableWaits",
            "unready",
            "InstanceNotReady",
            'cannot use Backup "pre-migration": PostgresqlInstance "orders" is not ready yet (waiting for it to be available)',
        ),
        (
            "InstanceNotFoundWaits",
            "empty",
            "InstanceNotFound",
            'cannot use Backup "pre-migration": spec.instanceRef "orders": no MariadbInstance or MysqlInstance or PostgresqlInstance or Restore of that name in namespace "team-a"',
        ),
    ],
)
def test_backup_waits_for_its_instance(stub, case, pool, reason, message):
    inst, _ = provisioned(stub)
    unready = {
        **inst,
        "status": {**inst["status"], "conditions": [{"type": "Ready", "status": "False"}]},
    }
    rsp = call(stub, backup_xr(), {"unready": [unready], "empty": []}[pool])
    assert desired(rsp) == {}, case
    assert conditions(rsp)["SnapshotReady"].reason == "BackupPending", case
    cond = conditions(rsp)["InstanceReady"]
    assert cond.reason == reason and message in cond.message, (case, cond.message)


def test_existing_snapshot_is_kept_even_without_its_instance(stub):
    inst, _ = provisioned(stub)
    snap = desired(call(stub, backup_xr(), [inst]))["snapshot"]
    seen = observed_from(
        snap,
        at_provider={
            "dbSnapshotArn": "arn:aws:rds:eu-central-1:123456789012:snapshot:x",
            "status": "available",
            "engineVersion": "17.5",
        },
    )
    seen["metadata"]["creationTimestamp"] = "2026-11-24T10:00:00Z"
    rsp = call(stub, backup_xr(), [], {"snapshot": seen})
    got = desired(rsp)["snapshot"]
    assert got["spec"] == snap["spec"]
    assert got["metadata"]["annotations"] == snap["metadata"]["annotations"]
    assert rsp.desired.resources["snapshot"].ready == fnv1.READY_TRUE
    s = status(rsp)
    assert s["phase"] == "available" and s["snapshotArn"].endswith(":snapshot:x")
    assert s["creationTime"] == "2026-11-24T10:00:00Z"
    assert s["plan"] == "single-small" and s["dbname"] == "app" and s["engine"] == "postgresql"
    assert conditions(rsp)["SnapshotReady"].reason == "BackupCompleted"

    moved = call(stub, backup_xr({"instanceRef": "other"}), [], {"snapshot": seen})
    assert conditions(moved)["SpecValid"].reason == "ImmutableFieldChanged"
    assert desired(moved)["snapshot"]["spec"] == snap["spec"]


# --- Restore --------------------------------------------------------------------------------------


def backup_object(identifier="team-a-pre-migration-123456", phase="available", region=REGION):
    xr = composite("Backup", {"instanceRef": "orders"}, name="pre-migration")
    xr["status"] = {
        "phase": phase,
        "snapshotIdentifier": identifier,
        "snapshotArn": f"arn:aws:rds:{region}:123456789012:snapshot:{identifier}",
        "region": region,
        "engine": "postgresql",
        "engineVersion": "17.5",
        "plan": "single-medium",
        "dbname": "orders",
        "allocatedStorage": 120,
    }
    return xr


def restore_xr(spec, name="orders-restored"):
    return composite("Restore", spec, name=name)


def test_restore_from_backup_is_a_new_instance(stub):
    rsp = call(stub, restore_xr({"backupRef": "pre-migration"}), [backup_object()])
    got = desired(rsp)
    assert sorted(got) == ["instance", "parameters-postgres17", "sql-providerconfig"]
    for body in got.values():
        crds.validate(body)
    fp = got["instance"]["spec"]["forProvider"]
    assert fp["snapshotIdentifier"] == "team-a-pre-migration-123456"
    assert fp["instanceClass"] == "db.m7g.large", "plan defaults to the source's"
    assert fp["allocatedStorage"] == 120, "at least the snapshot's size"
    assert fp["engine"] == "postgres" and fp["engineVersion"] == "17.5"
    assert "dbName" not in fp
    assert (
        fp["identifier"]
        != composite("PostgresqlInstance", {}, name="orders-restored")["metadata"]["name"]
    )
    s = status(rsp)
    assert s["source"] == {
        "backupRef": "pre-migration",
        "snapshotIdentifier": "team-a-pre-migration-123456",
    }
    assert s["dbname"] == "orders" and s["engine"] == "postgresql" and s["plan"] == "single-medium"
    assert got["sql-providerconfig"]["spec"]["defaultDatabase"] == "orders"


def test_restore_and_instance_of_the_same_name_get_different_databases(stub):
    restored = desired(
        call(stub, restore_xr({"backupRef": "pre-migration"}, name="orders"), [backup_object()])
    )
    inst = desired(
        stub.RunFunction(
            request(
                composite("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-small"})
            )
        )
    )
    assert (
        restored["instance"]["spec"]["forProvider"]["identifier"]
        != inst["instance"]["spec"]["forProvider"]["identifier"]
    )


def test_restore_to_a_point_in_time_asks_for_the_source_and_time(stub):
    inst, _ = provisioned(stub)
    spec = {
        "pointInTime": {"instanceRef": "orders", "restoreTime": "2026-11-24T09:30:00Z"},
        "plan": "single-large",
    }
    got = desired(call(stub, restore_xr(spec), [inst]))
    fp = got["instance"]["spec"]["forProvider"]
    assert fp["restoreToPointInTime"] == {
        "sourceDbInstanceIdentifier": inst["status"]["identifier"],
        "restoreTime": "2026-11-24T09:30:00Z",
    }
    assert fp["instanceClass"] == "db.m7g.xlarge"
    crds.validate(got["instance"])
    latest = {"pointInTime": {"instanceRef": "orders", "useLatestRestorableTime": True}}
    fp = desired(call(stub, restore_xr(latest), [inst]))["instance"]["spec"]["forProvider"]
    assert fp["restoreToPointInTime"] == {
        "sourceDbInstanceIdentifier": inst["status"]["identifier"],
        "useLatestRestorableTime": True,
    }


ARN = "arn:aws:rds:eu-central-1:123456789012:snapshot:rds:orders-2026-11-24-03-10"

# (case, spec, pool kind, reason, message)
RESTORE_INVALID = [
    (
        "TwoSourcesAreRefused",
        {"backupRef": "pre-migration", "backupArn": ARN},
        "backup",
        "RestoreSourceInvalid",
        "exactly one source is needed, got spec.backupRef, spec.backupArn; allowed: one of spec.backupRef, spec.backupArn, spec.pointInTime",
    ),
    (
        "NoSourceIsRefused",
        {"plan": "single-small"},
        "none",
        "RestoreSourceInvalid",
        "exactly one source is needed, got none",
    ),
    (
        "ArnWithoutTypeIsRefused",
        {"backupArn": ARN, "plan": "single-small"},
        "none",
        "RestoreSourceInvalid",
        "spec.serviceInstanceType is required with spec.backupArn",
    ),
    (
        "MalformedArnIsRefused",
        {
            "backupArn": "arn:aws:s3:::bucket",
            "serviceInstanceType": "postgresql",
            "plan": "single-small",
        },
        "none",
        "SpecInvalid",
        "spec.backupArn: string should match pattern",
    ),
    (
        "ArnInAnotherRegionIsRefused",
        {
            "backupArn": ARN.replace("eu-central-1", "us-east-1"),
            "serviceInstanceType": "postgresql",
            "plan": "single-small",
        },
        "none",
        "RestoreRegionMismatch",
        'spec.backupArn is a snapshot in region "us-east-1", the new instance would be in "eu-central-1"',
    ),
    (
        "TimeAfterLatestIsRefused",
        {"pointInTime": {"instanceRef": "orders", "restoreTime": "2026-11-24T10:00:00Z"}},
        "instance",
        "RestoreWindowInvalid",
        'spec.pointInTime.restoreTime "2026-11-24T10:00:00Z" is after the latest restorable time of PostgresqlInstance "orders"; allowed: 2026-11-17T09:35:00Z .. 2026-11-24T09:35:00Z (UTC)',
    ),
    (
        "TimeBeforeWindowIsRefused",
        {"pointInTime": {"instanceRef": "orders", "restoreTime": "2026-11-10T00:00:00Z"}},
        "instance",
        "RestoreWindowInvalid",
        'is before the 7-day retention window of PostgresqlInstance "orders"; allowed: 2026-11-17T09:35:00Z .. 2026-11-24T09:35:00Z (UTC)',
    ),
    (
        "TimeAndLatestTogetherAreRefused",
        {
            "pointInTime": {
                "instanceRef": "orders",
                "restoreTime": "2026-11-24T09:00:00Z",
                "useLatestRestorableTime": True,
            }
        },
        "instance",
        "RestoreSourceInvalid",
        "spec.pointInTime needs exactly one of restoreTime and useLatestRestorableTime: true",
    ),
    (
        "SourceWithoutBackupsIsRefused",
        {"pointInTime": {"instanceRef": "orders", "useLatestRestorableTime": True}},
        "nobackups",
        "PointInTimeUnavailable",
        'PostgresqlInstance "orders" has no scheduled backups',
    ),
    (
        "WrongTypeIsRefused",
        {"backupRef": "pre-migration", "serviceInstanceType": "mysql"},
        "backup",
        "InstanceTypeMismatch",
        'spec.serviceInstanceType "mysql" does not match the source, which is postgresql',
    ),
]


@pytest.mark.parametrize("case", RESTORE_INVALID, ids=[c[0] for c in RESTORE_INVALID])
def test_invalid_restore_is_refused_with_its_reason(stub, case):
    name, spec, pool_kind, reason, message = case
    pool = {"backup": [backup_object()], "none": [], "instance": [provisioned(stub)[0]],
            "nobackups": [provisioned(stub, spec={"serviceVersion": "17.5", "plan": "single-small", "backup": {"schedule": "none"}})[0]]}[pool_kind]  # fmt: skip
    rsp = call(stub, restore_xr(spec), pool)
    cond = conditions(rsp)["SpecValid"]
    assert (cond.status, cond.reason) == (fnv1.STATUS_CONDITION_FALSE, reason), (
        f"{name}: {cond.message}"
    )
    assert message in cond.message, f"{name}: {cond.message}"
    assert any(message in r.message for r in rsp.results if r.severity == fnv1.SEVERITY_WARNING), (
        name
    )
    assert desired(rsp) == {}, name


@pytest.mark.parametrize(
    ("case", "pool", "reason", "message"),
    [
        (
            "BackupNotFoundWaits",
            [],
            "BackupNotFound",
            'spec.backupRef "pre-migration": no Backup of that name in namespace "team-a"',
        ),
        (
            "BackupNotAvailableWaits",
            [backup_object(phase="creating")],
            "BackupNotAvailable",
            'Backup "pre-migration" is not available yet (snapshot state "creating")',
        ),
    ],
)
def test_restore_waits_for_its_backup(stub, case, pool, reason, message):
    rsp = call(stub, restore_xr({"backupRef": "pre-migration"}), pool)
    cond = conditions(rsp)["SourceReady"]
    assert cond.reason == reason and message in cond.message, (case, cond.message)
    assert desired(rsp) == {}
    spec_valid = conditions(rsp)["SpecValid"]
    assert spec_valid.status != fnv1.STATUS_CONDITION_FALSE, "waiting is not an invalid spec"


def test_restore_parameters_are_frozen_once_the_instance_exists(stub):
    inst, _ = provisioned(stub)
    spec = {"pointInTime": {"instanceRef": "orders", "restoreTime": "2026-11-20T09:30:00Z"}}
    first = desired(call(stub, restore_xr(spec), [inst]))
    # AWS accepted the restore: the new instance has its DBI resource id.
    observed = {n: observed_from(b, at_provider={"resourceId": "db-ABC"}) for n, b in first.items()}
    # Weeks later the window has moved past the restore time, and the source is gone.
    later = call(stub, restore_xr(spec), [], observed)
    assert {n: desired(later)[n]["spec"] for n in first} == {n: b["spec"] for n, b in first.items()}
    assert conditions(later)["SpecValid"].status == fnv1.STATUS_CONDITION_TRUE
    assert status(later)["source"]["restoreTime"] == "2026-11-20T09:30:00Z"
    # Changing the source afterwards changes nothing, and says so.
    changed = call(stub, restore_xr({"backupRef": "x"}), [], observed)
    assert {n: desired(changed)[n]["spec"] for n in first} == {
        n: b["spec"] for n, b in first.items()
    }
    assert [r.reason for r in changed.results] == ["RestoreParametersFrozen"]


def test_restore_is_bound_and_backed_up_by_its_name(stub):
    rsp = call(stub, restore_xr({"backupRef": "pre-migration"}), [backup_object()])
    restored = ready_composite(restore_xr({"backupRef": "pre-migration"}), rsp)
    restored["status"].update(endpoint="r.example", port=5432)
    b = call(
        stub,
        composite("ServiceBinding", {"instanceRef": "orders-restored"}, name="app"),
        [restored],
    )
    assert sorted(desired(b)) == ["grant", "usage", "user"]
    assert desired(b)["usage"]["spec"]["of"]["kind"] == "XRestore"
    bk = call(stub, backup_xr({"instanceRef": "orders-restored"}), [restored])
    assert (
        desired(bk)["snapshot"]["spec"]["forProvider"]["dbInstanceIdentifier"]
        == restored["status"]["identifier"]
    )


# --- on moto: the calls the provider makes ---------------------------------------------------------


def test_backup_and_restore_lifecycle_on_moto(stub, rds):
    # The source instance, as the provider creates it.
    xr = composite("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-small"})
    made = desired(stub.RunFunction(request(xr)))
    fp = made["instance"]["spec"]["forProvider"]
    aws_parameters.provide(rds, made)
    rds.create_db_instance(**aws.create_call(fp, password="p" * 16))
    db = rds.describe_db_instances(DBInstanceIdentifier=fp["identifier"])["DBInstances"][0]
    inst, _ = provisioned(
        stub, at={"address": db["Endpoint"]["Address"], "latestRestorableTime": LATEST}
    )

    # Backup: one snapshot of that instance.
    snap = desired(call(stub, backup_xr(), [inst]))["snapshot"]
    made = rds.create_db_snapshot(**aws.snapshot_call(snap))["DBSnapshot"]
    assert made["DBInstanceIdentifier"] == fp["identifier"]
    assert (
        made["DBSnapshotIdentifier"]
        == snap["metadata"]["annotations"]["crossplane.io/external-name"]
    )

    # The Backup's status as the function reports it once the provider observed the snapshot.
    seen = observed_from(
        snap,
        at_provider={
            "dbSnapshotArn": made["DBSnapshotArn"],
            "status": made["Status"],
            "engineVersion": made["EngineVersion"],
        },
    )
    bk_rsp = call(stub, backup_xr(), [], {"snapshot": seen})
    bk = ready_composite(backup_xr(), bk_rsp)

    for name, spec in (
        ("by-name", {"backupRef": "pre-migration"}),
        (
            "by-arn",
            {
                "backupArn": made["DBSnapshotArn"],
                "serviceInstanceType": "postgresql",
                "plan": "single-small",
                "config": {"database": {"name": "app"}},
            },
        ),
        ("pitr", {"pointInTime": {"instanceRef": "orders", "useLatestRestorableTime": True}}),
    ):
        restored = desired(call(stub, restore_xr(spec, name=f"restored-{name}"), [bk, inst]))
        rfp = restored["instance"]["spec"]["forProvider"]
        aws_parameters.provide(rds, restored)
        operation, params, modify = aws.restore_calls(rfp)
        if operation == "RestoreDBInstanceFromDBSnapshot":
            new = rds.restore_db_instance_from_db_snapshot(**params)["DBInstance"]
        else:
            new = rds.restore_db_instance_to_point_in_time(**params)["DBInstance"]
        rds.modify_db_instance(**modify)
        assert new["DBInstanceIdentifier"] == rfp["identifier"] != fp["identifier"], name
        assert new["Engine"] == "postgres", name

    # The source is untouched.
    after = rds.describe_db_instances(DBInstanceIdentifier=fp["identifier"])["DBInstances"][0]
    assert (after["DBInstanceClass"], after["DBInstanceStatus"]) == (
        db["DBInstanceClass"],
        "available",
    )
    assert len(rds.describe_db_instances()["DBInstances"]) == 4


def test_hourly_backup_plan_calls_are_valid(stub):
    spec = {
        "serviceVersion": "17.5",
        "plan": "single-small",
        "backup": {"schedule": "hourly", "retentionDays": 10},
    }
    _, observed = provisioned(stub, spec=spec)
    got = desired(stub.RunFunction(request(composite("PostgresqlInstance", spec), observed)))
    with mock_aws():
        backup = boto3.client("backup", region_name=REGION)
        vault = got["backup-vault"]["metadata"]["annotations"]["crossplane.io/external-name"]
        backup.create_backup_vault(BackupVaultName=vault)
        plan = backup.create_backup_plan(
            **aws.backup_plan_call(got["backup-plan"]["spec"]["forProvider"])
        )
        stored = backup.get_backup_plan(BackupPlanId=plan["BackupPlanId"])["BackupPlan"]["Rules"][0]
        assert stored["ScheduleExpression"] == "cron(0 * ? * * *)"
        assert stored["EnableContinuousBackup"] is True
        assert stored["Lifecycle"]["DeleteAfterDays"] == 10
        # moto has no CreateBackupSelection: botocore's model checks the call.
        aws.backup_selection_call(
            got["backup-selection"]["spec"]["forProvider"], plan["BackupPlanId"]
        )

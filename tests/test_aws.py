"""Composed Instances as the RDS API calls the provider makes: botocore-valid, and moto agrees."""

from __future__ import annotations

import pytest

from tests import aws, aws_parameters
from tests.helpers import KIND_OF_ENGINE, composite, desired, observed_from, request

REGION = "eu-central-1"
VERSIONS = {"postgresql": "17.5", "mysql": "8.4.5", "mariadb": "11.4.5"}


def compose(stub, engine, spec, observed=None):
    return desired(stub.RunFunction(request(composite(KIND_OF_ENGINE[engine], spec), observed)))


def compose_available(stub, engine, spec):
    """Composed once the primary is available (replicas wait for it)."""
    first = compose(stub, engine, spec)
    available = observed_from(first["instance"], at_provider={"status": "available"})
    return compose(stub, engine, spec, {"instance": available})


@pytest.mark.parametrize("engine", ["postgresql", "mysql", "mariadb"])
@pytest.mark.parametrize("plan", ["single-small", "cluster-medium"])
def test_instance_is_a_valid_create_call_that_moto_accepts(stub, rds, engine, plan):
    spec = {
        "serviceVersion": VERSIONS[engine],
        "plan": plan,
        "backup": {"retentionDays": 10, "window": "02:00-03:00"},
    }
    got = compose_available(stub, engine, spec)
    fp = got["instance"]["spec"]["forProvider"]
    aws_parameters.provide(rds, got)
    call = aws.create_call(fp, password="generated-by-the-provider")
    db = rds.create_db_instance(**call)["DBInstance"]
    assert db["Engine"] == {"postgresql": "postgres"}.get(engine, engine)
    assert db["EngineVersion"] == VERSIONS[engine]
    assert db["DBInstanceClass"] == fp["instanceClass"]
    assert db["AllocatedStorage"] == fp["allocatedStorage"]
    assert db["MaxAllocatedStorage"] == fp["maxAllocatedStorage"]
    assert db["StorageEncrypted"] is True
    assert db["StorageType"] == "gp3"
    assert db["BackupRetentionPeriod"] == 10
    assert db["PreferredBackupWindow"] == "02:00-03:00"
    assert db["MultiAZ"] is plan.startswith("cluster-")
    assert db["DeletionProtection"] is True
    assert db["AutoMinorVersionUpgrade"] is False
    assert {"Key": "klutch.io/name", "Value": "orders"} in db["TagList"]

    for name in sorted(n for n in got if n.startswith("replica-")):
        replica = rds.create_db_instance_read_replica(
            **aws.replica_call(got[name]["spec"]["forProvider"])
        )["DBInstance"]
        assert replica["ReadReplicaSourceDBInstanceIdentifier"] == fp["identifier"]
    if plan.startswith("cluster-"):
        source = rds.describe_db_instances(DBInstanceIdentifier=fp["identifier"])["DBInstances"][0]
        assert len(source["ReadReplicaDBInstanceIdentifiers"]) == 1


def test_plan_change_is_an_in_place_modify(stub, rds):
    small = compose(stub, "postgresql", {"serviceVersion": "17.4", "plan": "single-small"})
    fp = small["instance"]["spec"]["forProvider"]
    aws_parameters.provide(rds, small)
    rds.create_db_instance(**aws.create_call(fp, password="x" * 16))
    bigger = compose(stub, "postgresql", {"serviceVersion": "17.5", "plan": "single-medium"})
    new_fp = bigger["instance"]["spec"]["forProvider"]
    aws_parameters.provide(rds, bigger)
    assert new_fp["identifier"] == fp["identifier"]
    db = rds.modify_db_instance(**aws.modify_call(new_fp))["DBInstance"]
    assert db["DBInstanceClass"] == "db.m7g.large"
    assert db["AllocatedStorage"] == 100


def test_deleting_the_instance_leaves_a_final_snapshot_and_backups(stub, rds):
    got = compose(stub, "mariadb", {"serviceVersion": "11.4.5", "plan": "single-nano"})
    fp = got["instance"]["spec"]["forProvider"]
    aws_parameters.provide(rds, got)
    rds.create_db_instance(**aws.create_call(fp, password="x" * 16))
    # Deletion protection is on: the platform must lift it deliberately first.
    with pytest.raises(rds.exceptions.ClientError, match="deletion protection"):
        rds.delete_db_instance(**aws.delete_call(fp))
    rds.modify_db_instance(DBInstanceIdentifier=fp["identifier"], DeletionProtection=False)
    rds.delete_db_instance(**aws.delete_call(fp))
    snaps = rds.describe_db_snapshots(DBSnapshotIdentifier=fp["finalSnapshotIdentifier"])
    assert snaps["DBSnapshots"][0]["DBInstanceIdentifier"] == fp["identifier"]


def test_unmapped_field_is_caught():
    with pytest.raises(AssertionError, match="newField"):
        aws.create_call({"identifier": "x", "newField": 1}, password="p" * 10)


def test_wrong_type_is_caught_by_botocore():
    with pytest.raises(AssertionError, match="AllocatedStorage"):
        aws.validated(
            "CreateDBInstance",
            {
                "DBInstanceIdentifier": "x",
                "DBInstanceClass": "db.t4g.micro",
                "Engine": "postgres",
                "AllocatedStorage": "50",
            },
        )

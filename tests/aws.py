"""What the AWS provider asks of the RDS API for a composed Instance, as botocore calls.

The upjet provider drives Terraform's aws_db_instance, which maps forProvider fields to RDS API
parameters one to one. Every forProvider field we emit must appear in one of the tables below, so
a new field cannot slip through without being checked against botocore's service model.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import random
from collections.abc import Iterator

import boto3
import botocore.session
from botocore.validate import ParamValidator
from moto import mock_aws

CREATE = {
    "identifier": "DBInstanceIdentifier",
    "engine": "Engine",
    "engineVersion": "EngineVersion",
    "instanceClass": "DBInstanceClass",
    "allocatedStorage": "AllocatedStorage",
    "maxAllocatedStorage": "MaxAllocatedStorage",
    "storageType": "StorageType",
    "storageEncrypted": "StorageEncrypted",
    "kmsKeyId": "KmsKeyId",
    "multiAz": "MultiAZ",
    "publiclyAccessible": "PubliclyAccessible",
    "dbName": "DBName",
    "username": "MasterUsername",
    "backupRetentionPeriod": "BackupRetentionPeriod",
    "backupWindow": "PreferredBackupWindow",
    "copyTagsToSnapshot": "CopyTagsToSnapshot",
    "autoMinorVersionUpgrade": "AutoMinorVersionUpgrade",
    "deletionProtection": "DeletionProtection",
    "dbSubnetGroupName": "DBSubnetGroupName",
    "vpcSecurityGroupIds": "VpcSecurityGroupIds",
    "port": "Port",
    "parameterGroupName": "DBParameterGroupName",
}
REPLICA = {
    "identifier": "DBInstanceIdentifier",
    "replicateSourceDb": "SourceDBInstanceIdentifier",
    "instanceClass": "DBInstanceClass",
    "maxAllocatedStorage": "MaxAllocatedStorage",
    "storageType": "StorageType",
    "kmsKeyId": "KmsKeyId",
    "multiAz": "MultiAZ",
    "publiclyAccessible": "PubliclyAccessible",
    "autoMinorVersionUpgrade": "AutoMinorVersionUpgrade",
    "copyTagsToSnapshot": "CopyTagsToSnapshot",
    "deletionProtection": "DeletionProtection",
    "vpcSecurityGroupIds": "VpcSecurityGroupIds",
    "parameterGroupName": "DBParameterGroupName",
}
MODIFY = {
    "identifier": "DBInstanceIdentifier",
    "instanceClass": "DBInstanceClass",
    "allocatedStorage": "AllocatedStorage",
    "maxAllocatedStorage": "MaxAllocatedStorage",
    "engineVersion": "EngineVersion",
    "allowMajorVersionUpgrade": "AllowMajorVersionUpgrade",
    "applyImmediately": "ApplyImmediately",
    "backupRetentionPeriod": "BackupRetentionPeriod",
    "backupWindow": "PreferredBackupWindow",
    "multiAz": "MultiAZ",
    "publiclyAccessible": "PubliclyAccessible",
    "deletionProtection": "DeletionProtection",
    "autoMinorVersionUpgrade": "AutoMinorVersionUpgrade",
    "copyTagsToSnapshot": "CopyTagsToSnapshot",
    "storageType": "StorageType",
    "parameterGroupName": "DBParameterGroupName",
    # What late initialization copies into forProvider (they never come from the function).
    "iops": "Iops",
    "storageThroughput": "StorageThroughput",
}
DELETE = {
    "identifier": "DBInstanceIdentifier",
    "skipFinalSnapshot": "SkipFinalSnapshot",
    "finalSnapshotIdentifier": "FinalDBSnapshotIdentifier",
    "deleteAutomatedBackups": "DeleteAutomatedBackups",
}
# Fields the provider handles itself, not as RDS API parameters.
PROVIDER_SIDE = {
    "region",  # the API endpoint
    "autoGeneratePassword",  # fills passwordSecretRef's Secret
    "passwordSecretRef",  # becomes MasterUserPassword
    "tags",  # becomes Tags [{Key, Value}]
    "applyImmediately",
    "allowMajorVersionUpgrade",
    "skipFinalSnapshot",
    "finalSnapshotIdentifier",
    "deleteAutomatedBackups",
}


@functools.cache
def rds_model():
    return botocore.session.get_session().get_service_model("rds")


def _params(fp: dict, table: dict[str, str]) -> dict:
    out = {}
    for key, value in fp.items():
        if key in table:
            out[table[key]] = int(value) if isinstance(value, float) else value
    if "tags" in fp and "Tags" in _shape_members(table):
        out["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(fp["tags"].items())]
    return out


def _shape_members(table):
    return {"Tags"} if table in (CREATE, REPLICA) else set()


def unmapped(fp: dict, *tables: dict[str, str]) -> set[str]:
    known = set(PROVIDER_SIDE).union(*tables)
    return set(fp) - known


def validated(operation: str, params: dict) -> dict:
    shape = rds_model().operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    assert not report.has_errors(), f"{operation}: {report.generate_report()}"
    return params


def create_call(fp: dict, password: str) -> dict:
    assert not unmapped(fp, CREATE, MODIFY, DELETE), unmapped(fp, CREATE, MODIFY, DELETE)
    return validated("CreateDBInstance", {**_params(fp, CREATE), "MasterUserPassword": password})


def replica_call(fp: dict) -> dict:
    assert not unmapped(fp, REPLICA, MODIFY, DELETE), unmapped(fp, REPLICA, MODIFY, DELETE)
    return validated("CreateDBInstanceReadReplica", _params(fp, REPLICA))


def modify_call(fp: dict) -> dict:
    return validated("ModifyDBInstance", _params(fp, MODIFY))


def delete_call(fp: dict) -> dict:
    return validated("DeleteDBInstance", _params(fp, DELETE))


def _members(operation: str) -> set[str]:
    return set(rds_model().operation_model(operation).input_shape.members)


def restore_calls(fp: dict) -> tuple[str, dict, dict]:
    """The restore call, and the ModifyDBInstance the provider (Terraform) makes right after it
    for what the restore call cannot take (password, retention, autoscaling, ...)."""
    assert not unmapped(fp, CREATE, MODIFY, DELETE, RESTORE_ONLY), unmapped(
        fp, CREATE, MODIFY, DELETE, RESTORE_ONLY
    )
    if "restoreToPointInTime" in fp:
        operation = "RestoreDBInstanceToPointInTime"
        pit = fp["restoreToPointInTime"]
        params = {
            "TargetDBInstanceIdentifier": fp["identifier"],
            "SourceDBInstanceIdentifier": pit["sourceDbInstanceIdentifier"],
        }
        if "restoreTime" in pit:
            from datetime import datetime

            params["RestoreTime"] = datetime.fromisoformat(pit["restoreTime"])
        if pit.get("useLatestRestorableTime"):
            params["UseLatestRestorableTime"] = True
    else:
        operation = "RestoreDBInstanceFromDBSnapshot"
        params = {
            "DBInstanceIdentifier": fp["identifier"],
            "DBSnapshotIdentifier": fp["snapshotIdentifier"],
        }
    members = _members(operation)
    mapped = _params(fp, CREATE)
    later = {}
    for key, value in mapped.items():
        if key == "DBInstanceIdentifier":
            continue
        if key in members:
            params[key] = value
        else:
            later[key] = value
    if "tags" in fp and "Tags" in members:
        params["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(fp["tags"].items())]
    modify = {
        "DBInstanceIdentifier": fp["identifier"],
        **{k: v for k, v in later.items() if k in _members("ModifyDBInstance")},
    }
    dropped = (
        set(later)
        - set(modify)
        - {"MasterUsername", "DBName", "Engine", "StorageEncrypted", "KmsKeyId"}
    )
    assert not dropped, f"{operation}: neither the restore nor a modify can set {dropped}"
    return operation, validated(operation, params), validated("ModifyDBInstance", modify)


RESTORE_ONLY = {"snapshotIdentifier": "DBSnapshotIdentifier", "restoreToPointInTime": ""}


def snapshot_call(body: dict) -> dict:
    fp = body["spec"]["forProvider"]
    params = {
        "DBSnapshotIdentifier": body["metadata"]["annotations"]["crossplane.io/external-name"],
        "DBInstanceIdentifier": fp["dbInstanceIdentifier"],
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(fp.get("tags", {}).items())],
    }
    return validated("CreateDBSnapshot", params)


@functools.cache
def backup_model():
    return botocore.session.get_session().get_service_model("backup")


def _validated_backup(operation: str, params: dict) -> dict:
    shape = backup_model().operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    assert not report.has_errors(), f"{operation}: {report.generate_report()}"
    return params


def backup_plan_call(fp: dict) -> dict:
    rules = []
    for rule in fp["rule"]:
        rules.append(
            {
                "RuleName": rule["ruleName"],
                "TargetBackupVaultName": rule["targetVaultName"],
                "ScheduleExpression": rule["schedule"],
                "ScheduleExpressionTimezone": rule["scheduleExpressionTimezone"],
                "StartWindowMinutes": int(rule["startWindow"]),
                "CompletionWindowMinutes": int(rule["completionWindow"]),
                "EnableContinuousBackup": rule["enableContinuousBackup"],
                "Lifecycle": {"DeleteAfterDays": int(rule["lifecycle"]["deleteAfter"])},
            }
        )
    params = {
        "BackupPlan": {"BackupPlanName": fp["name"], "Rules": rules},
        "BackupPlanTags": fp.get("tags", {}),
    }
    return _validated_backup("CreateBackupPlan", params)


def backup_selection_call(fp: dict, plan_id: str) -> dict:
    params = {
        "BackupPlanId": plan_id,
        "BackupSelection": {
            "SelectionName": fp["name"],
            "IamRoleArn": fp["iamRoleArn"],
            "Resources": fp["resources"],
        },
    }
    return _validated_backup("CreateBackupSelection", params)


# --- what the provider does beside the function, and AWS rules moto does not know -----------------

# Fields AWS reports that upjet copies into an unset forProvider field on late initialization
# (apis/cluster/rds/v1beta3/zz_instance_terraformed.go skips only AvailabilityZone and DBName).
LATE_INITIALIZED = ("iops", "storageThroughput", "parameterGroupName")


def late_initializes(body: dict) -> bool:
    policies = body["spec"].get("managementPolicies", ["*"])  # the CRD's default is ["*"]
    return "*" in policies or "LateInitialize" in policies


def observe(body: dict, reported: dict) -> dict:
    """The managed resource after the provider observed AWS: late initialization, when the
    management policies allow it, fills unset forProvider fields with what AWS reports."""
    seen = copy.deepcopy(body)
    if late_initializes(body):
        fp = seen["spec"]["forProvider"]
        for key in LATE_INITIALIZED:
            if key in reported and key not in fp:
                fp[key] = reported[key]
    return seen


def applied_spec(desired: dict, observed: dict) -> dict:
    """forProvider after Crossplane's server-side apply: late-initialized fields belong to the
    provider and stay unless the function sets them; everything else is the function's."""
    kept = {
        k: v
        for k, v in observed["spec"]["forProvider"].items()
        if k in LATE_INITIALIZED and k not in desired["spec"]["forProvider"]
    }
    return {**kept, **desired["spec"]["forProvider"]}


def parameter_group_family(engine: str, version: str) -> str:
    parts = version.split(".")
    return f"{engine}{parts[0]}" if engine == "postgres" else f"{engine}{parts[0]}.{parts[1]}"


def refusal(params: dict, db: dict, aws_backup_retention: int | None = None) -> str | None:
    """What AWS refuses in a ModifyDBInstance that moto accepts; None when AWS accepts it.

    `db` is the instance as DescribeDBInstances reports it; `aws_backup_retention` the retention
    AWS Backup's continuous backup holds the instance at, if any.
    """
    engine = db["Engine"]
    storage = params.get("AllocatedStorage", db["AllocatedStorage"])
    storage_type = params.get("StorageType", db.get("StorageType"))
    iops = params.get("Iops")
    # gp3 of 400 GiB or more has a 12000 baseline: a stale 3000 is refused
    # (terraform-provider-aws#28382).
    if storage_type == "gp3" and storage >= 400 and iops is not None and iops < 12000:
        return f"Invalid iops value for engine name {engine} and storage type gp3: {iops}"
    group = params.get("DBParameterGroupName")
    version = params.get("EngineVersion", db["EngineVersion"])
    if group and group.startswith("default."):
        have, want = group.removeprefix("default."), parameter_group_family(engine, version)
        if have != want:
            return (
                f"The parameter group {group} with DBParameterGroupFamily {have} can't be used "
                f"for this instance. Use a parameter group with DBParameterGroupFamily {want}."
            )
    retention = params.get("BackupRetentionPeriod")
    if aws_backup_retention is not None and retention not in (None, aws_backup_retention):
        # provider-aws#1356, terraform-provider-aws#33465
        return (
            "The specified DB instance is associated with an AWS Backup resource that manages "
            "the backup retention period. Specify the backup retention period only with the "
            f"current value ({aws_backup_retention})."
        )
    return None


REGION = "eu-central-1"


@contextlib.contextmanager
def platform() -> Iterator[None]:
    """moto's AWS in the example platform's region, with the subnet group its Input names.
    Seeded: moto's generated ids (DbiResourceId, ...) come from `random`."""
    random.seed(0)
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}"
            )["Subnet"]["SubnetId"]
            for i, z in enumerate("ab")
        ]
        boto3.client("rds", region_name=REGION).create_db_subnet_group(
            DBSubnetGroupName="klutch-databases",
            DBSubnetGroupDescription="the example platform's database subnets",
            SubnetIds=subnets,
        )
        yield

"""What the AWS provider asks of the RDS API for a composed Instance, as botocore calls.

The upjet provider drives Terraform's aws_db_instance, which maps forProvider fields to RDS API
parameters one to one. Every forProvider field we emit must appear in one of the tables below, so
a new field cannot slip through without being checked against botocore's service model.
"""

from __future__ import annotations

import functools

import botocore.session
from botocore.validate import ParamValidator

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

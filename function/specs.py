"""The specs developers write (SPEC §1), as pydantic models.

The function parses every composite's spec with these models, and the XRD schemas are generated
from them (xrds.py), so the API server and the function agree on every field. Fields are optional
in the models where the function fills a default from the plan or the platform, so that "unset"
stays visible; defaults that never depend on the platform are also written into the XRD.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from function.inputs import VERSION_PATTERN, WINDOW_PATTERN, Schedule

DB_NAME_PATTERN = r"^[a-zA-Z][a-zA-Z0-9_]{0,62}$"
DEFAULT_DB_NAME = "app"


class _User(BaseModel):
    # Unknown fields are an error, so that a typo in a manifest is reported, not ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Database(_User):
    name: str | None = Field(
        None,
        pattern=DB_NAME_PATTERN,
        json_schema_extra={"default": DEFAULT_DB_NAME},
        description="Name of the database created in the instance. Immutable.",
    )


class Replicas(_User):
    count: int | None = Field(
        None, ge=0, le=15, description="Number of read replicas (cluster-* plans; default 1)."
    )


class Compute(_User):
    replicas: Replicas | None = None


class InstanceConfig(_User):
    region: str | None = Field(
        None,
        pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$",
        description="AWS region; default: the platform's region. Immutable.",
    )
    publiclyAccessible: bool | None = Field(
        None,
        json_schema_extra={"default": False},
        description="Give the instance a public address; refused unless the platform allows it.",
    )
    tags: dict[str, str] | None = Field(None, description="Extra AWS tags.")
    database: Database | None = None
    compute: Compute | None = None
    allocatedStorage: int | None = Field(
        None,
        ge=20,
        le=65536,
        description="Storage in GiB; within the plan's bounds; never shrinks.",
    )
    encryptedStorage: bool | None = Field(
        None,
        json_schema_extra={"default": True},
        description="Encrypt storage; false is refused unless the platform allows it. Immutable.",
    )
    multiAZ: bool | None = Field(None, description="Standby in a second zone; default: the plan's.")


class BackupSpec(_User):
    schedule: Schedule | None = Field(
        None, description="daily | hourly | none; default: the platform's (daily)."
    )
    retentionDays: int | None = Field(
        None, ge=1, le=35, description="Days backups are kept; bounds point-in-time restore."
    )
    window: str | None = Field(
        None, pattern=WINDOW_PATTERN, description="Daily backup window, UTC, HH:MM-HH:MM."
    )


class InstanceSpec(BaseModel):
    # Crossplane adds its own fields (claimRef, compositionRef, ...) beside ours: ignore those.
    model_config = ConfigDict(extra="ignore", frozen=True)

    serviceVersion: str = Field(
        ...,
        pattern=VERSION_PATTERN,
        max_length=16,
        description="Engine version, one the platform offers (e.g. 17.5). Never downgraded.",
    )
    plan: str = Field(
        ...,
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        max_length=63,
        description="Plan, one the platform offers (e.g. single-small, cluster-medium).",
    )
    config: InstanceConfig | None = None
    backup: BackupSpec | None = None


class BackupStatus(BaseModel):
    schedule: str | None = None
    retentionDays: int | None = None
    window: str | None = None
    pointInTimeRestore: str | None = Field(None, description="Available | Unavailable.")
    latestRestorableTime: str | None = Field(None, description="RFC 3339, UTC.")


class InstanceStatus(BaseModel):
    phase: str | None = Field(None, description="RDS status of the primary, e.g. available.")
    endpoint: str | None = Field(None, description="Hostname of the primary.")
    port: int | None = None
    dbname: str | None = None
    identifier: str | None = Field(None, description="RDS DB instance identifier.")
    region: str | None = None
    arn: str | None = None
    engine: str | None = None
    version: str | None = None
    plan: str | None = None
    instanceClass: str | None = None
    allocatedStorage: int | None = None
    multiAZ: bool | None = None
    replicas: int | None = None
    replicaEndpoints: list[str] | None = Field(
        None, description="Hostnames of the read replicas, in order, once AWS reports them."
    )
    sqlProviderConfig: str | None = Field(
        None, description="The SQL provider's ProviderConfig for this instance's bindings."
    )
    backup: BackupStatus | None = None


EngineType = Literal["postgresql", "mysql", "mariadb"]
K8S_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# An instance and a Restore may share a name (and an engine): the kind says which one is meant.
InstanceKind = Literal["PostgresqlInstance", "MysqlInstance", "MariadbInstance", "Restore"]
_INSTANCE_KIND = (
    "Kind of the object instanceRef names, when an instance and a Restore share its name: "
    "PostgresqlInstance | MysqlInstance | MariadbInstance | Restore."
)


class BindingSpec(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    instanceRef: str = Field(
        ...,
        pattern=K8S_NAME_PATTERN,
        max_length=63,
        description="Name of an instance or a Restore in this namespace. Immutable.",
    )
    instanceKind: InstanceKind | None = Field(None, description=_INSTANCE_KIND)
    serviceInstanceType: EngineType | None = Field(
        None, description="postgresql | mysql | mariadb; checked against the instance if given."
    )
    role: Literal["readWrite", "readOnly"] | None = Field(
        None,
        json_schema_extra={"default": "readWrite"},
        description="readWrite (default) or readOnly (SELECT only). Immutable.",
    )


class BindingRef(BaseModel):
    name: str | None = Field(None, description="The Secret with the credentials.")


class BindingStatus(BaseModel):
    binding: BindingRef | None = Field(None, description="servicebinding.io ProvisionedService.")
    secretName: str | None = None
    username: str | None = None
    instance: str | None = None
    type: str | None = None


class BackupRequestSpec(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    instanceRef: str = Field(
        ...,
        pattern=K8S_NAME_PATTERN,
        max_length=63,
        description="Name of an instance or a Restore in this namespace. Immutable.",
    )
    instanceKind: InstanceKind | None = Field(None, description=_INSTANCE_KIND)
    deletionPolicy: Literal["Delete", "Retain"] | None = Field(
        None,
        json_schema_extra={"default": "Delete"},
        description="Delete (default): the snapshot goes with this object; Retain: it stays.",
    )


class BackupRequestStatus(BaseModel):
    phase: str | None = Field(None, description="RDS snapshot status, e.g. available.")
    instance: str | None = None
    instanceIdentifier: str | None = None
    snapshotIdentifier: str | None = None
    snapshotArn: str | None = None
    region: str | None = None
    engine: str | None = None
    engineVersion: str | None = None
    plan: str | None = None
    dbname: str | None = None
    allocatedStorage: int | None = None
    creationTime: str | None = Field(None, description="When the snapshot was requested, RFC 3339.")


class PointInTime(_User):
    instanceRef: str = Field(
        ..., pattern=K8S_NAME_PATTERN, max_length=63, description="Source instance or Restore."
    )
    instanceKind: InstanceKind | None = Field(None, description=_INSTANCE_KIND)
    restoreTime: str | None = Field(
        None,
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$",
        description="RFC 3339 time to restore to; mutually exclusive with useLatestRestorableTime.",
    )
    useLatestRestorableTime: bool | None = Field(
        None,
        description="Restore to the latest restorable time; mutually exclusive with restoreTime.",
    )


class RestoreSpec(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    backupRef: str | None = Field(
        None,
        pattern=K8S_NAME_PATTERN,
        max_length=63,
        description="A Backup in this namespace; mutually exclusive with backupArn, pointInTime.",
    )
    backupArn: str | None = Field(
        None,
        pattern=r"^arn:aws[a-z-]*:rds:[a-z0-9-]+:[0-9]{12}:snapshot:[a-zA-Z][a-zA-Z0-9:-]*$",
        max_length=2048,
        description="ARN of an RDS DB snapshot in the instance's region; mutually exclusive with "
        "backupRef, pointInTime. Needs serviceInstanceType and plan.",
    )
    pointInTime: PointInTime | None = Field(
        None,
        description="Restore a source to a time; mutually exclusive with backupRef, backupArn.",
    )
    serviceInstanceType: EngineType | None = Field(
        None, description="postgresql | mysql | mariadb; required with backupArn, else inferred."
    )
    plan: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        max_length=63,
        description="Plan of the new instance; default: the source's plan.",
    )
    config: InstanceConfig | None = None
    backup: BackupSpec | None = None


class RestoreSource(BaseModel):
    backupRef: str | None = None
    backupArn: str | None = None
    snapshotIdentifier: str | None = None
    instanceRef: str | None = None
    instanceIdentifier: str | None = None
    restoreTime: str | None = None
    useLatestRestorableTime: bool | None = None


class RestoreStatus(InstanceStatus):
    source: RestoreSource | None = Field(
        None, description="What was restored; frozen once created."
    )

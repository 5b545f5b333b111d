"""The specs developers write (SPEC §1), as pydantic models.

The function parses every composite's spec with these models, and the XRD schemas are generated
from them (xrds.py), so the API server and the function agree on every field. Fields are optional
in the models where the function fills a default from the plan or the platform, so that "unset"
stays visible; defaults that never depend on the platform are also written into the XRD.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from function import engines
from function.conditions import Problem
from function.inputs import (
    PLAN_MAX_LENGTH,
    PLAN_PATTERN,
    VERSION_MAX_LENGTH,
    VERSION_PATTERN,
    WINDOW_PATTERN,
    Schedule,
    StrictModel,
)

DB_NAME_PATTERN = r"^[a-zA-Z][a-zA-Z0-9_]{0,62}$"
DEFAULT_DB_NAME = "app"

# What Crossplane itself writes into a composite's spec beside the developer's fields: a
# LegacyCluster XR's (crossplane internal/xcrd CompositeResourceSpecProps) and, in v2, everything
# under spec.crossplane. Only these are let through unchecked; every other field is ours, strict.
CROSSPLANE_FIELDS = frozenset(
    {
        "compositionRef",
        "compositionSelector",
        "compositionRevisionRef",
        "compositionRevisionSelector",
        "compositionUpdatePolicy",
        "claimRef",
        "environmentConfigRefs",
        "resourceRefs",
        "publishConnectionDetailsTo",
        "writeConnectionSecretToRef",
        "crossplane",
    }
)


class _User(StrictModel):
    """What a developer writes: unknown fields and wrong types ("100" for a number) are errors,
    so that a typo such as `rol: readOnly` is reported, never silently ignored."""


class _Composite(_User):
    """A composite's whole spec: the developer's fields, strict, beside Crossplane's own."""

    # Valid stand-ins for required fields that had errors, so that the rest can still be checked
    # (see parse); the stand-in is then replaced by "" which the checks skip.
    PLACEHOLDERS: ClassVar[dict[str, Any]] = {}

    @model_validator(mode="before")
    @classmethod
    def _without_crossplane(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in CROSSPLANE_FIELDS}
        return data


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
    parameters: dict[str, Any] | None = Field(
        None,
        description="Database parameters by name, from the platform's catalog: numbers with "
        'units ("64MB", "30s"), booleans, choices, lists. Checked before anything changes; '
        "a change of a static parameter applies at the next reboot.",
        json_schema_extra={"additionalProperties": {"x-kubernetes-preserve-unknown-fields": True}},
    )
    extensions: list[str] | None = Field(
        None,
        max_length=64,
        description="PostgreSQL extensions to create in the database, from the platform's allow "
        "list (vector, pg_trgm, ...). Removing one drops it only where nothing depends on it.",
    )


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


class InstanceSpec(_Composite):
    PLACEHOLDERS: ClassVar[dict[str, Any]] = {"serviceVersion": "0.0", "plan": "x"}

    serviceVersion: str = Field(
        ...,
        pattern=VERSION_PATTERN,
        max_length=VERSION_MAX_LENGTH,
        description="Engine version, one the platform offers (e.g. 17.5). Never downgraded.",
    )
    plan: str = Field(
        ...,
        pattern=PLAN_PATTERN,
        max_length=PLAN_MAX_LENGTH,
        description="Plan, one the platform offers (e.g. single-small, cluster-medium).",
    )
    config: InstanceConfig | None = None
    backup: BackupSpec | None = None


_REPORTED = {"reported": True}  # the validation context of Status.reported


class Status(BaseModel):
    """What the function reports in a composite's status; the XRDs' status schemas are generated
    from these models. The API server silently prunes a field its schema lacks (and Backups,
    Restores and bindings read these statuses), so setting a field a model lacks is an error
    here, and so is a value of another type (assignments are checked too)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @classmethod
    def reported(cls, **fields: Any) -> Self:
        """The status built from what others report (providers, other kinds' statuses, the
        function's own records on composed resources): a value of an unexpected type there (a
        provider reporting a port as a list, a number for a name) is left out of the status
        rather than failing the whole answer, which would stop the function composing anything.
        A field the model lacks stays an error (a bug here), and so does every wrong value the
        function itself sets (built or assigned any other way)."""
        return cls.model_validate(fields, context=_REPORTED)

    @model_validator(mode="wrap")
    @classmethod
    def _unreadable_left_out(cls, data: Any, handler: Any, info: ValidationInfo) -> Any:
        try:
            return handler(data)
        except ValidationError as err:
            if info.context != _REPORTED or not isinstance(data, dict):
                raise
            errors = err.errors()
            bad = {e["loc"][0] for e in errors if e["loc"] and e["type"] != "extra_forbidden"}
            if not bad or any(e["type"] == "extra_forbidden" for e in errors):
                raise
            return handler({k: v for k, v in data.items() if k not in bad})

    def wire(self) -> dict[str, Any]:
        """The status as sent: unset (None) fields left out, as structs.fill drops None."""
        return self.model_dump(exclude_none=True)


class BackupStatus(Status):
    schedule: str | None = None
    retentionDays: int | None = None
    window: str | None = None
    pointInTimeRestore: str | None = Field(None, description="Available | Unavailable.")
    latestRestorableTime: str | None = Field(None, description="RFC 3339, UTC.")


class InstanceStatus(Status):
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
    parameterGroup: str | None = Field(
        None, description="The RDS parameter group the instance uses (one per major version)."
    )
    pendingReboot: list[str] | None = Field(
        None,
        description="Static parameters changed and not yet applied: RDS applies them at the "
        "instance's next reboot (README: what tells the function it rebooted).",
    )


EngineType = engines.Name
K8S_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# An instance and a Restore may share a name (and an engine): the kind says which one is meant.
InstanceKind = Literal["PostgresqlInstance", "MysqlInstance", "MariadbInstance", "Restore"]
_INSTANCE_KIND = (
    "Kind of the object instanceRef names, when an instance and a Restore share its name: "
    "PostgresqlInstance | MysqlInstance | MariadbInstance | Restore."
)


class BindingSpec(_Composite):
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


class BindingRef(Status):
    name: str | None = Field(None, description="The Secret with the credentials.")


class BindingStatus(Status):
    binding: BindingRef | None = Field(None, description="servicebinding.io ProvisionedService.")
    secretName: str | None = None
    username: str | None = None
    instance: str | None = None
    type: str | None = None


class BackupRequestSpec(_Composite):
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


class BackupRequestStatus(Status):
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
        json_schema_extra={"format": "date-time"},
        description="RFC 3339 time to restore to; mutually exclusive with useLatestRestorableTime.",
    )
    useLatestRestorableTime: bool | None = Field(
        None,
        description="Restore to the latest restorable time; mutually exclusive with restoreTime.",
    )

    @field_validator("restoreTime")
    @classmethod
    def _real_time(cls, value: str | None) -> str | None:
        # The pattern admits 2026-02-30 or 25:30 or +99:00; only a real time can be restored to.
        if value is not None:
            try:
                datetime.fromisoformat(value)
            except ValueError as err:
                why = "UTC offset out of range" if "offset" in str(err) else str(err)
                raise PydanticCustomError(
                    "date_time",
                    "{value} is not a real time ({why}); allowed: an RFC 3339 time such as "
                    '"2026-11-24T09:30:00Z"',
                    {"value": f'"{value}"', "why": why},
                ) from err
        return value


class RestoreSpec(_Composite):
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
        pattern=PLAN_PATTERN,
        max_length=PLAN_MAX_LENGTH,
        description="Plan of the new instance; default: the source's plan.",
    )
    config: InstanceConfig | None = None
    backup: BackupSpec | None = None


class RestoreSource(Status):
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


M = TypeVar("M", bound="_Composite")


def parse(model: type[M], data: dict) -> tuple[M | None, ValidationError | None, M | None]:
    """(spec, None, spec) when valid; else (None, errors, partial): the spec without the fields
    that had errors, so that every other problem is reported in the same answer (None when
    nothing sensible is left). A required field with an error reads "" in the partial spec."""
    try:
        spec = model.model_validate(data)
        return spec, None, spec
    except ValidationError as invalid:
        first = invalid
    pruned: Any = data
    broken: set[str] = set()
    errors = first
    for _ in range(8):  # each round removes at least one field
        for e in errors.errors(include_url=False):
            loc = e["loc"]
            if not loc:
                return None, first, None
            if e["type"] == "missing" and len(loc) == 1 and loc[0] in model.PLACEHOLDERS:
                broken.add(str(loc[0]))
                continue
            # A nested object missing a required field goes as a whole; a required top-level
            # field without a stand-in leaves nothing sensible to check.
            gone = loc[:-1] if e["type"] == "missing" else loc
            if not gone:
                return None, first, None
            pruned = _without(pruned, gone)
        stand_in = {f: model.PLACEHOLDERS[f] for f in broken}
        try:
            partial = model.model_validate({**pruned, **stand_in})
        except ValidationError as again:
            errors = again
            continue
        return None, first, partial.model_copy(update=dict.fromkeys(broken, ""))
    return None, first, None


def _without(data: Any, loc: tuple) -> Any:
    """A copy of nested dicts without the value at loc."""
    if not isinstance(data, dict) or loc[0] not in data:
        return data
    if len(loc) == 1:
        return {k: v for k, v in data.items() if k != loc[0]}
    return {**data, loc[0]: _without(data[loc[0]], loc[1:])}


def unaffected(checks: list[Problem], invalid: list[Problem]) -> list[Problem]:
    """The checks that do not depend on a field that already has a type or format problem (that
    field was left out of the partial spec, so a check of it would speak of a default)."""
    broken = [p.field for p in invalid]

    def depends(check: Problem) -> bool:
        # "spec" (exactly one restore source) depends on every source field.
        fields = RESTORE_SOURCES if check.field == "spec" else (check.field,)
        return any(b == f or b.startswith(f + ".") for b in broken for f in fields)

    return [c for c in checks if not depends(c)]


RESTORE_SOURCES = ("spec.backupRef", "spec.backupArn", "spec.pointInTime")

"""Condition types, reasons and the way problems reach the user (conditions, events, logs).

Every condition type and reason the function emits is a member of `Type` or `Reason` below, with
its one-line meaning; docs/conditions.md is generated from them, the README lists them, and the
tests check every answer they produce against them.

Crossplane never removes a condition the function stops returning, so every answer carries every
type its kind owns (kinds.Kind.conditions), with its current value: fn.py completes each answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from crossplane.function.proto.v1 import run_function_pb2 as fnv1


class _Meaning(StrEnum):
    """A string enum whose members also carry what they mean (`Member = "Value", "meaning"`)."""

    meaning: str

    def __new__(cls, value: str, meaning: str) -> _Meaning:
        member = str.__new__(cls, value)
        member._value_ = value
        member.meaning = meaning
        return member


class Type(_Meaning):
    """Condition types the function sets (never Ready or Synced: Crossplane owns those)."""

    SPEC_VALID = "SpecValid", "the spec can be composed (every kind)"
    INSTANCE_READY = (
        "InstanceReady",
        "the referenced instance exists and is ready (ServiceBinding, Backup)",
    )
    CREDENTIALS_READY = "CredentialsReady", "the binding's Secret is published (ServiceBinding)"
    SNAPSHOT_READY = "SnapshotReady", "the manual snapshot is available (Backup)"
    SOURCE_READY = "SourceReady", "the restore source is known and usable (Restore)"
    EXTENSIONS_READY = (
        "ExtensionsReady",
        "the database has exactly the extensions listed (PostgresqlInstance, Restore)",
    )


class Reason(_Meaning):
    """Every reason of a condition or an event the function emits."""

    # SpecValid: accepted, or why a spec is refused (the reasons in REFUSALS).
    SPEC_ACCEPTED = "SpecAccepted", "the spec is valid and composed"
    SPEC_INVALID = (
        "SpecInvalid",
        "a field has the wrong type, format or range, or several problems at once",
    )
    PLAN_NOT_OFFERED = "PlanNotOffered", "spec.plan is not in the platform's catalog"
    VERSION_NOT_OFFERED = (
        "VersionNotOffered",
        "spec.serviceVersion is not in the platform's catalog",
    )
    VERSION_DOWNGRADE_REFUSED = (
        "VersionDowngradeRefused",
        "spec.serviceVersion is lower than the running version",
    )
    MAJOR_UPGRADE_NOT_ALLOWED = (
        "MajorUpgradeNotAllowed",
        "the catalog does not allow this major upgrade",
    )
    REPLICAS_NOT_ALLOWED = (
        "ReplicasNotAllowed",
        "read replicas were asked for on a plan without replicas",
    )
    REPLICAS_OUT_OF_RANGE = "ReplicasOutOfRange", "more read replicas than the plan allows"
    REPLICAS_NEED_BACKUPS = (
        "ReplicasNeedBackups",
        "read replicas need scheduled backups (RDS requirement)",
    )
    STORAGE_OUT_OF_RANGE = (
        "StorageOutOfRange",
        "spec.config.allocatedStorage outside the plan's bounds, or a growth of less than the "
        "10% RDS grows storage by",
    )
    PUBLIC_ACCESS_REFUSED = (
        "PublicAccessRefused",
        "public access asked for, the platform does not allow it",
    )
    UNENCRYPTED_REFUSED = (
        "UnencryptedRefused",
        "unencrypted storage asked for, the platform does not allow it",
    )
    IMMUTABLE_FIELD_CHANGED = (
        "ImmutableFieldChanged",
        "a field that cannot change on an existing database changed",
    )
    HOURLY_BACKUP_UNAVAILABLE = (
        "HourlyBackupUnavailable",
        "the platform has no IAM role for AWS Backup",
    )
    BACKUP_WINDOW_INVALID = (
        "BackupWindowInvalid",
        "spec.backup.window is shorter than 30 minutes, or overlaps the instance's maintenance "
        "window (RDS refuses both)",
    )
    TAG_RESERVED = "TagReserved", "a tag key is reserved for the platform or AWS"
    RESTORE_SOURCE_INVALID = (
        "RestoreSourceInvalid",
        "not exactly one restore source, or a field the source needs",
    )
    RESTORE_REGION_MISMATCH = "RestoreRegionMismatch", "the restore source is in another region"
    RESTORE_WINDOW_INVALID = (
        "RestoreWindowInvalid",
        "restoreTime outside the source's restorable window",
    )
    POINT_IN_TIME_UNAVAILABLE = "PointInTimeUnavailable", "the source has no scheduled backups"
    INSTANCE_TYPE_MISMATCH = (
        "InstanceTypeMismatch",
        "serviceInstanceType differs from the referenced instance's",
    )
    INSTANCE_AMBIGUOUS = (
        "InstanceAmbiguous",
        "instanceRef names an instance and a Restore; instanceKind chooses",
    )
    EXTENSIONS_NOT_OFFERED = (
        "ExtensionsNotOffered",
        "spec.config.extensions on an engine without extensions",
    )
    PARAMETER_NOT_ALLOWED = (
        "ParameterNotAllowed",
        "a parameter the platform's catalog does not offer for this version",
    )
    PARAMETER_VALUE_INVALID = (
        "ParameterValueInvalid",
        "a parameter value of the wrong type, unit, range or choice",
    )
    PARAMETER_RESERVED = "ParameterReserved", "a parameter only the platform sets (TLS enforcement)"
    EXTENSION_NOT_ALLOWED = "ExtensionNotAllowed", "an extension not in the platform's allow list"
    EXTENSION_NOT_ON_VERSION = (
        "ExtensionNotOnVersion",
        "an extension RDS does not offer on this major version",
    )
    EXTENSION_NEEDS_PRELOAD = (
        "ExtensionNeedsPreload",
        "an extension whose library is missing from shared_preload_libraries",
    )
    EXTENSION_REPEATED = "ExtensionRepeated", "an extension listed twice"
    SOURCE_PENDING = (
        "SourcePending",
        "Unknown while a Restore waits for its source: the rest of the spec is checked against it",
    )

    # InstanceReady.
    INSTANCE_AVAILABLE = "InstanceAvailable", "the referenced instance is ready"
    INSTANCE_RESOLVING = (
        "InstanceResolving",
        "waiting for Crossplane to fetch the referenced instance",
    )
    INSTANCE_NOT_FOUND = (
        "InstanceNotFound",
        "no instance of that name in the namespace (waiting for it)",
    )
    INSTANCE_NOT_READY = (
        "InstanceNotReady",
        "the referenced instance is not ready yet (waiting for it)",
    )
    INSTANCE_NOT_NEEDED = (
        "InstanceNotNeeded",
        "Unknown once a Backup's snapshot exists: it no longer needs its instance",
    )

    # CredentialsReady.
    CREDENTIALS_PENDING = (
        "CredentialsPending",
        "the SQL provider has not published the user's password yet",
    )
    CREDENTIALS_PUBLISHED = "CredentialsPublished", "the binding's Secret carries every key"
    SECRET_NAME_CLASH = (
        "SecretNameClash",
        "the claim's writeConnectionSecretToRef names the binding's own Secret",
    )

    # SnapshotReady.
    BACKUP_PENDING = "BackupPending", "the snapshot is being taken"
    BACKUP_COMPLETED = "BackupCompleted", "the snapshot is available"

    # SourceReady.
    SOURCE_AVAILABLE = (
        "SourceAvailable",
        "the restore source is usable (also once the restored instance exists)",
    )
    RESTORE_SOURCE_RESOLVING = (
        "RestoreSourceResolving",
        "waiting for Crossplane to fetch the restore source",
    )
    BACKUP_NOT_FOUND = "BackupNotFound", "no Backup of that name in the namespace (waiting for it)"
    BACKUP_NOT_AVAILABLE = (
        "BackupNotAvailable",
        "the Backup's snapshot is not available yet (waiting for it)",
    )
    SOURCE_NOT_RESTORABLE_YET = (
        "SourceNotRestorableYet",
        "RDS reports no restorable time for the source yet (waiting)",
    )
    RESTORE_REFUSED = (
        "RestoreRefused",
        "AWS refused to create the restored instance (its message); the spec stays editable",
    )

    # ExtensionsReady.
    EXTENSIONS_AS_LISTED = (
        "ExtensionsAsListed",
        "the extensions listed exist and no other composed one is left (none on MySQL/MariaDB)",
    )
    EXTENSIONS_PENDING = "ExtensionsPending", "provider-sql is creating or dropping an extension"
    EXTENSION_DROP_BLOCKED = (
        "ExtensionDropBlocked",
        "an extension removed from the list that provider-sql cannot drop (its message says why)",
    )

    # Any type.
    NOT_CHECKED = "NotChecked", "Unknown: an earlier problem stopped the function before it looked"

    # Warnings that block nothing (events only).
    STORAGE_SHRINK_KEPT = (
        "StorageShrinkKept",
        "storage never shrinks: the larger running size is kept",
    )
    VERSION_NO_LONGER_OFFERED = (
        "VersionNoLongerOffered",
        "the running version left the catalog; it keeps running",
    )
    VERSION_UPGRADED_BY_AWS = (
        "VersionUpgradedByAws",
        "AWS upgraded the engine past spec.serviceVersion on its own; it is composed as it runs",
    )
    RESTORE_PARAMETERS_FROZEN = (
        "RestoreParametersFrozen",
        "the restored instance exists: a changed source is not applied",
    )
    PARAMETERS_PENDING_REBOOT = (
        "ParametersPendingReboot",
        "static parameters change at the instance's next reboot",
    )
    BACKUP_RETENTION_HELD = (
        "BackupRetentionHeldByAwsBackup",
        "AWS Backup still holds the retention after hourly backups ended",
    )
    UNKNOWN_RESOURCE_KEPT = (
        "UnknownResourceKept",
        "a composed resource of a name this version never composes is kept as it is",
    )


# Reasons a SpecValid=False condition may carry: those declared from SpecInvalid up to
# SourcePending above (docs/conditions.md: why a spec is refused).
_DECLARED = list(Reason)
REFUSALS = frozenset(
    _DECLARED[_DECLARED.index(Reason.SPEC_INVALID) : _DECLARED.index(Reason.SOURCE_PENDING)]
)

# Reasons that only wait: nothing to change in the spec (no event while Crossplane fetches).
WAITING = frozenset(
    {
        Reason.INSTANCE_RESOLVING,
        Reason.INSTANCE_NOT_FOUND,
        Reason.INSTANCE_NOT_READY,
        Reason.RESTORE_SOURCE_RESOLVING,
        Reason.BACKUP_NOT_FOUND,
        Reason.BACKUP_NOT_AVAILABLE,
        Reason.SOURCE_NOT_RESTORABLE_YET,
    }
)
WARNINGS = (
    Reason.STORAGE_SHRINK_KEPT,
    Reason.VERSION_NO_LONGER_OFFERED,
    Reason.VERSION_UPGRADED_BY_AWS,
    Reason.RESTORE_PARAMETERS_FROZEN,
    Reason.PARAMETERS_PENDING_REBOOT,
    Reason.BACKUP_RETENTION_HELD,
    Reason.UNKNOWN_RESOURCE_KEPT,
)


# One thing wrong, before it names the object: (field, reason, cause).
Cause = tuple[str, Reason, str]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: the field, a stable reason and a complete message."""

    field: str
    reason: Reason
    message: str


def condition(typ: Type, status: bool | None, reason: Reason, message: str = "") -> fnv1.Condition:
    """A condition; status None is Unknown (the function did not or could not look)."""
    c = fnv1.Condition(
        type=typ,
        status=fnv1.STATUS_CONDITION_UNKNOWN
        if status is None
        else fnv1.STATUS_CONDITION_TRUE
        if status
        else fnv1.STATUS_CONDITION_FALSE,
        reason=reason,
        target=fnv1.TARGET_COMPOSITE_AND_CLAIM,
    )
    if message:
        c.message = message
    return c


def result(severity: fnv1.Severity, reason: Reason, message: str) -> fnv1.Result:
    return fnv1.Result(
        severity=severity, reason=reason, message=message, target=fnv1.TARGET_COMPOSITE_AND_CLAIM
    )


def report_problems(rsp: fnv1.RunFunctionResponse, problems: list[Problem]) -> None:
    """A warning event per problem and one SpecValid=False condition that lists them all."""
    for p in problems:
        rsp.results.append(result(fnv1.SEVERITY_WARNING, p.reason, p.message))
    reason = problems[0].reason if len({p.reason for p in problems}) == 1 else Reason.SPEC_INVALID
    rsp.conditions.append(
        condition(Type.SPEC_VALID, False, reason, "; ".join(p.message for p in problems))
    )


def report_valid(rsp: fnv1.RunFunctionResponse) -> None:
    rsp.conditions.append(condition(Type.SPEC_VALID, True, Reason.SPEC_ACCEPTED))


# How much of a provider's message reaches the developer: enough for PostgreSQL's reason.
MESSAGE_LIMIT = 300


def scrub(message: str, secrets: tuple[str, ...], limit: int = MESSAGE_LIMIT) -> str:
    """A provider's message, without any credential of the instance, on one line, and not too
    long."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "(redacted)")
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


def warn(rsp: fnv1.RunFunctionResponse, reason: Reason, message: str) -> None:
    rsp.results.append(result(fnv1.SEVERITY_WARNING, reason, message))


def complete(rsp: fnv1.RunFunctionResponse, owned: tuple[Type, ...]) -> None:
    """Every owned condition type exactly once, in the kind's order, and no other: a type a path
    did not reach is Unknown (a stale value would stay forever), a type set twice keeps its first
    value, and a type the kind does not own (ExtensionsReady of a MysqlInstance) is not sent."""
    first: dict[str, fnv1.Condition] = {}
    for c in rsp.conditions:
        first.setdefault(c.type, c)
    message = "not checked: an earlier problem stopped (see SpecValid)"
    ordered = [first.get(t) or condition(t, None, Reason.NOT_CHECKED, message) for t in owned]
    del rsp.conditions[:]
    rsp.conditions.extend(ordered)

"""Condition types, reasons and the way problems reach the user (conditions, events, logs).

Every condition type and reason the function emits, in one place (the README repeats it):

- SpecValid (every kind): SpecAccepted, or a refusal reason from REASONS below; Unknown
  SourcePending while a Restore waits for its source (the rest is checked against it).
- InstanceReady (ServiceBinding, Backup): InstanceAvailable; waiting: InstanceResolving,
  InstanceNotFound, InstanceNotReady; refused: InstanceTypeMismatch, InstanceAmbiguous; Unknown
  InstanceNotNeeded once a Backup's snapshot exists.
- CredentialsReady (ServiceBinding): CredentialsPending, CredentialsPublished, SecretNameClash.
- SnapshotReady (Backup): BackupPending, BackupCompleted.
- SourceReady (Restore; a point-in-time source is an instance): SourceAvailable; waiting:
  RestoreSourceResolving, BackupNotFound, BackupNotAvailable, SourceNotRestorableYet and the
  InstanceReady waiting reasons; refused: as SpecValid, or RestoreRefused (AWS refused the
  create; the developer may still change the spec).
- ExtensionsReady (PostgresqlInstance, Restore): ExtensionsAsListed (also on a MySQL or MariaDB
  Restore: none); waiting: ExtensionsPending (provider-sql creating or dropping one);
  ExtensionDropBlocked (an extension removed from the list that provider-sql cannot drop, e.g.
  PostgreSQL refuses while objects depend on it: the provider's message, also a warning event).
- Any of them Unknown NotChecked: an earlier problem stopped the function before it looked.

Crossplane never removes a condition the function stops returning, so every answer carries every
type its kind owns (OWNED), with its current value: fn.py completes and checks each answer.

Warnings that block nothing: StorageShrinkKept, VersionNoLongerOffered, RestoreParametersFrozen.
"""

from __future__ import annotations

from dataclasses import dataclass

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import extensions, parameters

# Condition types (never Ready or Synced: Crossplane owns those).
SPEC_VALID = "SpecValid"
INSTANCE_READY = "InstanceReady"
CREDENTIALS_READY = "CredentialsReady"
SNAPSHOT_READY = "SnapshotReady"
SOURCE_READY = "SourceReady"
EXTENSIONS_READY = "ExtensionsReady"

# The condition types each kind owns (keyed like fn.ROUTES).
OWNED: dict[str, tuple[str, ...]] = {
    "PostgresqlInstance": (SPEC_VALID, EXTENSIONS_READY),
    "MysqlInstance": (SPEC_VALID,),
    "MariadbInstance": (SPEC_VALID,),
    "ServiceBinding": (SPEC_VALID, INSTANCE_READY, CREDENTIALS_READY),
    "Backup": (SPEC_VALID, INSTANCE_READY, SNAPSHOT_READY),
    "Restore": (SPEC_VALID, SOURCE_READY, EXTENSIONS_READY),
}
NOT_CHECKED = "NotChecked"

# Reasons of SpecValid.
SPEC_ACCEPTED = "SpecAccepted"
SPEC_INVALID = "SpecInvalid"  # several problems at once
REASONS = {
    "SpecInvalid": "a field has the wrong type, format or range",
    "PlanNotOffered": "spec.plan is not in the platform's catalog",
    "VersionNotOffered": "spec.serviceVersion is not in the platform's catalog",
    "VersionDowngradeRefused": "spec.serviceVersion is lower than the running version",
    "MajorUpgradeNotAllowed": "the catalog does not allow this major upgrade",
    "ReplicasNotAllowed": "read replicas were asked for on a plan without replicas",
    "ReplicasOutOfRange": "more read replicas than the plan allows",
    "ReplicasNeedBackups": "read replicas need scheduled backups (RDS requirement)",
    "StorageOutOfRange": "spec.config.allocatedStorage outside the plan's bounds",
    "PublicAccessRefused": "public access asked for, the platform does not allow it",
    "UnencryptedRefused": "unencrypted storage asked for, the platform does not allow it",
    "ImmutableFieldChanged": "a field that cannot change on an existing database changed",
    "HourlyBackupUnavailable": "the platform has no IAM role for AWS Backup",
    "BackupWindowInvalid": "spec.backup.window is shorter than 30 minutes",
    "TagReserved": "a tag key is reserved for the platform or AWS",
    "RestoreSourceInvalid": "not exactly one restore source, or a field the source needs",
    "RestoreRegionMismatch": "the restore source is in another region",
    "RestoreWindowInvalid": "restoreTime outside the source's restorable window",
    "PointInTimeUnavailable": "the source has no scheduled backups",
    "InstanceTypeMismatch": "serviceInstanceType differs from the referenced instance's",
    "InstanceAmbiguous": "instanceRef names an instance and a Restore; instanceKind chooses",
    "ExtensionsNotOffered": "spec.config.extensions on an engine without extensions",
    **parameters.REASONS,
    **extensions.REASONS,
}

# Reasons of warnings that do not block composition.
STORAGE_SHRINK_KEPT = "StorageShrinkKept"
VERSION_NO_LONGER_OFFERED = "VersionNoLongerOffered"
PARAMETERS_PENDING_REBOOT = "ParametersPendingReboot"
BACKUP_RETENTION_HELD = "BackupRetentionHeldByAwsBackup"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: the field, a stable reason and a complete message."""

    field: str
    reason: str
    message: str


def condition(typ: str, status: bool | None, reason: str, message: str = "") -> fnv1.Condition:
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


def result(severity: int, reason: str, message: str) -> fnv1.Result:
    return fnv1.Result(
        severity=severity, reason=reason, message=message, target=fnv1.TARGET_COMPOSITE_AND_CLAIM
    )


def report_problems(rsp: fnv1.RunFunctionResponse, problems: list[Problem]) -> None:
    """A warning event per problem and one SpecValid=False condition that lists them all."""
    for p in problems:
        rsp.results.append(result(fnv1.SEVERITY_WARNING, p.reason, p.message))
    reason = problems[0].reason if len({p.reason for p in problems}) == 1 else SPEC_INVALID
    rsp.conditions.append(
        condition(SPEC_VALID, False, reason, "; ".join(p.message for p in problems))
    )


def report_valid(rsp: fnv1.RunFunctionResponse) -> None:
    rsp.conditions.append(condition(SPEC_VALID, True, SPEC_ACCEPTED))


def warn(rsp: fnv1.RunFunctionResponse, reason: str, message: str) -> None:
    rsp.results.append(result(fnv1.SEVERITY_WARNING, reason, message))


def complete(rsp: fnv1.RunFunctionResponse, kind: str) -> None:
    """Every owned condition type exactly once, in OWNED order: a type a path did not reach is
    Unknown (a stale value would stay forever), and a type set twice keeps its first value."""
    first: dict[str, fnv1.Condition] = {}
    for c in rsp.conditions:
        first.setdefault(c.type, c)
    message = "not checked: an earlier problem stopped (see SpecValid)"
    owned = OWNED.get(kind, ())
    ordered = [first.get(t) or condition(t, None, NOT_CHECKED, message) for t in owned]
    ordered += [c for t, c in first.items() if t not in owned]
    del rsp.conditions[:]
    rsp.conditions.extend(ordered)

"""Condition types, reasons and the way problems reach the user (conditions, events, logs).

Every condition type and reason the function emits, in one place (the README repeats it):

- SpecValid (every kind): SpecAccepted, or a refusal reason from REASONS below.
- InstanceReady (ServiceBinding, Backup, point-in-time Restore): InstanceAvailable; waiting:
  InstanceResolving, InstanceNotFound, InstanceNotReady; refused: InstanceTypeMismatch,
  InstanceAmbiguous.
- CredentialsReady (ServiceBinding): CredentialsPending, CredentialsPublished, SecretNameClash.
- SnapshotReady (Backup): BackupPending, BackupCompleted.
- SourceReady (Restore): SourceAvailable; waiting: RestoreSourceResolving, BackupNotFound,
  BackupNotAvailable, SourceNotRestorableYet; refused: as SpecValid, or RestoreRefused (AWS
  refused the create; the developer may still change the spec).

Warnings that block nothing: StorageShrinkKept, VersionNoLongerOffered, RestoreParametersFrozen.
"""

from __future__ import annotations

from dataclasses import dataclass

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

# Condition types (never Ready or Synced: Crossplane owns those).
SPEC_VALID = "SpecValid"

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
}

# Reasons of warnings that do not block composition.
STORAGE_SHRINK_KEPT = "StorageShrinkKept"
VERSION_NO_LONGER_OFFERED = "VersionNoLongerOffered"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: the field, a stable reason and a complete message."""

    field: str
    reason: str
    message: str


def condition(typ: str, status: bool, reason: str, message: str = "") -> fnv1.Condition:
    c = fnv1.Condition(
        type=typ,
        status=fnv1.STATUS_CONDITION_TRUE if status else fnv1.STATUS_CONDITION_FALSE,
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

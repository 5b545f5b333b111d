"""Scheduled backups of an instance (SPEC §1.4): daily, hourly, none.

daily: RDS automated backups (retention, window) which also give point-in-time restore.
hourly: in addition an AWS Backup Vault, Plan (hourly rule, continuous backup) and Selection.
none: retention 0, so no automated backups and no point-in-time restore.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import inputs, naming, resources
from function.conditions import Cause, Reason
from function.resources import dig
from function.specs import BackupSpec, BackupStatus

if TYPE_CHECKING:
    from function.request import Request

VAULT = "backup-vault"
PLAN = "backup-plan"
SELECTION = "backup-selection"
HOURLY_CRON = "cron(0 * ? * * *)"
_AWS_BACKUP_NAME_MAX = 50


@dataclass(frozen=True)
class Schedule:
    schedule: str
    retention_days: int
    window: str | None

    @property
    def rds_retention(self) -> int:
        return 0 if self.schedule == "none" else self.retention_days


def resolve(spec: BackupSpec | None, inp: inputs.Input) -> Schedule:
    d = inp.backup.defaults
    return Schedule(
        schedule=(spec and spec.schedule) or d.schedule,
        retention_days=(spec and spec.retentionDays) or d.retentionDays,
        window=(spec and spec.window) or d.window,
    )


def validate(spec: BackupSpec | None, inp: inputs.Input, replicas: int) -> list[Cause]:
    """(field, reason, cause) for every problem with spec.backup."""
    s = resolve(spec, inp)
    out = []
    if s.schedule == "hourly" and not inp.backup.hourly.iamRoleArn:
        out.append(
            (
                "spec.backup.schedule",
                Reason.HOURLY_BACKUP_UNAVAILABLE,
                'spec.backup.schedule "hourly" needs AWS Backup, which this platform has not '
                "set up (no backup.hourly.iamRoleArn in the function input); allowed: daily, none",
            )
        )
    if s.schedule == "none" and replicas > 0:
        out.append(
            (
                "spec.backup.schedule",
                Reason.REPLICAS_NEED_BACKUPS,
                f'spec.backup.schedule "none" with {replicas} read replica(s): RDS needs automated '
                "backups on a replicated instance; allowed: daily, hourly, or no replicas",
            )
        )
    if s.window and inputs.window_minutes(s.window) < inputs.MIN_WINDOW_MINUTES:
        out.append(
            (
                "spec.backup.window",
                Reason.BACKUP_WINDOW_INVALID,
                f'spec.backup.window "{s.window}" is shorter than 30 minutes; allowed: a UTC '
                'window of at least 30 minutes such as "03:00-04:00"',
            )
        )
    return out


def validate_against_running(
    spec: BackupSpec | None, inp: inputs.Input, observed: dict | None
) -> list[Cause]:
    """(field, reason, cause) for a new backup window RDS would refuse on this instance: one that
    overlaps the maintenance window AWS keeps for it (ModifyDBInstance PreferredBackupWindow:
    "Must not conflict with the preferred maintenance window"). AWS chose that window at
    creation, away from the first backup window; only a change can collide with it. Composed
    anyway, the provider's update would fail on every poll, and every other change with it."""
    s = resolve(spec, inp)
    at = dig(observed, "status", "atProvider", default={}) or {}
    maintenance = at.get("maintenanceWindow")
    if (
        not s.window
        or s.schedule == "hourly"  # the window is set at creation only (initProvider)
        or not isinstance(maintenance, str)
        or s.window == at.get("backupWindow")
        or not windows_overlap(s.window, maintenance)
    ):
        return []
    return [
        (
            "spec.backup.window",
            Reason.BACKUP_WINDOW_INVALID,
            f'spec.backup.window "{s.window}" overlaps the maintenance window "{maintenance}" '
            "(UTC) AWS keeps for this instance, and RDS refuses overlapping windows; allowed: a "
            "window of at least 30 minutes outside it",
        )
    ]


_DAY_MINUTES = 24 * 60
_WEEK_MINUTES = 7 * _DAY_MINUTES
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _minute_of_week(day: int, hhmm: str) -> int:
    return day * _DAY_MINUTES + int(hhmm[:2]) * 60 + int(hhmm[3:5])


def _week_interval(day: int, start: str, end: str) -> tuple[int, int]:
    """[start, end) in minutes of the week; an end at or before the start is on the next day."""
    a, b = _minute_of_week(day, start), _minute_of_week(day, end)
    return a, b if b > a else b + _DAY_MINUTES


def windows_overlap(daily: str, weekly: str) -> bool:
    """Whether a daily "hh:mm-hh:mm" window meets a weekly "ddd:hh:mm-ddd:hh:mm" one (UTC). An
    unreadable weekly window is taken as no overlap: AWS, not this check, has the last word."""
    try:
        first, last = weekly.lower().split("-")
        m_start = _minute_of_week(_DAYS.index(first[:3]), first[4:])
        m_end = _minute_of_week(_DAYS.index(last[:3]), last[4:])
        d_start, d_end = daily.split("-")
        # Day 7 is next week's Monday, for a maintenance window over the week's end.
        daily_intervals = [_week_interval(day, d_start, d_end) for day in range(8)]
    except ValueError:
        return False
    if m_end <= m_start:  # the window runs over the end of the week
        m_end += _WEEK_MINUTES
    return any(a < m_end and m_start < b for a, b in daily_intervals)


def names(identifier: str) -> str:
    """A name for AWS Backup objects (at most 50 characters), derived from the identifier."""
    head = identifier[: _AWS_BACKUP_NAME_MAX - 9].rstrip("-")
    return f"{head}-{naming.digest(identifier, length=8)}"


def compose(
    r: Request,
    rsp: fnv1.RunFunctionResponse,
    s: Schedule,
    identifier: str,
    region: str,
    tags: dict[str, str],
    instance_arn: str | None,
) -> None:
    """The AWS Backup vault, plan and selection of an hourly schedule; the selection names the
    instance by its ARN (None until AWS created the instance)."""
    if s.schedule != "hourly":
        return
    m, inp = r.mode, r.input
    name = names(identifier)
    vault = inp.backup.hourly.vaultName or name
    provider = m.aws_provider_config_ref(inp.aws.providerConfigName)
    if not inp.backup.hourly.vaultName:
        resources.set_desired(
            rsp,
            VAULT,
            {
                "apiVersion": m.api("backup", "v1beta1"),
                "kind": "Vault",
                "metadata": {"annotations": {naming.EXTERNAL_NAME: vault}},
                # Recovery points outlive the instance: never delete the vault with it.
                "spec": {
                    "forProvider": {"region": region, "tags": tags},
                    "providerConfigRef": provider,
                    **m.retain(),
                },
            },
            r.observed.ready(VAULT),
        )
    resources.set_desired(
        rsp,
        PLAN,
        {
            "apiVersion": m.api("backup", "v1beta1" if m.namespaced else "v1beta2"),
            "kind": "Plan",
            "spec": {
                "forProvider": {
                    "name": name,
                    "region": region,
                    "rule": [
                        {
                            "ruleName": "hourly",
                            "targetVaultName": vault,
                            "schedule": HOURLY_CRON,
                            "scheduleExpressionTimezone": "Etc/UTC",
                            "startWindow": 60,
                            "completionWindow": 180,
                            "enableContinuousBackup": True,
                            "lifecycle": {"deleteAfter": s.retention_days},
                        }
                    ],
                    "tags": tags,
                },
                "providerConfigRef": provider,
            },
        },
        r.observed.ready(PLAN),
    )
    arn = instance_arn
    if arn or SELECTION in r.observed:
        arn = arn or dig(r.observed[SELECTION], "spec", "forProvider", "resources", default=[""])[0]
        resources.set_desired(
            rsp,
            SELECTION,
            {
                "apiVersion": m.api("backup", "v1beta1"),
                "kind": "Selection",
                "spec": {
                    "forProvider": {
                        "name": name,
                        "region": region,
                        "iamRoleArn": selection_role(r),
                        "planIdSelector": {"matchControllerRef": True},
                        "resources": [arn],
                    },
                    "providerConfigRef": provider,
                },
            },
            r.observed.ready(SELECTION),
        )


def selection_role(r: Request) -> str | None:
    """The IAM role of the selection: the Input's for a new one; once AWS created it, the one it
    was created with. Every argument of a selection is ForceNew (Terraform aws_backup_selection
    has no update): a role the platform rotates in its Input would be a replace diff that upjet
    refuses on every hourly instance. A selection AWS has not created yet takes the Input's, so
    that a corrected role ARN fixes a failing create."""
    observed = r.observed.get(SELECTION)
    role = dig(observed, "spec", "forProvider", "iamRoleArn")
    if dig(observed, "status", "atProvider", "id") and isinstance(role, str) and role:
        return role
    return r.input.backup.hourly.iamRoleArn


def status(s: Schedule, latest_restorable_time: str | None) -> BackupStatus:
    return BackupStatus.reported(
        schedule=s.schedule,
        retentionDays=s.rds_retention,
        window=s.window,
        pointInTimeRestore="Unavailable" if s.schedule == "none" else "Available",
        latestRestorableTime=latest_restorable_time if s.schedule != "none" else None,
    )

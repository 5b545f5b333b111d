"""Restore: a NEW instance from a Backup, a snapshot ARN or a point in time (SPEC §1.5).

Pipeline: parse spec -> exactly one source -> once the new instance exists, use only what was
asked then (frozen: never re-validated against a moving window) -> else resolve and validate the
source -> compose the new instance like any instance, with its restore parameters -> status.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from crossplane.function import response
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import conditions, engines, inputs, instance, naming, refs, resources, specs
from function.conditions import Problem, Reason, Type
from function.request import Request
from function.resources import dig
from function.specs import (
    DB_NAME_PATTERN,
    Database,
    InstanceConfig,
    InstanceSpec,
    RestoreSource,
    RestoreSpec,
    RestoreStatus,
)

BACKUP_REQUIREMENT = "backup-ref"
RESTORE_MESSAGE_LIMIT = 1000


@dataclass
class Source:
    """Everything the new instance takes from its source."""

    engine: str
    version: str
    plan: str | None
    dbname: str | None
    storage: int
    params: dict
    status: dict = field(default_factory=dict)  # status.source
    storage_from_snapshot: bool = False  # a snapshot ARN does not tell its size


def run(r: Request, rsp: fnv1.RunFunctionResponse) -> None:
    observed = r.observed.get(instance.PRIMARY)
    # What the new instance was restored from, once AWS accepted the restore: known whatever the
    # spec says now. Before that, a refused create leaves the developer free to change the spec.
    created = frozen(observed) if observed is not None and accepted(observed) else None
    spec, err, partial = specs.parse(RestoreSpec, r.spec)
    if err is not None:
        problems = [
            Problem(m.split(":", 1)[0], Reason.SPEC_INVALID, f"cannot restore {r.described()}: {m}")
            for m in inputs.describe_errors(err, "spec")
        ]
        # The rest of the spec is checked too, so that every problem shows at once.
        more = specs.unaffected(validate_source_choice(r, partial), problems) if partial else []
        return _stop(r, rsp, problems + more, created)
    assert spec is not None
    problems = validate_source_choice(r, spec)
    if problems:
        return _stop(r, rsp, problems, created)

    if created is not None:
        source = created
        # Nothing recorded (the record unreadable) is no known source to compare with.
        if source.status and source_changed(spec, source.status):
            conditions.warn(
                rsp,
                Reason.RESTORE_PARAMETERS_FROZEN,
                f"{r.described()}: the new instance exists; its source stays "
                f"{json.dumps(source.status, sort_keys=True)} whatever the spec says now",
            )
    else:
        found = resolve_source(r, rsp, spec)
        if isinstance(found, Problem):
            rsp.conditions.append(
                conditions.condition(Type.SOURCE_READY, False, found.reason, found.message)
            )
            if found.reason in conditions.WAITING:
                if found.reason != Reason.RESTORE_SOURCE_RESOLVING:
                    conditions.warn(rsp, found.reason, found.message)
                # The rest of the spec (plan, version, storage) is checked against the source.
                rsp.conditions.append(
                    conditions.condition(
                        Type.SPEC_VALID,
                        None,
                        Reason.SOURCE_PENDING,
                        "the rest of the spec is checked once the source is known",
                    )
                )
                resources.keep_observed(rsp, r.observed)
                instance.protect(r, rsp, add=False)
                return
            return _stop(r, rsp, [found])
        source = found
    if source.engine not in engines.ENGINES:
        # A Backup's status without an engine (written by hand, or by an older version), or a
        # source whose records were edited: nothing says what to create.
        problem = Problem(
            "spec.serviceInstanceType",
            Reason.RESTORE_SOURCE_INVALID,
            f'cannot restore {r.described()}: the source\'s engine "{source.engine}" is not one '
            f"the function runs; allowed: a source of engine {', '.join(engines.ENGINES)} "
            "(spec.serviceInstanceType names it where the source does not)",
        )
        return _stop(r, rsp, [problem])
    refusal = refused(observed) if observed is not None and not accepted(observed) else None
    if refusal is not None:
        # The provider's words, as for extensions: never a credential, never a whole page (AWS's
        # reason comes after upjet's ~250 characters of context, so more of it is kept).
        refusal = conditions.scrub(refusal, instance.secrets(r), limit=RESTORE_MESSAGE_LIMIT)
    if refusal is None:
        rsp.conditions.append(
            conditions.condition(Type.SOURCE_READY, True, Reason.SOURCE_AVAILABLE)
        )
    else:
        # Nothing exists in AWS yet: the developer may change the spec (a later restoreTime, more
        # storage), and the next create uses it. Only an accepted restore is frozen.
        message = (
            f"cannot restore {r.described()}: AWS refused to create the restored instance: "
            f"{refusal}; fix the spec (for example spec.pointInTime.restoreTime) and the restore "
            "is tried again"
        )
        rsp.conditions.append(
            conditions.condition(Type.SOURCE_READY, False, Reason.RESTORE_REFUSED, message)
        )
        conditions.warn(rsp, Reason.RESTORE_REFUSED, message)

    problems = []
    if spec.serviceInstanceType and spec.serviceInstanceType != source.engine:
        problems.append(
            Problem(
                "spec.serviceInstanceType",
                Reason.INSTANCE_TYPE_MISMATCH,
                f"cannot restore {r.described()}: spec.serviceInstanceType "
                f'"{spec.serviceInstanceType}" does not match the source, which is '
                f'{source.engine}; allowed: "{source.engine}" or unset',
            )
        )
    config = spec.config or InstanceConfig()
    asked = config.database.name if config.database else None
    if not source.dbname and not asked:
        # RDS ignores DBName on a snapshot restore: the database is the one inside the snapshot,
        # and bindings must get credentials for a database that exists.
        where = "spec.backupArn" if spec.backupArn else "the source"
        problems.append(
            Problem(
                "spec.config.database.name",
                Reason.RESTORE_SOURCE_INVALID,
                f"cannot restore {r.described()}: spec.config.database.name is required: "
                f"{where} does not tell the name of the database inside the snapshot, and RDS "
                "restores the snapshot's database whatever name is asked for; allowed: the name "
                "of the database in the snapshot",
            )
        )
    if config.encryptedStorage is False:
        # RDS restores a snapshot with the snapshot's encryption; it cannot decrypt on a restore.
        problems.append(
            Problem(
                "spec.config.encryptedStorage",
                Reason.RESTORE_SOURCE_INVALID,
                f"cannot restore {r.described()}: spec.config.encryptedStorage false: a restore "
                "keeps the encryption of its source; allowed: true or unset",
            )
        )
    if source.dbname and asked and asked != source.dbname:
        problems.append(
            Problem(
                "spec.config.database.name",
                Reason.RESTORE_SOURCE_INVALID,
                f'cannot restore {r.described()}: spec.config.database.name "{asked}" differs '
                f'from the source\'s database "{source.dbname}"; '
                f'allowed: "{source.dbname}" or unset',
            )
        )
    plan = spec.plan or source.plan
    if plan is None:
        problems.append(
            Problem(
                "spec.plan",
                Reason.RESTORE_SOURCE_INVALID,
                f"cannot restore {r.described()}: spec.plan is required when the source does not "
                f"tell its plan; allowed: {', '.join(r.catalog.plan_names())}",
            )
        )
    dbname = source.dbname or asked
    inst_spec = InstanceSpec.model_construct(
        serviceVersion=source.version,
        plan=plan or "",
        config=config.model_copy(update={"database": Database(name=dbname) if dbname else None}),
        backup=spec.backup,
    )
    origin = instance.Origin(
        identifier(r),
        # A snapshot ARN does not tell its size: unless the developer gives one, RDS restores the
        # snapshot's own size, which the function reads back once the instance exists.
        data_storage=0 if source.storage_from_snapshot else source.storage,
        finish=restore_fields(source.params, {**source.status, "dbname": dbname}),
        database=dbname,
    )
    settings = instance.reconcile(
        r, rsp, source.engine, inst_spec if not problems else None, problems, origin
    )
    resources.set_status(rsp, _status(r, source, settings, dbname))


def _status(
    r: Request, source: Source, settings: instance.Settings | None, dbname: str | None
) -> RestoreStatus:
    """The new instance's status as any instance reports it, and what it was restored from."""
    running = instance.observed_status(r, source.engine, settings)
    # The snapshot's database: the new instance composes no dbName, the source tells it.
    fields = {**dict(running), "dbname": running.dbname or dbname}
    return RestoreStatus.reported(**fields, source=RestoreSource.reported(**source.status))


def identifier(r: Request) -> str:
    # A Restore may share its name with an instance in the namespace: its database must not.
    return naming.rds_identifier(r.mode.owner_namespace, r.mode.owner_name, "Restore")


# The database, its encryption, key and master user come from the snapshot: RDS ignores DBName on
# a restore, and these are ForceNew fields, so composing other values would be a permanent
# replace diff that blocks every later update.
FROM_SNAPSHOT = ("dbName", "storageEncrypted", "kmsKeyId", "username")


def restore_fields(params: dict, recorded: dict) -> Callable[[dict], None]:
    """What a restore adds to the new instance's body: the source's parameters instead of what
    the snapshot decides, and the source as asked for (frozen once AWS accepted it)."""

    def finish(body: dict) -> None:
        fp = body["spec"]["forProvider"]
        for key in FROM_SNAPSHOT:
            fp.pop(key, None)
        fp.update(params)
        annotations = body.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[naming.ANNOTATION_RESTORE_SOURCE] = json.dumps(recorded, sort_keys=True)

    return finish


def _stop(
    r: Request,
    rsp: fnv1.RunFunctionResponse,
    problems: list[Problem],
    created: Source | None = None,
) -> None:
    """Keep what exists; once the new instance exists, report it as it runs."""
    conditions.report_problems(rsp, problems)
    resources.keep_observed(rsp, r.observed)
    instance.protect(r, rsp, add=False)
    if created is not None and created.engine in engines.ENGINES:
        rsp.conditions.append(
            conditions.condition(Type.SOURCE_READY, True, Reason.SOURCE_AVAILABLE)
        )
        origin = instance.Origin(identifier(r), database=created.dbname)
        instance.report_kept(r, rsp, created.engine, origin)
        resources.set_status(rsp, _status(r, created, None, created.dbname))


def validate_source_choice(r: Request, spec: RestoreSpec) -> list[Problem]:
    out = []
    prefix = f"cannot restore {r.described()}"
    given = [n for n in ("backupRef", "backupArn", "pointInTime") if getattr(spec, n) is not None]
    if len(given) != 1:
        out.append(
            Problem(
                "spec",
                Reason.RESTORE_SOURCE_INVALID,
                f"{prefix}: exactly one source is needed, got "
                f"{', '.join(f'spec.{g}' for g in given) if given else 'none'}; allowed: one of "
                "spec.backupRef, spec.backupArn, spec.pointInTime",
            )
        )
    pit = spec.pointInTime
    if pit is not None and (pit.restoreTime is not None) == bool(pit.useLatestRestorableTime):
        out.append(
            Problem(
                "spec.pointInTime",
                Reason.RESTORE_SOURCE_INVALID,
                f"{prefix}: spec.pointInTime needs exactly one of restoreTime and "
                "useLatestRestorableTime: true",
            )
        )
    if spec.backupArn is not None:
        for field_name in ("serviceInstanceType", "plan"):
            if getattr(spec, field_name) is None:
                out.append(
                    Problem(
                        f"spec.{field_name}",
                        Reason.RESTORE_SOURCE_INVALID,
                        f"{prefix}: spec.{field_name} is required with spec.backupArn (a snapshot "
                        "ARN does not tell it)",
                    )
                )
    return out


def _region(r: Request, spec: RestoreSpec) -> str:
    return (spec.config and spec.config.region) or r.input.aws.region


def resolve_source(
    r: Request, rsp: fnv1.RunFunctionResponse, spec: RestoreSpec
) -> Source | Problem:
    if spec.backupRef is not None:
        return _from_backup(r, rsp, spec, spec.backupRef)
    if spec.backupArn is not None:
        return _from_arn(r, spec, spec.backupArn)
    return _from_point_in_time(r, rsp, spec)


def _from_backup(
    r: Request, rsp: fnv1.RunFunctionResponse, spec: RestoreSpec, name: str
) -> Source | Problem:
    m = r.mode
    if m.namespaced:
        response.require_resources(
            rsp,
            BACKUP_REQUIREMENT,
            refs.API_VERSION,
            "Backup",
            match_name=name,
            namespace=m.owner_namespace,
        )
    else:
        response.require_resources(
            rsp,
            BACKUP_REQUIREMENT,
            refs.API_VERSION,
            "XBackup",
            match_labels={naming.CLAIM_NAME: name, naming.CLAIM_NAMESPACE: m.owner_namespace},
        )
    prefix = f"cannot restore {r.described()}"
    items = r.required(BACKUP_REQUIREMENT)
    if items is None:
        return Problem(
            "spec.backupRef", Reason.RESTORE_SOURCE_RESOLVING, f'looking up Backup "{name}"'
        )
    if not items:
        return Problem(
            "spec.backupRef",
            Reason.BACKUP_NOT_FOUND,
            f'{prefix}: spec.backupRef "{name}": no Backup of that name in namespace '
            f'"{m.owner_namespace}"; allowed: the name of a Backup in this namespace '
            "(waiting for it)",
        )

    def text(key: str) -> str:
        return dig(items[0], "status", key, default="")

    snapshot = text("snapshotIdentifier")
    if text("phase") != "available" or not snapshot:
        return Problem(
            "spec.backupRef",
            Reason.BACKUP_NOT_AVAILABLE,
            f'{prefix}: Backup "{name}" is not available yet (snapshot state '
            f'"{text("phase") or "unknown"}"); waiting for it',
        )
    region = _region(r, spec)
    if text("region") and text("region") != region:
        return Problem(
            "spec.backupRef",
            Reason.RESTORE_REGION_MISMATCH,
            f'{prefix}: Backup "{name}" is in region "{text("region")}", the new instance would '
            f'be in "{region}"; allowed: set spec.config.region to "{text("region")}"',
        )
    storage = dig(items[0], "status", "allocatedStorage")
    return Source(
        engine=text("engine") or spec.serviceInstanceType or "",
        version=text("engineVersion"),
        plan=text("plan") or None,
        dbname=_db_name(text("dbname")),
        storage=int(storage) if isinstance(storage, int | float) else 0,
        params={"snapshotIdentifier": snapshot},
        status={"backupRef": name, "snapshotIdentifier": snapshot},
    )


def _from_arn(r: Request, spec: RestoreSpec, arn: str) -> Source | Problem:
    region = arn.split(":")[3]
    want = _region(r, spec)
    if region != want:
        return Problem(
            "spec.backupArn",
            Reason.RESTORE_REGION_MISMATCH,
            f'cannot restore {r.described()}: spec.backupArn is a snapshot in region "{region}", '
            f'the new instance would be in "{want}"; allowed: an ARN of region "{want}", or set '
            f'spec.config.region to "{region}"',
        )
    return Source(
        engine=spec.serviceInstanceType or "",
        version="",
        plan=spec.plan,
        dbname=None,
        storage=0,
        params={"snapshotIdentifier": arn},
        status={"backupArn": arn},
        storage_from_snapshot=True,
    )


def _time(text: str) -> datetime | None:
    """A time another object's status reports, or None where it is no time with a zone (the
    status of an earlier version, or edited by hand): no restore window can be drawn from it."""
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _from_point_in_time(
    r: Request, rsp: fnv1.RunFunctionResponse, spec: RestoreSpec
) -> Source | Problem:
    pit = spec.pointInTime
    assert pit is not None
    target = refs.resolve(
        r,
        rsp,
        pit.instanceRef,
        spec.serviceInstanceType,
        need_ready=False,
        kind=pit.instanceKind,
        field="spec.pointInTime.instanceRef",
    )
    if target.problem is not None:
        return target.problem
    assert target.instance is not None
    src = target.instance
    prefix = f"cannot restore {r.described()}"
    identifier = src.status("identifier", default="")
    schedule = src.status("backup", "schedule", default="") or None
    days = src.status("backup", "retentionDays")
    # RDS keeps at most 35 days of automated backups: a larger number is no history RDS has.
    retention = int(min(max(days, 0), 35)) if isinstance(days, int | float) else 0
    if schedule == "none" or (schedule is not None and not retention):
        return Problem(
            "spec.pointInTime.instanceRef",
            Reason.POINT_IN_TIME_UNAVAILABLE,
            f'{prefix}: {src.described} has no scheduled backups (spec.backup.schedule "none"), '
            "so it has no point-in-time history; allowed: restore from a Backup, or enable "
            "scheduled backups on the source first",
        )
    latest_text = src.status("backup", "latestRestorableTime", default="")
    latest = _time(latest_text)
    if not identifier or latest is None:
        return Problem(
            "spec.pointInTime.instanceRef",
            Reason.SOURCE_NOT_RESTORABLE_YET,
            f"{prefix}: {src.described} has no restorable time yet (waiting for RDS to report it)",
        )
    region = _region(r, spec)
    if src.status("region") and src.status("region") != region:
        return Problem(
            "spec.config.region",
            Reason.RESTORE_REGION_MISMATCH,
            f'{prefix}: {src.described} is in region "{src.status("region")}"; point-in-time '
            f'restores stay in the source\'s region; allowed: "{src.status("region")}"',
        )
    earliest = latest - timedelta(days=retention)
    params: dict = {"sourceDbInstanceIdentifier": identifier}
    status: dict = {"instanceRef": pit.instanceRef, "instanceIdentifier": identifier}
    if pit.restoreTime is not None:
        when = datetime.fromisoformat(pit.restoreTime)
        window = f"allowed: {_rfc3339(earliest)} .. {_rfc3339(latest)} (UTC)"
        if when > latest:
            return Problem(
                "spec.pointInTime.restoreTime",
                Reason.RESTORE_WINDOW_INVALID,
                f'{prefix}: spec.pointInTime.restoreTime "{pit.restoreTime}" is after the latest '
                f"restorable time of {src.described}; {window}",
            )
        if when < earliest:
            return Problem(
                "spec.pointInTime.restoreTime",
                Reason.RESTORE_WINDOW_INVALID,
                f'{prefix}: spec.pointInTime.restoreTime "{pit.restoreTime}" is before the '
                f"{retention}-day retention window of {src.described}; {window}",
            )
        params["restoreTime"] = status["restoreTime"] = _rfc3339(when)
    else:
        params["useLatestRestorableTime"] = status["useLatestRestorableTime"] = True
    storage = src.status("allocatedStorage")
    return Source(
        engine=src.engine,
        version=src.status("version", default=""),
        plan=src.status("plan", default="") or None,
        dbname=_db_name(src.status("dbname")),
        storage=int(storage) if isinstance(storage, int | float) else 0,
        params={"restoreToPointInTime": params},
        status=status,
    )


def accepted(observed: dict) -> bool:
    """AWS accepted the restore: the new instance exists and has its DBI resource id."""
    return instance.created(observed)


def refused(observed: dict) -> str | None:
    """The provider's message when its create call failed (before AWS accepted the restore)."""
    for c in dig(observed, "status", "conditions", default=[]) or []:
        if not isinstance(c, dict) or c.get("status") != "False":
            continue
        if (c.get("type"), c.get("reason")) in (
            ("Synced", "ReconcileError"),
            ("LastAsyncOperation", "ApplyFailure"),
        ) and c.get("message"):
            return str(c["message"])
    return None


def frozen(observed: dict) -> Source:
    """The source exactly as it was asked for when the new instance was created."""
    fp = dig(observed, "spec", "forProvider", default={}) or {}
    try:
        recorded = json.loads(
            dig(observed, "metadata", "annotations", naming.ANNOTATION_RESTORE_SOURCE, default="{}")
        )
    except ValueError:
        recorded = None
    if not isinstance(recorded, dict):
        # Not the function's record (edited by hand): the source reads as unknown. The instance
        # exists, so it is kept whatever; the record is written again with what is composed.
        recorded = {}
    # Without a record, the database AWS reports the instance holds (the snapshot's).
    dbname = _db_name(recorded.pop("dbname", None)) or _db_name(
        dig(observed, "status", "atProvider", "dbName")
    )
    # status.source shows what RestoreSource declares: a key recorded by another version of the
    # function (after a rollback) would be pruned by the API server, and must not fail here.
    recorded = {k: v for k, v in recorded.items() if k in RestoreSource.model_fields}
    params = {k: fp[k] for k in ("snapshotIdentifier", "restoreToPointInTime") if k in fp}
    return Source(
        engine=dig(fp, "tags", naming.TAG_ENGINE, default="") or _engine_name(fp.get("engine")),
        version=dig(fp, "engineVersion", default=""),
        plan=dig(fp, "tags", naming.TAG_PLAN, default="") or None,
        dbname=dbname,
        storage=0,
        params=params,
        status=recorded,
    )


def _db_name(value: object) -> str | None:
    """The database a source names, or None (unknown) where that is no name an instance can
    have (a record or status edited by hand): the developer is then asked to name it."""
    return value if isinstance(value, str) and re.fullmatch(DB_NAME_PATTERN, value) else None


def _engine_name(rds_engine: object) -> str:
    found = engines.of_rds(rds_engine) if isinstance(rds_engine, str) else None
    return found.name if found else ""


def source_changed(spec: RestoreSpec, recorded: dict) -> bool:
    asked: dict = {}
    if spec.backupRef:
        asked["backupRef"] = spec.backupRef
    if spec.backupArn:
        asked["backupArn"] = spec.backupArn
    if spec.pointInTime:
        asked["instanceRef"] = spec.pointInTime.instanceRef
    return any(recorded.get(k) != v for k, v in asked.items())

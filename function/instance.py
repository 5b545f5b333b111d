"""PostgresqlInstance, MysqlInstance, MariadbInstance: validate, compose, report status.

Pipeline: parse spec -> validate against catalog, platform and what exists -> resolve settings
-> compose rds Instance, read replicas, the SQL ProviderConfig -> readiness and status.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeGuard

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import (
    catalog,
    conditions,
    engines,
    extension_lifecycle,
    extensions,
    inputs,
    naming,
    parameters,
    resources,
    schedule,
    specs,
    sql,
)
from function.conditions import Cause, Problem, Reason
from function.request import Request
from function.resources import dig
from function.specs import DEFAULT_DB_NAME, InstanceSpec, InstanceStatus

# Names of the composed resources inside the composition.
PRIMARY = "instance"
SQL_PROVIDER_CONFIG = "sql-providerconfig"
DELETION_PROTECTION = "deletion-protection"
REPLICA_PREFIX = "replica-"
PARAMETER_GROUP_PREFIX = "parameters-"  # + the family, e.g. parameters-postgres17

MASTER_USERNAME = "dbadmin"


@dataclass(frozen=True)
class Settings:
    """Everything the composed resources need, resolved from spec, plan, platform and observed."""

    engine: str
    identifier: str
    version: str
    major_upgrade: bool
    plan: catalog.Plan
    storage: int
    max_storage: int
    multi_az: bool
    replicas: int
    region: str
    db_name: str
    encrypted: bool
    public: bool
    backup: schedule.Schedule
    tags: dict[str, str]
    # Normalized parameter values (parameters.validate) and the extensions to create; an empty
    # version (left to AWS until it reports one) composes no parameter group.
    parameters: dict[str, str]
    extensions: tuple[str, ...]
    # Static parameters waiting for the next reboot (this answer's changes and earlier ones no
    # reboot has applied yet), and their record for the primary's annotation.
    pending_reboot: tuple[str, ...] = ()
    pending_record: str = ""
    # The spec.serviceVersion AWS upgraded the instance past on its own (upgraded_by_aws).
    upgraded_from: str = ""


@dataclass(frozen=True)
class Origin:
    """What a new database starts from besides its spec: by default an empty database. A kind
    that creates databases from existing data (restore.py) describes its data here."""

    identifier: str
    # GiB the data needs: None for an empty database; 0 when only AWS knows (it creates the
    # volume at the data's own size unless the spec asks for one).
    data_storage: int | None = None
    # Adds to the primary's body what the data decides (fields, annotations).
    finish: Callable[[dict], None] | None = None
    # The database the data holds, when the primary composes no dbName.
    database: str | None = None


def empty(r: Request) -> Origin:
    return Origin(naming.rds_identifier(r.mode.owner_namespace, r.mode.owner_name))


def run(r: Request, rsp: fnv1.RunFunctionResponse) -> None:
    of_kind = engines.of_kind(r.kind)
    assert of_kind is not None, "fn.py routes only instance kinds here"
    engine = of_kind.name
    spec, problems = parse_spec(r)
    settings = reconcile(r, rsp, engine, spec, problems, empty(r))
    resources.set_status(rsp, observed_status(r, engine, settings))


def reconcile(
    r: Request,
    rsp: fnv1.RunFunctionResponse,
    engine: str,
    spec: InstanceSpec | None,
    problems: list[Problem],
    origin: Origin,
) -> Settings | None:
    """Validate, then compose the instance; on any problem keep what exists and return None."""
    observed = r.observed.get(PRIMARY)
    if spec is not None:
        # With format problems spec is the rest of it: what depends on a broken field is skipped.
        problems = problems + specs.unaffected(validate(spec, engine, r, observed), problems)
    if problems:
        conditions.report_problems(rsp, problems)
        resources.keep_observed(rsp, r.observed)
        protect(r, rsp, add=False)
        report_kept(r, rsp, engine, origin)
        return None
    assert spec is not None
    settings = resolve(spec, engine, r, observed, rsp, origin)
    conditions.report_valid(rsp)
    compose(r, rsp, settings, origin)
    protect(r, rsp)
    return settings


def protect(r: Request, rsp: fnv1.RunFunctionResponse, add: bool = True) -> None:
    """While the platform protects its databases, a Usage (with a reason, nothing using it)
    holds the composite itself: Crossplane's webhook refuses its deletion, with that reason.
    RDS refuses to delete a protected instance anyway, but deleting the composite would still
    delete everything else it composed (read replicas, the AWS Backup plan and selection of a
    database that lives on) and leave the primary in Deleting, managed by nothing, beyond the
    reach of the platform's Input. Once the platform lifts protection the Usage goes (on a
    refused spec too), and the composite can be deleted; a refused deletion is not replayed.
    Nothing is composed for a composite that has no database in AWS (yet): a Restore AWS
    refused stays deletable. A refused spec (add=False) creates nothing: it keeps the Usage as
    it exists, and lets it go once protection is lifted."""
    if not r.input.safety.deletionProtection:
        if DELETION_PROTECTION in rsp.desired.resources:  # kept with what was observed
            del rsp.desired.resources[DELETION_PROTECTION]
        return
    if DELETION_PROTECTION in rsp.desired.resources:  # kept as it exists
        return
    # Once it exists, whatever the primary reports meanwhile (a status that cannot be read must
    # not lift the protection): only the platform lifts it.
    exists = DELETION_PROTECTION in r.observed
    if not add:
        if exists:
            resources.keep(rsp, DELETION_PROTECTION, r.observed[DELETION_PROTECTION])
        return
    if not (exists or created(r.observed.get(PRIMARY))):
        return
    of = {
        "apiVersion": r.composite.get("apiVersion"),
        "kind": r.kind,
        "resourceRef": {"name": r.name},
    }
    reason = (
        f"{r.described()} is protected from deletion by the platform; it can be deleted once "
        "the platform lifts protection (function input safety.deletionProtection: false)"
    )
    body = {
        "apiVersion": r.mode.usage_api,
        "kind": "Usage",
        "metadata": {},
        "spec": {"of": of, "reason": reason},
    }
    resources.set_desired(rsp, DELETION_PROTECTION, body, True)


def parse_spec(r: Request) -> tuple[InstanceSpec | None, list[Problem]]:
    """The spec, or with its type/format problems the rest of it, so all problems show at once."""
    spec, err, partial = specs.parse(InstanceSpec, r.spec)
    if err is None:
        return spec, []
    return partial, [
        Problem(m.split(":", 1)[0], Reason.SPEC_INVALID, f"cannot compose {r.described()}: {m}")
        for m in inputs.describe_errors(err, "spec")
    ]


def validate(spec: InstanceSpec, engine: str, r: Request, observed: dict | None) -> list[Problem]:
    """Every problem with the spec at once; an empty list means it can be composed."""
    problems: list[Problem] = []

    def refuse(field: str, reason: Reason, cause: str) -> None:
        problems.append(Problem(field, reason, f"cannot compose {r.described()}: {cause}"))

    cat, inp = r.catalog, r.input
    config = spec.config
    plan = cat.plan(spec.plan)
    if plan is None and spec.plan:  # "" stands for a plan that already has a format problem
        refuse(
            "spec.plan",
            Reason.PLAN_NOT_OFFERED,
            f'spec.plan "{spec.plan}" is not offered; allowed: {", ".join(cat.plan_names())}',
        )

    running = dig(observed, "spec", "forProvider", "engineVersion")
    if upgraded_by_aws(spec.serviceVersion, observed):
        running = spec.serviceVersion  # not a downgrade: AWS moved past it (resolve says so)
    for field, reason, cause in validate_version(spec.serviceVersion, engine, cat, running):
        refuse(field, reason, cause)

    replicas = _replicas(spec)
    if plan is not None and replicas is not None:
        if plan.maxReplicas == 0 and replicas > 0:
            refuse(
                "spec.config.compute.replicas.count",
                Reason.REPLICAS_NOT_ALLOWED,
                f'spec.config.compute.replicas.count {replicas}: plan "{plan.name}" has no read '
                f"replicas; allowed: a cluster-* plan, or remove spec.config.compute.replicas",
            )
        elif replicas > plan.maxReplicas:
            refuse(
                "spec.config.compute.replicas.count",
                Reason.REPLICAS_OUT_OF_RANGE,
                f'spec.config.compute.replicas.count {replicas} exceeds plan "{plan.name}"; '
                f"allowed: 0..{plan.maxReplicas}",
            )

    storage = config.allocatedStorage if config else None
    if (
        plan is not None
        and storage is not None
        and not (plan.storageGiB <= storage <= plan.maxStorageGiB)
    ):
        refuse(
            "spec.config.allocatedStorage",
            Reason.STORAGE_OUT_OF_RANGE,
            f'spec.config.allocatedStorage {storage} is outside plan "{plan.name}"; '
            f"allowed: {plan.storageGiB}..{plan.maxStorageGiB} (GiB)",
        )
    elif plan is not None and storage is not None:
        # RDS grows storage by at least 10% and rounds a smaller growth up (ModifyDBInstance
        # AllocatedStorage): the instance would run more than its spec says, and every
        # reconcile would warn that storage never shrinks.
        have = _number(dig(observed, "status", "atProvider", "allocatedStorage"))
        least = -(-have * 11 // 10)  # ceil(have * 1.1) in whole numbers (100 * 1.1 > 110)
        if have < storage < least:
            refuse(
                "spec.config.allocatedStorage",
                Reason.STORAGE_OUT_OF_RANGE,
                f"spec.config.allocatedStorage {storage} grows the running {have} GiB by less "
                f"than the 10% RDS grows storage by (it would make it {least}); allowed: "
                f"{have}, or {least}..{max(least, plan.maxStorageGiB)} (GiB)",
            )

    if config and config.publiclyAccessible and not inp.safety.allowPublicAccess:
        refuse(
            "spec.config.publiclyAccessible",
            Reason.PUBLIC_ACCESS_REFUSED,
            "spec.config.publiclyAccessible true is not allowed on this platform; "
            "allowed: false (reach the database from inside the cluster's network)",
        )
    if config and config.encryptedStorage is False and not inp.safety.allowUnencrypted:
        refuse(
            "spec.config.encryptedStorage",
            Reason.UNENCRYPTED_REFUSED,
            "spec.config.encryptedStorage false is not allowed on this platform; allowed: true",
        )

    for field, reason, cause in validate_tags((config.tags or {}) if config else {}, inp.tags):
        refuse(field, reason, cause)

    version_ok = not any(p.field == "spec.serviceVersion" for p in problems)
    version = composed_version(spec, observed)
    if version_ok and version:
        _, found = database_parameters(spec, engine, cat, version)
        for field, reason, cause in found:
            refuse(field, reason, cause)

    if observed is not None:
        for field, want, running in _immutables(spec, r, observed):
            if running is not None and want != running:
                refuse(
                    field,
                    Reason.IMMUTABLE_FIELD_CHANGED,
                    f'{field} cannot change on an existing database (is "{running}", asked '
                    f'"{want}"); allowed: "{running}", or restore into a new instance',
                )

    wanted_replicas = replicas if replicas is not None else (plan.replicas if plan else 0)
    for field, reason, cause in schedule.validate(spec.backup, inp, wanted_replicas):
        refuse(field, reason, cause)
    if not any(p.field == "spec.backup.window" for p in problems):
        for field, reason, cause in schedule.validate_against_running(spec.backup, inp, observed):
            refuse(field, reason, cause)
    return problems


def composed_version(spec: InstanceSpec, observed: dict | None) -> str:
    """The version the instance is composed with. A spec may leave it to AWS (data that tells
    its own version): once AWS reports it, that one (so the instance gets its family's parameter
    group, TLS enforced, and the developer's parameters are checked against it); "" before. The
    version AWS upgraded the instance to on its own, when it moved past the spec's."""
    return (
        upgraded_by_aws(spec.serviceVersion, observed)
        or spec.serviceVersion
        or running_version(observed)
    )


def running_version(observed: dict | None) -> str:
    """The version the existing instance was composed with, else the one AWS reports; ""."""
    running = dig(observed, "spec", "forProvider", "engineVersion") or dig(
        observed, "status", "atProvider", "engineVersionActual"
    )
    return running if isinstance(running, str) else ""


def upgraded_by_aws(asked: str, observed: dict | None) -> str | None:
    """The version AWS runs when it upgraded the instance past `asked` on its own, else None.

    AWS upgrades a deprecated minor version itself, in the maintenance window, whatever
    autoMinorVersionUpgrade says. Terraform then reads the new version, and composing `asked`
    would be a downgrade RDS refuses ("Cannot upgrade ... from 16.9 to 16.8"), failing every
    later update. It is AWS's upgrade, not a downgrade the developer wrote, when `asked` is what
    the function composed (or recorded as upgraded past) and AWS runs a higher version."""
    actual = dig(observed, "status", "atProvider", "engineVersionActual")
    if not asked or not isinstance(actual, str) or not actual:
        return None
    if catalog.version_key(actual) <= catalog.version_key(asked):
        return None
    composed = dig(observed, "spec", "forProvider", "engineVersion")
    recorded = dig(observed, "metadata", "annotations", naming.ANNOTATION_UPGRADED_BY_AWS)
    return actual if asked in (composed, recorded) else None


def database_parameters(
    spec: InstanceSpec, engine: str, cat: catalog.Catalog, version: str
) -> tuple[dict[str, str], list[Cause]]:
    """The normalized parameters (with what the extensions need) for `version`, and every
    problem with the developer's parameters and extensions, as (field, reason, cause)."""
    config = spec.config
    asked = (config.parameters or {}) if config else {}
    wanted = list((config.extensions or []) if config else [])
    major = engines.get(engine).major(version)
    normalized, problems = parameters.validate(engine, major, asked, cat.parameters or None)
    if wanted and not engines.get(engine).extensions:
        problems.append(
            (
                extensions.FIELD,
                Reason.EXTENSIONS_NOT_OFFERED,
                f"{extensions.FIELD} is for PostgreSQL; allowed: none on {engine}",
            )
        )
    elif wanted:
        problems += extensions.validate(major, wanted, normalized, cat.extensions or None)
        if not problems:
            needed = extensions.required_parameters(wanted, _db_name(spec), cat.extensions or None)
            normalized = {**needed, **normalized}
    return normalized, problems


def validate_tags(tags: dict[str, str], platform: dict[str, str]) -> list[Cause]:
    """(field, reason, cause) for tags AWS would refuse, or that would replace a platform tag.

    AWS allows 50 tags per resource: the function's own and the platform's come first."""
    out = []
    for key in sorted(tags):
        if key in platform:
            out.append(
                (
                    f"spec.config.tags.{key}",
                    Reason.TAG_RESERVED,
                    f'spec.config.tags key "{key}" is set by the platform (input tags) and is '
                    "never overridden; allowed: another key",
                )
            )
    limit = max(0, inputs.FREE_TAGS - len(platform))
    for cause in inputs.tag_problems(tags, limit):
        if cause.startswith("has "):
            cause += (
                f" ({len(platform)} platform tag(s), {inputs.OWN_TAGS} of the function and "
                f"{inputs.PROVIDER_TAGS} of the AWS provider count against AWS's "
                f"{inputs.MAX_TAGS})"
            )
        reason = Reason.TAG_RESERVED if " is reserved;" in cause else Reason.SPEC_INVALID
        out.append(("spec.config.tags", reason, f"spec.config.tags {cause}"))
    return out


def validate_version(
    version: str, engine: str, cat: catalog.Catalog, running: object
) -> list[Cause]:
    """(field, reason, cause) for a version that is not offered, lower, or a forbidden major."""
    if not version:  # left to AWS (data that tells its own version)
        return []
    field = "spec.serviceVersion"
    offered = cat.version(engine, version)
    if offered is None and version != running:
        return [
            (
                field,
                Reason.VERSION_NOT_OFFERED,
                f'spec.serviceVersion "{version}" is not offered for {engine}; '
                f"allowed: {', '.join(cat.version_names(engine))}",
            )
        ]
    if not isinstance(running, str) or version == running:
        return []
    if catalog.version_key(version) < catalog.version_key(running):
        return [
            (
                field,
                Reason.VERSION_DOWNGRADE_REFUSED,
                f'spec.serviceVersion "{version}" is lower than the running version '
                f'"{running}"; allowed: "{running}" or a higher offered version',
            )
        ]
    major = engines.get(engine).major
    old_major = major(running)
    if offered is None or old_major == major(version):
        return []
    if old_major in offered.majorUpgradeFrom:
        return []
    allowed = [
        v
        for v in cat.version_names(engine)
        if major(v) == old_major or old_major in cat.versions[engine][v].majorUpgradeFrom
    ]
    return [
        (
            field,
            Reason.MAJOR_UPGRADE_NOT_ALLOWED,
            f'spec.serviceVersion "{version}": a major upgrade from "{running}" is not '
            f"allowed; allowed: {', '.join(allowed)}",
        )
    ]


def _replicas(spec: InstanceSpec) -> int | None:
    """The replica count the spec asks for, None when it leaves it to the plan."""
    c = spec.config
    return c.compute.replicas.count if c and c.compute and c.compute.replicas else None


def _immutables(spec: InstanceSpec, r: Request, observed: dict) -> list[tuple[str, object, object]]:
    fp = dig(observed, "spec", "forProvider", default={})
    config = spec.config
    return [
        ("spec.config.region", _region(spec, r), fp.get("region")),
        ("spec.config.database.name", _db_name(spec), fp.get("dbName")),
        (
            "spec.config.encryptedStorage",
            not (config and config.encryptedStorage is False),
            fp.get("storageEncrypted"),
        ),
    ]


def _region(spec: InstanceSpec, r: Request) -> str:
    """The spec's region; else, once the primary exists, the one it was composed with: a
    database cannot move, so a default region the platform changes later is for new databases
    (as the Input's KMS key); else the platform's default. Not only once AWS reports it created:
    between the create call and the first observation, another region would be a second
    database, the first one orphaned."""
    if spec.config and spec.config.region:
        return spec.config.region
    running = dig(r.observed.get(PRIMARY), "spec", "forProvider", "region", default="")
    return running or r.input.aws.region


def _db_name(spec: InstanceSpec) -> str:
    c = spec.config
    return (c and c.database and c.database.name) or DEFAULT_DB_NAME


def resolve(
    spec: InstanceSpec,
    engine: str,
    r: Request,
    observed: dict | None,
    rsp: fnv1.RunFunctionResponse,
    origin: Origin,
) -> Settings:
    cat, inp, config = r.catalog, r.input, spec.config
    plan = cat.plan(spec.plan)
    assert plan is not None
    version = composed_version(spec, observed)
    running = running_version(observed)
    # composed_version takes the spec's version unless AWS upgraded past it.
    upgraded_from = spec.serviceVersion if version != spec.serviceVersion else ""
    if upgraded_from:
        conditions.warn(
            rsp,
            Reason.VERSION_UPGRADED_BY_AWS,
            f"{r.described()}: AWS upgraded the instance from spec.serviceVersion "
            f'"{upgraded_from}" to "{version}" on its own (a required minor upgrade) and cannot '
            f'go back: it is composed with "{version}"; allowed: set spec.serviceVersion to '
            f'"{version}" or higher',
        )
    elif version and cat.version(engine, version) is None:
        conditions.warn(
            rsp,
            Reason.VERSION_NO_LONGER_OFFERED,
            f'{r.described()}: spec.serviceVersion "{spec.serviceVersion}" is no longer offered '
            f"for {engine}; it keeps running, plan an upgrade to one of: "
            f"{', '.join(cat.version_names(engine))}",
        )

    asked_storage = config.allocatedStorage if config else None
    storage = max(asked_storage or plan.storageGiB, origin.data_storage or 0)
    # Never shrink: RDS cannot, and autoscaling may have grown the volume beyond the spec.
    have = max(
        _number(dig(observed, "status", "atProvider", "allocatedStorage")),
        _number(dig(observed, "spec", "forProvider", "allocatedStorage")),
    )
    # An instance made from existing data has that data's size: only a smaller size the
    # developer asked for is worth a warning, not the plan's default.
    if have > storage and (origin.data_storage is None or asked_storage):
        conditions.warn(
            rsp,
            Reason.STORAGE_SHRINK_KEPT,
            f"{r.described()}: storage stays at {have} GiB, larger than the {storage} GiB asked "
            f'for by plan "{plan.name}" or spec.config.allocatedStorage; storage never shrinks',
        )
    storage = max(storage, have)
    if origin.data_storage == 0 and not asked_storage and not have:
        storage = 0  # only AWS knows the data's size before it created the volume: RDS decides
    # RDS wants the autoscaling ceiling at least 10% above the allocated size, and never above
    # its largest volume: a volume within 10% of that has no room to grow (0: no autoscaling).
    ceiling = max(plan.maxStorageGiB, math.ceil(storage * 1.1))
    max_storage = ceiling if ceiling <= inputs.RDS_MAX_STORAGE_GIB else 0

    user_tags = dict(config.tags or {}) if config else {}
    tags = {
        **inp.tags,
        **user_tags,
        naming.TAG_NAMESPACE: r.mode.owner_namespace,
        naming.TAG_NAME: r.mode.owner_name,
        naming.TAG_PLAN: plan.name,
        naming.TAG_ENGINE: engine,
    }
    settings = Settings(
        engine=engine,
        identifier=origin.identifier,
        version=version,
        major_upgrade=bool(running)
        and bool(version)
        and engines.get(engine).major(running) != engines.get(engine).major(version),
        plan=plan,
        storage=storage,
        max_storage=max_storage,
        multi_az=config.multiAZ if config and config.multiAZ is not None else plan.multiAZ,
        replicas=plan.replicas if (asked_replicas := _replicas(spec)) is None else asked_replicas,
        region=_region(spec, r),
        db_name=_db_name(spec),
        encrypted=not (config and config.encryptedStorage is False),
        public=bool(config and config.publiclyAccessible),
        backup=schedule.resolve(spec.backup, inp),
        tags={k: v for k, v in tags.items() if v},
        parameters=database_parameters(spec, engine, cat, version)[0] if version else {},
        extensions=tuple(config.extensions or ()) if config and version else (),
        upgraded_from=upgraded_from,
    )
    pending, since = pending_reboot(r, settings)
    return replace(
        settings,
        pending_reboot=tuple(pending),
        pending_record=pending_reboot_record(pending, since) if pending else "",
    )


def _is_number(value: object) -> TypeGuard[int | float]:
    """A finite number (a provider's report read from JSON: an int may come as a float)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: object) -> int:
    return int(value) if _is_number(value) else 0


def compose(r: Request, rsp: fnv1.RunFunctionResponse, s: Settings, origin: Origin) -> None:
    body = compose_instance(r, s)
    if origin.finish is not None:
        origin.finish(body)
    resources.set_desired(rsp, PRIMARY, body, ready=r.observed.ready(PRIMARY))
    # CreateDBInstanceReadReplica fails until the primary is available: compose replicas once
    # AWS reports it so (Ready stays True while it is modifying or backing up, so Ready is not
    # enough); a replica that exists is kept whatever the primary's state.
    primary_available = (
        dig(r.observed.get(PRIMARY), "status", "atProvider", "status") == "available"
    )
    for i in range(1, s.replicas + 1):
        name = f"{REPLICA_PREFIX}{i}"
        if primary_available or name in r.observed:
            resources.set_desired(rsp, name, compose_replica(r, s, i), r.observed.ready(name))
    # A ProviderConfig has no Ready condition: it is usable as soon as it exists.
    config = sql.compose_provider_config(
        r.mode, s.engine, s.identifier, s.db_name, r.input.sqlSslMode
    )
    resources.set_desired(rsp, SQL_PROVIDER_CONFIG, config, True)
    # The group roles need a reachable server; once they exist they are kept whatever happens.
    if engines.get(s.engine).group_roles and (
        r.observed.ready(PRIMARY) or any(n in r.observed for n in sql.GROUP_RESOURCES)
    ):
        # Existing data (a snapshot) keeps its own master user, which AWS reports.
        master = dig(r.observed.get(PRIMARY), "status", "atProvider", "username")
        groups = sql.compose_groups_serialized(
            r.mode,
            naming.sql_provider_config(s.identifier),
            s.db_name,
            s.identifier,
            master if isinstance(master, str) and master else MASTER_USERNAME,
        )
        for name, encoded in groups:
            resources.set_desired_serialized(rsp, name, encoded, r.observed.ready(name))
    arn = dig(r.observed.get(PRIMARY), "status", "atProvider", "arn")
    schedule.compose(r, rsp, s.backup, s.identifier, s.region, s.tags, arn)
    compose_parameter_groups(r, rsp, s)
    if s.backup.schedule != "hourly" and retention_held(r, s):
        running = dig(r.observed.get(PRIMARY), "status", "atProvider", "backupRetentionPeriod")
        conditions.warn(
            rsp,
            Reason.BACKUP_RETENTION_HELD,
            f"{r.described()}: RDS keeps {int(running)} days of automated backups: AWS Backup's "
            "continuous backup still holds the retention after hourly backups ended, and RDS "
            f"refuses another value until AWS releases it; {s.backup.rds_retention} applies then",
        )
    if engines.get(s.engine).extensions:
        # Extensions need a reachable server, like the group roles; CREATE EXTENSION as the
        # master. One that exists is kept whatever the server's state: leaving it out deletes it.
        state = extension_lifecycle.observe(r, rsp, s.identifier)
        extension_lifecycle.compose(
            r,
            rsp,
            state,
            s.extensions,
            identifier=s.identifier,
            database=s.db_name,
            provider_config_name=naming.sql_provider_config(s.identifier),
            server_ready=r.observed.ready(PRIMARY),
        )
        extension_lifecycle.report(r, rsp, state, s.extensions, s.db_name, secrets(r))
    else:
        extension_lifecycle.report_none(rsp, s.engine)


def report_kept(r: Request, rsp: fnv1.RunFunctionResponse, engine: str, origin: Origin) -> None:
    """What a refused spec keeps still reports: the static parameters waiting for a reboot (as
    recorded on the primary) and ExtensionsReady for the extensions composed now."""
    warn_pending_reboot(r, rsp, recorded_pending_reboot(r))
    if not engines.get(engine).extensions:
        extension_lifecycle.report_none(rsp, engine)
        return
    state = extension_lifecycle.observe(r, rsp, origin.identifier)
    kept = tuple(sorted({s.extension for s in state.composed.values() if not s.deleting}))
    observed = r.observed.get(PRIMARY)
    database = dig(observed, "spec", "forProvider", "dbName") or origin.database or DEFAULT_DB_NAME
    extension_lifecycle.report(r, rsp, state, kept, database, secrets(r))


def secrets(r: Request) -> tuple[str, ...]:
    """Credentials a provider's message might repeat: never shown to the developer."""
    return tuple(v for k, v in r.connection_details(PRIMARY).items() if k == "password")


def parameter_group_resource(engine: str, version: str) -> str:
    return PARAMETER_GROUP_PREFIX + engines.get(engine).family(version).replace(".", "-")


def compose_parameter_groups(r: Request, rsp: fnv1.RunFunctionResponse, s: Settings) -> None:
    """The instance's parameter group of its family, and a group of another family as long as an
    instance still uses it: after a major upgrade the old group goes once RDS has moved."""
    if not s.version:
        return  # before AWS reports a version left to it, RDS's default group serves
    current = parameter_group_resource(s.engine, s.version)
    body = parameters.compose_parameter_group(
        s.engine,
        s.version,
        s.parameters,
        name=parameters.group_name(s.identifier, s.engine, s.version),
        region=s.region,
        namespaced=r.mode.namespaced,
        provider_config=r.mode.aws_provider_config_ref(r.input.aws.providerConfigName),
        tags=s.tags,
        allow_plaintext=r.input.safety.allowPlaintext,
        cat=r.catalog.parameters or None,
    )
    resources.set_desired(rsp, current, body, r.observed.ready(current))
    in_use = {
        dig(r.observed.get(name), "status", "atProvider", "parameterGroupName", default="")
        for name in r.observed
        if name == PRIMARY or name.startswith(REPLICA_PREFIX)
    }
    for name in r.observed:
        if name.startswith(PARAMETER_GROUP_PREFIX) and name != current:
            old = r.observed[name]
            if dig(old, "metadata", "annotations", naming.EXTERNAL_NAME) in in_use:
                resources.keep(rsp, name, old)
    warn_pending_reboot(r, rsp, s.pending_reboot)


def warn_pending_reboot(r: Request, rsp: fnv1.RunFunctionResponse, names: tuple[str, ...]) -> None:
    if names:
        conditions.warn(
            rsp,
            Reason.PARAMETERS_PENDING_REBOOT,
            f"{r.described()}: {', '.join(names)} change(s) at the next reboot of the "
            "instance (static parameters; the platform reboots in the maintenance window)",
        )


def pending_reboot(r: Request, s: Settings) -> tuple[dict[str, str | None], dict[str, str]]:
    """Static parameters RDS applies at the instance's next reboot, with the value each ran
    before, and the instance's marks of that time: what this answer changes, and what an earlier
    answer changed that no reboot has applied since.

    upjet reports no ParameterApplyStatus, so a reboot is known only from what is observable: the
    instance seen `rebooting`, a new instance class or engine version (both restart it), or the
    platform's `klutch.io/rebooted` annotation on the composite changing. A value set back to the
    one the server runs is no longer pending."""
    if not s.version:
        return {}, {}
    primary = r.observed.get(PRIMARY)
    at = dig(primary, "status", "atProvider", default={}) or {}
    marks = {
        k: v
        for k, v in {
            "instanceClass": at.get("instanceClass"),
            "engineVersion": at.get("engineVersionActual"),
            "rebooted": dig(r.composite, "metadata", "annotations", naming.ANNOTATION_REBOOTED),
        }.items()
        if isinstance(v, str) and v
    }
    pending, since = _recorded_reboot(primary)
    rebooted = (
        at.get("status") == "rebooting"
        or any(k in marks and marks[k] != v for k, v in since.items())
        or ("rebooted" in marks and "rebooted" not in since and bool(pending))
    )
    if rebooted:
        pending, since = {}, {}
    observed = r.observed.get(parameter_group_resource(s.engine, s.version))
    have = {
        p["name"]: p
        for p in dig(observed, "spec", "forProvider", "parameter", default=[])
        if isinstance(p, dict) and isinstance(p.get("name"), str)
    }
    want = {
        p["name"]: p
        for p in parameters.group_parameters(
            s.engine,
            engines.get(s.engine).major(s.version),
            s.parameters,
            allow_plaintext=r.input.safety.allowPlaintext,
            cat=r.catalog.parameters or None,
        )
    }
    if observed is not None:
        for name in have.keys() | want.keys():
            before = (have.get(name) or {}).get("value")
            if (
                before != (want.get(name) or {}).get("value")
                and (want.get(name) or have[name]).get("applyMethod")
                == parameters.APPLY_PENDING_REBOOT
            ):
                pending.setdefault(name, before)
    pending = {n: v for n, v in pending.items() if (want.get(n) or {}).get("value") != v}
    return dict(sorted(pending.items())), (since or marks) if pending else {}


def _recorded_reboot(primary: dict | None) -> tuple[dict[str, str | None], dict[str, str]]:
    raw = dig(primary, "metadata", "annotations", naming.ANNOTATION_PENDING_REBOOT)
    try:
        recorded = json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        return {}, {}
    if not isinstance(recorded, dict):
        return {}, {}
    params = recorded.get("parameters")
    since = recorded.get("since")
    return (
        {k: v for k, v in params.items() if isinstance(v, str | None)}
        if isinstance(params, dict)
        else {},
        {k: v for k, v in since.items() if isinstance(v, str)} if isinstance(since, dict) else {},
    )


def recorded_pending_reboot(r: Request) -> tuple[str, ...]:
    """The static parameters the primary's annotation says wait for a reboot."""
    return tuple(_recorded_reboot(r.observed.get(PRIMARY))[0])


def pending_reboot_record(pending: dict[str, str | None], since: dict[str, str]) -> str:
    return json.dumps(
        {"parameters": pending, "since": since}, sort_keys=True, separators=(",", ":")
    )


def compose_instance(r: Request, s: Settings) -> dict:
    inp, m = r.input, r.mode
    fp: dict = {
        "region": s.region,
        "identifier": s.identifier,
        "engine": engines.get(s.engine).rds,
        "instanceClass": s.plan.instanceClass,
        "allocatedStorage": s.storage,
        "maxAllocatedStorage": s.max_storage,
        "storageType": "gp3",
        "storageEncrypted": s.encrypted,
        "multiAz": s.multi_az,
        "publiclyAccessible": s.public,
        "dbName": s.db_name,
        "username": MASTER_USERNAME,
        "autoGeneratePassword": True,
        "passwordSecretRef": m.secret_ref(naming.master_password_secret(s.identifier), "password"),
        "copyTagsToSnapshot": True,
        "autoMinorVersionUpgrade": False,
        "allowMajorVersionUpgrade": s.major_upgrade,
        "applyImmediately": inp.applyImmediately,
        "skipFinalSnapshot": False,
        "finalSnapshotIdentifier": naming.final_snapshot_identifier(s.identifier, r.uid),
        "deleteAutomatedBackups": False,
        "deletionProtection": inp.safety.deletionProtection,
        "tags": s.tags,
    }
    if s.version:
        fp["engineVersion"] = s.version
        # Sent with engineVersion: a major upgrade moves to the new family's group in one call.
        fp["parameterGroupName"] = parameters.group_name(s.identifier, s.engine, s.version)
    retention: dict = {"backupRetentionPeriod": s.backup.rds_retention}
    if s.backup.window:
        retention["backupWindow"] = s.backup.window
    spec: dict = {}
    if backup_retention_owned_by_aws_backup(r, s):
        # AWS Backup's continuous backup owns retention and window; RDS refuses any other value
        # (terraform-provider-aws#33465). Set them at creation only: the provider uses
        # initProvider for the create call and ignores it afterwards.
        spec["initProvider"] = retention
    else:
        fp.update(retention)
    if not s.storage:
        del fp["allocatedStorage"], fp["maxAllocatedStorage"]
    elif not s.max_storage:
        del fp["maxAllocatedStorage"]
    key = kms_key(r, s)
    if key:
        fp["kmsKeyId"] = key
    if inp.network.dbSubnetGroupName:
        fp["dbSubnetGroupName"] = inp.network.dbSubnetGroupName
    if inp.network.vpcSecurityGroupIds:
        fp["vpcSecurityGroupIds"] = sorted(inp.network.vpcSecurityGroupIds)
    spec["writeConnectionSecretToRef"] = m.secret_ref(naming.connection_secret(s.identifier))
    body = rds_instance(r, PRIMARY, fp, spec)
    if s.pending_record:
        body.setdefault("metadata", {}).setdefault("annotations", {})[
            naming.ANNOTATION_PENDING_REBOOT
        ] = s.pending_record
    if s.upgraded_from:
        body.setdefault("metadata", {}).setdefault("annotations", {})[
            naming.ANNOTATION_UPGRADED_BY_AWS
        ] = s.upgraded_from
    return body


def created(observed: dict | None) -> bool:
    """AWS created the rds Instance (or accepted its restore): it reports the DBI resource id."""
    at = dig(observed, "status", "atProvider", default={}) or {}
    return bool(at.get("resourceId") or at.get("id") or at.get("arn"))


def kms_key(r: Request, s: Settings) -> str | None:
    """The key of encrypted storage: the Input's for a new database; once AWS created it, the
    one it was created with. kms_key_id is ForceNew: a key the platform names later would be a
    replace diff that upjet refuses, and every later update of every existing database would
    fail with it (RDS cannot re-encrypt a database in place)."""
    if not s.encrypted:
        return None
    observed = r.observed.get(PRIMARY)
    if created(observed):
        kept = dig(observed, "spec", "forProvider", "kmsKeyId")
        return kept if isinstance(kept, str) and kept else None
    return r.input.kmsKeyId or None


def backup_retention_owned_by_aws_backup(r: Request, s: Settings) -> bool:
    """While hourly, while AWS Backup's selection of the instance exists, and after that as long
    as RDS runs another retention than the one asked for: continuous backup keeps holding the
    retention after its rule is gone (provider-aws#1356, terraform-provider-aws#33465), and RDS
    refuses any other value, so enforcing it would only fail on every poll."""
    if s.backup.schedule == "hourly" or schedule.SELECTION in r.observed:
        return True
    return retention_held(r, s)


def retention_held(r: Request, s: Settings) -> bool:
    """The instance was hourly (its retention is set at creation only) and RDS still runs a
    retention other than the one asked for: AWS Backup may still hold it."""
    observed = r.observed.get(PRIMARY)
    was_hourly = (
        dig(observed, "spec", "initProvider", "backupRetentionPeriod") is not None
        and dig(observed, "spec", "forProvider", "backupRetentionPeriod") is None
    )
    running = dig(observed, "status", "atProvider", "backupRetentionPeriod")
    return was_hourly and _is_number(running) and int(running) != s.backup.rds_retention


def compose_replica(r: Request, s: Settings, index: int) -> dict:
    inp = r.input
    fp: dict = {
        "region": s.region,
        "identifier": naming.replica_identifier(s.identifier, index),
        "replicateSourceDb": s.identifier,
        "instanceClass": s.plan.instanceClass,
        "storageType": "gp3",
        "maxAllocatedStorage": s.max_storage,
        # Encryption and its key are inherited from the source in the same region.
        "multiAz": False,
        "publiclyAccessible": s.public,
        "autoMinorVersionUpgrade": False,
        "applyImmediately": inp.applyImmediately,
        "copyTagsToSnapshot": True,
        # RDS refuses a final snapshot of a read replica; its data lives on in the primary.
        "skipFinalSnapshot": True,
        "deletionProtection": False,
        "tags": {**s.tags, naming.TAG_ROLE: "replica"},
    }
    if not s.max_storage:
        del fp["maxAllocatedStorage"]
    if inp.network.vpcSecurityGroupIds:
        fp["vpcSecurityGroupIds"] = sorted(inp.network.vpcSecurityGroupIds)
    if s.version:
        # A replica enforces TLS and serves the same parameters as its primary.
        fp["parameterGroupName"] = parameters.group_name(s.identifier, s.engine, s.version)
    return rds_instance(r, f"{REPLICA_PREFIX}{index}", fp, {})


def rds_instance(r: Request, resource: str, fp: dict, spec: dict) -> dict:
    """An rds Instance the way every one of ours is managed: without late initialization, with
    the platform's provider config, and the external name AWS gave it once it exists."""
    metadata = resources.provider_external_name(r.observed.get(resource))
    return {
        "apiVersion": r.mode.rds_api,
        "kind": "Instance",
        **({"metadata": metadata} if metadata else {}),
        "spec": {
            "forProvider": fp,
            **spec,
            "managementPolicies": list(resources.MANAGEMENT_POLICIES),
            "providerConfigRef": r.mode.aws_provider_config_ref(r.input.aws.providerConfigName),
        },
    }


def observed_status(r: Request, engine: str, s: Settings | None) -> InstanceStatus:
    """Status from what AWS reports; where nothing is observed yet, from what is being composed.

    Without settings (the spec was refused) every fact comes from what runs, never from the
    refused spec: Backups and Restores taken meanwhile read these facts. Status is server-side
    applied, so a field left out here would vanish from the object.
    """
    observed = r.observed.get(PRIMARY)
    at = dig(observed, "status", "atProvider", default={}) or {}
    fp = dig(observed, "spec", "forProvider", default={}) or {}
    tags = dig(fp, "tags", default={})
    identifier = at.get("identifier") or fp.get("identifier") or (s.identifier if s else None)
    replicas = sum(1 for n in r.observed if n.startswith(REPLICA_PREFIX))
    # While AWS Backup still holds the retention, the status says what runs.
    held = s is not None and s.backup.schedule != "hourly" and retention_held(r, s)
    running = _running_schedule(r, observed) if s is None or held else s.backup
    return InstanceStatus.reported(
        phase=at.get("status"),
        endpoint=at.get("address"),
        port=_int_or_none(at.get("port")),
        dbname=fp.get("dbName") or (s.db_name if s else None),
        identifier=identifier,
        region=fp.get("region") or (s.region if s else None),
        arn=at.get("arn"),
        engine=engine,
        version=at.get("engineVersionActual")
        or fp.get("engineVersion")
        or (s.version if s else None),
        plan=s.plan.name if s else tags.get(naming.TAG_PLAN),
        instanceClass=at.get("instanceClass")
        or (s.plan.instanceClass if s else fp.get("instanceClass")),
        allocatedStorage=_int_or_none(at.get("allocatedStorage"))
        or (_int_or_none(s.storage) if s else _int_or_none(fp.get("allocatedStorage"))),
        multiAZ=at.get("multiAz") if "multiAz" in at else (s.multi_az if s else fp.get("multiAz")),
        replicas=s.replicas if s else (replicas if observed is not None else None),
        replicaEndpoints=_replica_endpoints(r),
        sqlProviderConfig=naming.sql_provider_config(identifier) if identifier else None,
        parameterGroup=at.get("parameterGroupName")
        or fp.get("parameterGroupName")
        or (parameters.group_name(s.identifier, s.engine, s.version) if s and s.version else None),
        pendingReboot=_pending_reboot_status(r, s),
        backup=schedule.status(running, at.get("latestRestorableTime"))
        if running is not None
        else None,
    )


def _pending_reboot_status(r: Request, s: Settings | None) -> list[str] | None:
    """What waits for a reboot: as resolved now, or (the spec refused) as the primary records."""
    if s is None:
        return list(recorded_pending_reboot(r)) or None
    return (list(s.pending_reboot) or None) if s.version else None


def _replica_endpoints(r: Request) -> list[str] | None:
    """Hostnames of the read replicas AWS reports, in replica order."""
    found = [
        (int(name.removeprefix(REPLICA_PREFIX)), address)
        for name in r.observed
        if name.startswith(REPLICA_PREFIX) and name.removeprefix(REPLICA_PREFIX).isdigit()
        for address in [dig(r.observed[name], "status", "atProvider", "address")]
        if isinstance(address, str) and address
    ]
    return [address for _, address in sorted(found)] or None


def _running_schedule(r: Request, observed: dict | None) -> schedule.Schedule | None:
    """The backup schedule the observed resources carry out (None before anything exists)."""
    if observed is None:
        return None
    fp = dig(observed, "spec", "forProvider", default={}) or {}
    init = dig(observed, "spec", "initProvider", default={}) or {}
    retention = _number(fp.get("backupRetentionPeriod", init.get("backupRetentionPeriod")))
    window = fp.get("backupWindow") or init.get("backupWindow")
    rules = dig(r.observed.get(schedule.PLAN), "spec", "forProvider", "rule", default=[]) or []
    if rules:
        days = _number(dig(rules[0], "lifecycle", "deleteAfter")) or retention
        return schedule.Schedule("hourly", days, window)
    return schedule.Schedule("daily" if retention else "none", retention, window)


def _int_or_none(value: object) -> int | None:
    return _number(value) or None

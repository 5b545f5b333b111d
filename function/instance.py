"""PostgresqlInstance, MysqlInstance, MariadbInstance: validate, compose, report status.

Pipeline: parse spec -> validate against catalog, platform and what exists -> resolve settings
-> compose rds Instance, read replicas, the SQL ProviderConfig -> readiness and status.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import (
    catalog,
    conditions,
    extensions,
    inputs,
    naming,
    parameters,
    resources,
    schedule,
    specs,
    sql,
)
from function.conditions import Problem
from function.request import Request
from function.resources import dig
from function.specs import DEFAULT_DB_NAME, InstanceSpec

# Names of the composed resources inside the composition.
PRIMARY = "instance"
SQL_PROVIDER_CONFIG = "sql-providerconfig"
REPLICA_PREFIX = "replica-"
PARAMETER_GROUP_PREFIX = "parameters-"  # + the family, e.g. parameters-postgres17

MASTER_USERNAME = "dbadmin"
ENGINE_OF_KIND = {
    "PostgresqlInstance": "postgresql",
    "MysqlInstance": "mysql",
    "MariadbInstance": "mariadb",
}


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
    # version (a restore from a snapshot ARN decides it) composes no parameter group.
    parameters: dict[str, str]
    extensions: tuple[str, ...]
    # Static parameters this answer changes: RDS applies them at the next reboot.
    pending_reboot: tuple[str, ...] = ()


def engine_of(kind: str) -> str:
    return ENGINE_OF_KIND[kind.removeprefix("X")]


@dataclass(frozen=True)
class RestoreFrom:
    """What a Restore asks RDS to restore from: forProvider fields, frozen once created."""

    params: dict  # snapshotIdentifier, or restoreToPointInTime
    source: dict  # the Restore's status.source, kept on the instance as an annotation
    min_storage: int = 0  # a restore needs at least the source's storage
    # A snapshot ARN does not tell its size: unless the developer gives one, RDS restores the
    # snapshot's own size, which the function reads back once the instance exists.
    storage_from_snapshot: bool = False


RESTORE_SOURCE_ANNOTATION = "klutch.io/restore-source"


def identifier_of(r: Request) -> str:
    # A Restore may share its name with an instance in the namespace: its database must not.
    salt = ("Restore",) if r.kind.removeprefix("X") == "Restore" else ()
    return naming.rds_identifier(r.mode.owner_namespace, r.mode.owner_name, *salt)


def run(r: Request, rsp: fnv1.RunFunctionResponse) -> None:
    engine = engine_of(r.kind)
    spec, problems = parse_spec(r)
    settings = reconcile(r, rsp, engine, spec, problems)
    resources.set_status(rsp, observed_status(r, engine, settings))


def reconcile(
    r: Request,
    rsp: fnv1.RunFunctionResponse,
    engine: str,
    spec: InstanceSpec | None,
    problems: list[Problem],
    restore: RestoreFrom | None = None,
) -> Settings | None:
    """Validate, then compose the instance; on any problem keep what exists and return None."""
    observed = r.observed.get(PRIMARY)
    if spec is not None:
        # With format problems spec is the rest of it: what depends on a broken field is skipped.
        problems = problems + specs.unaffected(validate(spec, engine, r, observed), problems)
    if problems:
        conditions.report_problems(rsp, problems)
        resources.keep_observed(rsp, r.observed)
        return None
    assert spec is not None
    settings = resolve(spec, engine, r, observed, rsp, restore)
    conditions.report_valid(rsp)
    compose(r, rsp, settings, restore)
    return settings


def parse_spec(r: Request) -> tuple[InstanceSpec | None, list[Problem]]:
    """The spec, or with its type/format problems the rest of it, so all problems show at once."""
    spec, err, partial = specs.parse(InstanceSpec, r.spec)
    if err is None:
        return spec, []
    return partial, [
        Problem(m.split(":", 1)[0], "SpecInvalid", f"cannot compose {r.described()}: {m}")
        for m in inputs.describe_errors(err, "spec")
    ]


def validate(spec: InstanceSpec, engine: str, r: Request, observed: dict | None) -> list[Problem]:
    """Every problem with the spec at once; an empty list means it can be composed."""
    problems: list[Problem] = []

    def refuse(field: str, reason: str, cause: str) -> None:
        problems.append(Problem(field, reason, f"cannot compose {r.described()}: {cause}"))

    cat, inp = r.catalog, r.input
    config = spec.config
    plan = cat.plan(spec.plan)
    if plan is None and spec.plan:  # "" stands for a plan that already has a format problem
        refuse(
            "spec.plan",
            "PlanNotOffered",
            f'spec.plan "{spec.plan}" is not offered; allowed: {", ".join(cat.plan_names())}',
        )

    running = dig(observed, "spec", "forProvider", "engineVersion")
    for field, reason, cause in validate_version(spec.serviceVersion, engine, cat, running):
        refuse(field, reason, cause)

    replicas = config.compute.replicas.count if _has_replicas(spec) else None
    if plan is not None and replicas is not None:
        if plan.maxReplicas == 0 and replicas > 0:
            refuse(
                "spec.config.compute.replicas.count",
                "ReplicasNotAllowed",
                f'spec.config.compute.replicas.count {replicas}: plan "{plan.name}" has no read '
                f"replicas; allowed: a cluster-* plan, or remove spec.config.compute.replicas",
            )
        elif replicas > plan.maxReplicas:
            refuse(
                "spec.config.compute.replicas.count",
                "ReplicasOutOfRange",
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
            "StorageOutOfRange",
            f'spec.config.allocatedStorage {storage} is outside plan "{plan.name}"; '
            f"allowed: {plan.storageGiB}..{plan.maxStorageGiB} (GiB)",
        )

    if config and config.publiclyAccessible and not inp.safety.allowPublicAccess:
        refuse(
            "spec.config.publiclyAccessible",
            "PublicAccessRefused",
            "spec.config.publiclyAccessible true is not allowed on this platform; "
            "allowed: false (reach the database from inside the cluster's network)",
        )
    if config and config.encryptedStorage is False and not inp.safety.allowUnencrypted:
        refuse(
            "spec.config.encryptedStorage",
            "UnencryptedRefused",
            "spec.config.encryptedStorage false is not allowed on this platform; allowed: true",
        )

    for field, reason, cause in validate_tags((config.tags or {}) if config else {}, inp.tags):
        refuse(field, reason, cause)

    version_ok = not any(p.field == "spec.serviceVersion" for p in problems)
    if version_ok and spec.serviceVersion:
        _, found = database_parameters(spec, engine, cat)
        for field, reason, cause in found:
            refuse(field, reason, cause)

    if observed is not None:
        for field, want, have in _immutables(spec, r, observed):
            if have is not None and want != have:
                refuse(
                    field,
                    "ImmutableFieldChanged",
                    f'{field} cannot change on an existing database (is "{have}", asked '
                    f'"{want}"); allowed: "{have}", or restore into a new instance',
                )

    wanted_replicas = replicas if replicas is not None else (plan.replicas if plan else 0)
    for field, reason, cause in schedule.validate(spec.backup, inp, wanted_replicas):
        refuse(field, reason, cause)
    return problems


def database_parameters(
    spec: InstanceSpec, engine: str, cat: catalog.Catalog
) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """The normalized parameters (with what the extensions need) and every problem with the
    developer's parameters and extensions, as (field, reason, cause)."""
    config = spec.config
    asked = (config.parameters or {}) if config else {}
    wanted = list((config.extensions or []) if config else [])
    major = catalog.major(engine, spec.serviceVersion)
    normalized, problems = parameters.validate(engine, major, asked, cat.parameters or None)
    if wanted and engine != "postgresql":
        problems.append(
            (
                extensions.FIELD,
                "ExtensionsNotOffered",
                f"{extensions.FIELD} is for PostgreSQL; allowed: none on {engine}",
            )
        )
    elif wanted:
        problems += extensions.validate(major, wanted, normalized, cat.extensions or None)
        if not problems:
            needed = extensions.required_parameters(wanted, _db_name(spec), cat.extensions or None)
            normalized = {**needed, **normalized}
    return normalized, problems


def validate_tags(tags: dict[str, str], platform: dict[str, str]) -> list[tuple[str, str, str]]:
    """(field, reason, cause) for tags AWS would refuse, or that would replace a platform tag.

    AWS allows 50 tags per resource: the function's own and the platform's come first."""
    out = []
    for key in sorted(tags):
        if key in platform:
            out.append(
                (
                    f"spec.config.tags.{key}",
                    "TagReserved",
                    f'spec.config.tags key "{key}" is set by the platform (input tags) and is '
                    "never overridden; allowed: another key",
                )
            )
    limit = max(0, inputs.MAX_TAGS - inputs.OWN_TAGS - len(platform))
    for cause in inputs.tag_problems(tags, limit):
        if cause.startswith("has "):
            cause += (
                f" ({len(platform)} platform tag(s) and {inputs.OWN_TAGS} of the function count "
                "against AWS's 50)"
            )
        reason = "TagReserved" if " is reserved;" in cause else "SpecInvalid"
        out.append(("spec.config.tags", reason, f"spec.config.tags {cause}"))
    return out


def validate_version(
    version: str, engine: str, cat: catalog.Catalog, running: object
) -> list[tuple[str, str, str]]:
    """(field, reason, cause) for a version that is not offered, lower, or a forbidden major."""
    if not version:  # a restore from an ARN: the snapshot decides
        return []
    field = "spec.serviceVersion"
    offered = cat.version(engine, version)
    if offered is None and version != running:
        return [
            (
                field,
                "VersionNotOffered",
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
                "VersionDowngradeRefused",
                f'spec.serviceVersion "{version}" is lower than the running version '
                f'"{running}"; allowed: "{running}" or a higher offered version',
            )
        ]
    old_major = catalog.major(engine, running)
    if offered is None or old_major == catalog.major(engine, version):
        return []
    if old_major in offered.majorUpgradeFrom:
        return []
    allowed = [
        v
        for v in cat.version_names(engine)
        if catalog.major(engine, v) == old_major
        or old_major in cat.versions[engine][v].majorUpgradeFrom
    ]
    return [
        (
            field,
            "MajorUpgradeNotAllowed",
            f'spec.serviceVersion "{version}": a major upgrade from "{running}" is not '
            f"allowed; allowed: {', '.join(allowed)}",
        )
    ]


def _has_replicas(spec: InstanceSpec) -> bool:
    c = spec.config
    return bool(c and c.compute and c.compute.replicas and c.compute.replicas.count is not None)


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
    return (spec.config and spec.config.region) or r.input.aws.region


def _db_name(spec: InstanceSpec) -> str:
    c = spec.config
    return (c and c.database and c.database.name) or DEFAULT_DB_NAME


def resolve(
    spec: InstanceSpec,
    engine: str,
    r: Request,
    observed: dict | None,
    rsp: fnv1.RunFunctionResponse,
    restore: RestoreFrom | None = None,
) -> Settings:
    cat, inp, config = r.catalog, r.input, spec.config
    plan = cat.plan(spec.plan)
    assert plan is not None
    # A restore from a snapshot ARN asks no version: once AWS reports the one it restored, the
    # instance is composed with it (and so gets its family's parameter group, TLS enforced).
    running = dig(observed, "spec", "forProvider", "engineVersion") or dig(
        observed, "status", "atProvider", "engineVersionActual"
    )
    version = spec.serviceVersion or (running if isinstance(running, str) else "")
    if version and cat.version(engine, version) is None:
        conditions.warn(
            rsp,
            conditions.VERSION_NO_LONGER_OFFERED,
            f'{r.described()}: spec.serviceVersion "{spec.serviceVersion}" is no longer offered '
            f"for {engine}; it keeps running, plan an upgrade to one of: "
            f"{', '.join(cat.version_names(engine))}",
        )

    asked_storage = config.allocatedStorage if config else None
    storage = max(asked_storage or plan.storageGiB, _restore_storage(restore))
    # Never shrink: RDS cannot, and autoscaling may have grown the volume beyond the spec.
    have = max(
        _number(dig(observed, "status", "atProvider", "allocatedStorage")),
        _number(dig(observed, "spec", "forProvider", "allocatedStorage")),
    )
    # A restored instance has its snapshot's size: only a smaller size the developer asked for
    # is worth a warning, not the plan's default.
    if have > storage and (restore is None or asked_storage):
        conditions.warn(
            rsp,
            conditions.STORAGE_SHRINK_KEPT,
            f"{r.described()}: storage stays at {have} GiB, larger than the {storage} GiB asked "
            f'for by plan "{plan.name}" or spec.config.allocatedStorage; storage never shrinks',
        )
    storage = max(storage, have)
    if restore and restore.storage_from_snapshot and not asked_storage and not have:
        storage = 0  # not known before AWS restored the snapshot: RDS takes the snapshot's size
    # RDS wants the autoscaling ceiling at least 10% above the allocated size.
    max_storage = max(plan.maxStorageGiB, math.ceil(storage * 1.1))

    user_tags = dict(config.tags or {}) if config else {}
    tags = {
        **inp.tags,
        **user_tags,
        "klutch.io/namespace": r.mode.owner_namespace,
        "klutch.io/name": r.mode.owner_name,
        "klutch.io/plan": plan.name,
        "klutch.io/engine": engine,
    }
    settings = Settings(
        engine=engine,
        identifier=identifier_of(r),
        version=version,
        major_upgrade=isinstance(running, str)
        and bool(version)
        and catalog.major(engine, running) != catalog.major(engine, version),
        plan=plan,
        storage=storage,
        max_storage=max_storage,
        multi_az=config.multiAZ if config and config.multiAZ is not None else plan.multiAZ,
        replicas=config.compute.replicas.count if _has_replicas(spec) else plan.replicas,
        region=_region(spec, r),
        db_name=_db_name(spec),
        encrypted=not (config and config.encryptedStorage is False),
        public=bool(config and config.publiclyAccessible),
        backup=schedule.resolve(spec.backup, inp),
        tags={k: v for k, v in tags.items() if v},
        parameters=database_parameters(spec, engine, cat)[0] if version else {},
        extensions=tuple(config.extensions or ()) if config and version else (),
    )
    return replace(settings, pending_reboot=tuple(pending_reboot(r, settings)))


def _restore_storage(restore: RestoreFrom | None) -> int:
    return restore.min_storage if restore else 0


def _number(value: object) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def compose(
    r: Request, rsp: fnv1.RunFunctionResponse, s: Settings, restore: RestoreFrom | None = None
) -> None:
    body = compose_instance(r, s, restore)
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
    resources.set_desired(rsp, SQL_PROVIDER_CONFIG, compose_sql_provider_config(r, s), True)
    # The group roles need a reachable server; once they exist they are kept whatever happens.
    if s.engine == "postgresql" and (
        r.observed.ready(PRIMARY) or any(n in r.observed for n in sql.GROUP_RESOURCES)
    ):
        # A restored snapshot keeps its own master user, which AWS reports.
        master = dig(r.observed.get(PRIMARY), "status", "atProvider", "username")
        groups = sql.compose_groups_serialized(
            r.mode,
            sql_provider_config_name(s.identifier),
            s.db_name,
            s.identifier,
            master if isinstance(master, str) and master else MASTER_USERNAME,
        )
        for name, body in groups:
            resources.set_desired_serialized(rsp, name, body, r.observed.ready(name))
    schedule.compose(r, rsp, s.backup, s.identifier, s.region, s.tags)
    compose_parameter_groups(r, rsp, s)
    if s.backup.schedule != "hourly" and retention_held(r, s):
        running = dig(r.observed.get(PRIMARY), "status", "atProvider", "backupRetentionPeriod")
        conditions.warn(
            rsp,
            conditions.BACKUP_RETENTION_HELD,
            f"{r.described()}: RDS keeps {int(running)} days of automated backups: AWS Backup's "
            "continuous backup still holds the retention after hourly backups ended, and RDS "
            f"refuses another value until AWS releases it; {s.backup.rds_retention} applies then",
        )
    # Extensions need a reachable server, like the group roles; CREATE EXTENSION as the master.
    if s.extensions and r.observed.ready(PRIMARY):
        for name in s.extensions:
            key = extensions.resource_name(name)
            body = extensions.compose_extension(
                name,
                database=s.db_name,
                provider_config_name=sql_provider_config_name(s.identifier),
                namespaced=r.mode.namespaced,
            )
            resources.set_desired(rsp, key, body, r.observed.ready(key))


def parameter_group_resource(engine: str, version: str) -> str:
    return PARAMETER_GROUP_PREFIX + parameters.family(engine, version).replace(".", "-")


def compose_parameter_groups(r: Request, rsp: fnv1.RunFunctionResponse, s: Settings) -> None:
    """The instance's parameter group of its family, and a group of another family as long as an
    instance still uses it: after a major upgrade the old group goes once RDS has moved."""
    if not s.version:
        return  # a restore from a snapshot ARN before its version is known uses RDS's default
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
        dig(r.observed.get(name), "status", "atProvider", "parameterGroupName")
        for name in r.observed
        if name == PRIMARY or name.startswith(REPLICA_PREFIX)
    }
    for name in r.observed:
        if name.startswith(PARAMETER_GROUP_PREFIX) and name != current:
            old = r.observed[name]
            if dig(old, "metadata", "annotations", resources.EXTERNAL_NAME) in in_use:
                resources.keep(rsp, name, old)
    if s.pending_reboot:
        conditions.warn(
            rsp,
            conditions.PARAMETERS_PENDING_REBOOT,
            f"{r.described()}: {', '.join(s.pending_reboot)} change(s) at the next reboot of the "
            "instance (static parameters; the platform reboots in the maintenance window)",
        )


def pending_reboot(r: Request, s: Settings) -> list[str]:
    """Static parameters whose value in the observed group differs from what is composed now:
    RDS applies them (pending-reboot) at the instance's next reboot."""
    if not s.version:
        return []
    observed = r.observed.get(parameter_group_resource(s.engine, s.version))
    if observed is None:
        return []
    have = {
        p.get("name"): p
        for p in dig(observed, "spec", "forProvider", "parameter", default=[]) or []
        if isinstance(p, dict)
    }
    want = {
        p["name"]: p
        for p in parameters.group_parameters(
            s.engine,
            catalog.major(s.engine, s.version),
            s.parameters,
            allow_plaintext=r.input.safety.allowPlaintext,
            cat=r.catalog.parameters or None,
        )
    }
    return sorted(
        name
        for name in have.keys() | want.keys()
        if (have.get(name) or {}).get("value") != (want.get(name) or {}).get("value")
        and (want.get(name) or have[name]).get("applyMethod") == parameters.APPLY_PENDING_REBOOT
    )


def master_password_secret(identifier: str) -> str:
    return f"{identifier}-master"


def connection_secret(identifier: str) -> str:
    return f"{identifier}-conn"


def compose_instance(r: Request, s: Settings, restore: RestoreFrom | None = None) -> dict:
    inp, m = r.input, r.mode
    fp: dict = {
        "region": s.region,
        "identifier": s.identifier,
        "engine": catalog.RDS_ENGINE[s.engine],
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
        "passwordSecretRef": m.secret_ref(master_password_secret(s.identifier), "password"),
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
    if s.encrypted and inp.kmsKeyId:
        fp["kmsKeyId"] = inp.kmsKeyId
    if inp.network.dbSubnetGroupName:
        fp["dbSubnetGroupName"] = inp.network.dbSubnetGroupName
    if inp.network.vpcSecurityGroupIds:
        fp["vpcSecurityGroupIds"] = sorted(inp.network.vpcSecurityGroupIds)
    metadata = resources.provider_external_name(r.observed.get(PRIMARY))
    if restore is not None:
        # The database, its encryption, key and master user come from the source: RDS ignores
        # DBName on a restore, and these are ForceNew fields, so composing other values would be
        # a permanent replace diff that blocks every later update.
        for key in ("dbName", "storageEncrypted", "kmsKeyId", "username"):
            fp.pop(key, None)
        fp.update(restore.params)
        metadata.setdefault("annotations", {})[RESTORE_SOURCE_ANNOTATION] = json.dumps(
            restore.source, sort_keys=True
        )
    return {
        "apiVersion": m.rds_api,
        "kind": "Instance",
        **({"metadata": metadata} if metadata else {}),
        "spec": {
            "forProvider": fp,
            **spec,
            "managementPolicies": list(resources.MANAGEMENT_POLICIES),
            "providerConfigRef": m.aws_provider_config_ref(inp.aws.providerConfigName),
            "writeConnectionSecretToRef": m.secret_ref(connection_secret(s.identifier)),
        },
    }


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
    return was_hourly and running is not None and int(running) != s.backup.rds_retention


def compose_replica(r: Request, s: Settings, index: int) -> dict:
    inp, m = r.input, r.mode
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
        "tags": {**s.tags, "klutch.io/role": "replica"},
    }
    if inp.network.vpcSecurityGroupIds:
        fp["vpcSecurityGroupIds"] = sorted(inp.network.vpcSecurityGroupIds)
    if s.version:
        # A replica enforces TLS and serves the same parameters as its primary.
        fp["parameterGroupName"] = parameters.group_name(s.identifier, s.engine, s.version)
    metadata = resources.provider_external_name(r.observed.get(f"{REPLICA_PREFIX}{index}"))
    return {
        "apiVersion": m.rds_api,
        "kind": "Instance",
        **({"metadata": metadata} if metadata else {}),
        "spec": {
            "forProvider": fp,
            "managementPolicies": list(resources.MANAGEMENT_POLICIES),
            "providerConfigRef": m.aws_provider_config_ref(inp.aws.providerConfigName),
        },
    }


def sql_provider_config_name(identifier: str) -> str:
    return identifier


def compose_sql_provider_config(r: Request, s: Settings) -> dict:
    m = r.mode
    secret = {"name": connection_secret(s.identifier)}
    if not m.namespaced:
        secret["namespace"] = m.secret_namespace
    credentials: dict = {
        "connectionSecretRef": secret,
        # The RDS secret's `endpoint` is host:port; the SQL provider needs the bare host.
        "secretKeyMapping": {"endpoint": "address"},
    }
    spec: dict = {"credentials": credentials}
    if s.engine == "postgresql":
        credentials["source"] = "PostgreSQLConnectionSecret"
        spec["sslMode"] = r.input.sqlSslMode
        spec["defaultDatabase"] = s.db_name
    else:
        credentials["source"] = "MySQLConnectionSecret"
        spec["tls"] = _MYSQL_TLS[r.input.sqlSslMode]
    metadata: dict = {"name": sql_provider_config_name(s.identifier)}
    return {
        "apiVersion": m.sql_api(s.engine),
        "kind": "ProviderConfig",
        "metadata": metadata,
        "spec": spec,
    }


# RDS certificates do not chain to public roots, so "require" means encrypted without verifying.
_MYSQL_TLS = {
    "disable": "preferred",
    "require": "skip-verify",
}


def observed_status(r: Request, engine: str, s: Settings | None) -> dict:
    """Status from what AWS reports; where nothing is observed yet, from what is being composed.

    Without settings (the spec was refused) every fact comes from what runs, never from the
    refused spec: Backups and Restores taken meanwhile read these facts. Status is server-side
    applied, so a field left out here would vanish from the object.
    """
    observed = r.observed.get(PRIMARY)
    at = dig(observed, "status", "atProvider", default={}) or {}
    fp = dig(observed, "spec", "forProvider", default={}) or {}
    tags = fp.get("tags") or {}
    identifier = at.get("identifier") or fp.get("identifier") or (s.identifier if s else None)
    replicas = sum(1 for n in r.observed if n.startswith(REPLICA_PREFIX))
    status: dict = {
        "phase": at.get("status"),
        "endpoint": at.get("address"),
        "port": _int_or_none(at.get("port")),
        "dbname": fp.get("dbName") or _restored_dbname(observed) or (s.db_name if s else None),
        "identifier": identifier,
        "region": fp.get("region") or (s.region if s else None),
        "arn": at.get("arn"),
        "engine": engine,
        "version": at.get("engineVersionActual")
        or fp.get("engineVersion")
        or (s.version if s else None),
        "plan": s.plan.name if s else tags.get("klutch.io/plan"),
        "instanceClass": at.get("instanceClass")
        or (s.plan.instanceClass if s else fp.get("instanceClass")),
        "allocatedStorage": _int_or_none(at.get("allocatedStorage"))
        or (_int_or_none(s.storage) if s else _int_or_none(fp.get("allocatedStorage"))),
        "multiAZ": at.get("multiAz")
        if "multiAz" in at
        else (s.multi_az if s else fp.get("multiAz")),
        "replicas": s.replicas if s else (replicas if observed is not None else None),
        "replicaEndpoints": _replica_endpoints(r),
        "sqlProviderConfig": sql_provider_config_name(identifier) if identifier else None,
        "parameterGroup": at.get("parameterGroupName")
        or fp.get("parameterGroupName")
        or (parameters.group_name(s.identifier, s.engine, s.version) if s and s.version else None),
    }
    if s is not None and s.version:
        status["pendingReboot"] = list(s.pending_reboot) or None
    # While AWS Backup still holds the retention, the status says what runs.
    held = s is not None and s.backup.schedule != "hourly" and retention_held(r, s)
    running = _running_schedule(r, observed) if s is None or held else s.backup
    if running is not None:
        status["backup"] = schedule.status(running, at.get("latestRestorableTime"))
    return status


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


def _restored_dbname(observed: dict | None) -> str | None:
    """A restored instance has no dbName (the snapshot's database): its Restore recorded it."""
    recorded = dig(observed, "metadata", "annotations", RESTORE_SOURCE_ANNOTATION)
    if not isinstance(recorded, str):
        return None
    try:
        dbname = json.loads(recorded).get("dbname")
    except (ValueError, AttributeError):
        return None
    return dbname if isinstance(dbname, str) else None


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

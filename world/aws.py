"""provider-upjet-aws, as the world plays it, on moto (rds Instance; backup Vault, Plan, Selection).

The RDS API calls are the ones tests/aws.py derives from forProvider (botocore-validated). On top
of moto the world plays what upjet/Terraform add and the AWS rules moto lacks; each cites its
source. Instance states move on the world's clock (creating/modifying take simulated minutes).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import boto3
import psycopg
import pymysql
from botocore import xform_name
from botocore.exceptions import ClientError

from function import naming
from tests import aws as calls
from tests import aws_parameters
from tests.sqlprovider import provider_for
from tests.sqlservers import MASTER_PASSWORD
from world.crossplane import decode, encode
from world.data import Backing, Data, Unreachable
from world.store import Clock, Key, Store, key_of

MANAGER = "provider-upjet-aws"
EXTERNAL_NAME = "crossplane.io/external-name"
CREATE_MINUTES = 10
MODIFY_MINUTES = 5
# AWS: "after you modify storage, you can't modify it again for six hours" (storage optimization,
# RDS User Guide, USER_PIOPS.StorageTypes "Working with storage ... optimization").
STORAGE_COOLDOWN = timedelta(hours=6)

# forProvider field -> how to read it from DescribeDBInstances (what Terraform's Read sets).
OBSERVED = {
    "identifier": lambda d: d["DBInstanceIdentifier"],
    "engine": lambda d: d["Engine"],
    "engineVersion": lambda d: d["EngineVersion"],
    "instanceClass": lambda d: d["DBInstanceClass"],
    "allocatedStorage": lambda d: d["AllocatedStorage"],
    "maxAllocatedStorage": lambda d: d.get("MaxAllocatedStorage"),
    "storageType": lambda d: d["StorageType"],
    "storageEncrypted": lambda d: d["StorageEncrypted"],
    "multiAz": lambda d: d["MultiAZ"],
    "publiclyAccessible": lambda d: d["PubliclyAccessible"],
    "dbName": lambda d: d.get("DBName"),
    "username": lambda d: d["MasterUsername"],
    "backupRetentionPeriod": lambda d: d["BackupRetentionPeriod"],
    "backupWindow": lambda d: d["PreferredBackupWindow"],
    "maintenanceWindow": lambda d: d["PreferredMaintenanceWindow"],
    "copyTagsToSnapshot": lambda d: d["CopyTagsToSnapshot"],
    "autoMinorVersionUpgrade": lambda d: d["AutoMinorVersionUpgrade"],
    "deletionProtection": lambda d: d["DeletionProtection"],
    "port": lambda d: d["Endpoint"]["Port"],
    "caCertIdentifier": lambda d: d["CACertificateIdentifier"],
    "kmsKeyId": lambda d: _kms_key_arn(d),
    "parameterGroupName": lambda d: d["DBParameterGroups"][0]["DBParameterGroupName"],
    "iops": lambda d: d.get("Iops"),
    "storageThroughput": lambda d: d.get("StorageThroughput"),
    "replicateSourceDb": lambda d: d.get("ReadReplicaSourceDBInstanceIdentifier"),
}
# upjet late-initializes every observed field the spec leaves unset, except these for Instance
# (apis/cluster/rds/v1beta3/zz_instance_terraformed.go: AvailabilityZone, DBName are skipped).
LATE_INIT = (
    "iops",
    "storageThroughput",
    "parameterGroupName",
    "caCertIdentifier",
    "maintenanceWindow",
    "port",
    "backupWindow",
)
# Terraform aws_db_instance ForceNew attributes: a diff makes upjet refuse every update
# (pkg/controller/external_tfpluginsdk.go).
FORCE_NEW = ("identifier", "engine", "username", "dbName", "storageEncrypted", "kmsKeyId")
MODIFY_PARAM = {
    **calls.MODIFY,
    "iops": "Iops",
    "storageThroughput": "StorageThroughput",
    "parameterGroupName": "DBParameterGroupName",
    "caCertIdentifier": "CACertificateIdentifier",
    "maintenanceWindow": "PreferredMaintenanceWindow",
    "port": "DBPortNumber",
}
# Terraform sends these together when any of them changes (resourceDBInstanceUpdate), which is
# how a late-initialized Iops=3000 reaches AWS with a storage change (terraform-provider-aws#28382).
STORAGE_GROUP = ("allocatedStorage", "storageType", "iops", "storageThroughput")
# Kinds whose forProvider has a tags map: upjet's TagInitializer tags them (_tag_external).
TAGGED = ("Instance", "Snapshot", "ParameterGroup", "Vault", "Plan")
# provider-sql's default --poll (cmd/provider/main.go): a resource is observed again when it
# changes, else every ten minutes.
SQL_POLL = timedelta(minutes=10)


_AWS_GROUPS = tuple(f"{g}.aws.{m}upbound.io/" for g in ("rds", "backup") for m in ("", "m."))


def _secret_key(obj: dict, ref: dict) -> Key:
    """A namespaced managed resource's Secret refs name Secrets in its own namespace."""
    ns = ref.get("namespace") or obj["metadata"].get("namespace", "")
    return ("v1", "Secret", ns, ref["name"])


def _orphans(obj: dict) -> bool:
    """deletionPolicy Orphan (v1), or v2 managementPolicies without Delete."""
    policies = obj["spec"].get("managementPolicies") or ["*"]
    return obj["spec"].get("deletionPolicy") == "Orphan" or not (
        "*" in policies or "Delete" in policies
    )


class AwsError(Exception):
    """An AWS API error the world raises where moto would accept what AWS refuses."""


@dataclass
class Overlay:
    """What moto does not model: the instance's state over time, and AWS Backup's hold on it."""

    status: str = "creating"
    until: datetime | None = None
    storage_changed: datetime | None = None
    backup_owned: bool = False


@dataclass
class Provider:
    store: Store
    clock: Clock
    region: str = "eu-central-1"
    overlay: dict[str, Overlay] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)  # mutating AWS calls, in order
    errors: list[str] = field(default_factory=list)  # every Synced=False, in order
    plans: dict[str, dict] = field(default_factory=dict)  # plan id -> CreateBackupPlan input
    selections: dict[str, dict] = field(default_factory=dict)  # world-kept (moto lacks them)
    groups: dict[str, dict] = field(default_factory=dict)  # parameter group -> last applied body
    # Real databases behind the instances (world/data.py); None: provider-sql without servers.
    data: Data | None = None
    sql_statements: list[str] = field(default_factory=list)  # provider-sql's, except observes
    _sql_seen: dict[Key, tuple[str, datetime]] = field(default_factory=dict)
    _sql_created: set[Key] = field(default_factory=set)
    _created: dict[str, datetime] = field(default_factory=dict)
    _described: list[dict] | None = None

    def __post_init__(self) -> None:
        self.rds = boto3.client("rds", region_name=self.region)
        self.backup = boto3.client("backup", region_name=self.region)

    # --- the managed-resource reconcile loop -----------------------------------------------
    def reconcile(self) -> None:
        self._described = None
        for obj in sorted(self.store.list(), key=_aws_order):
            if not obj["apiVersion"].startswith(_AWS_GROUPS):
                continue
            handler = getattr(self, f"_{obj['kind'].lower()}", None)
            if handler is None:
                continue
            obj = self._tag_external(obj)
            try:
                handler(obj)
            except (AwsError, ClientError) as err:
                self._conditions(obj, synced=False, message=str(err))

    def required_minor_upgrade(self, identifier: str, version: str) -> None:
        """AWS upgrades a deprecated minor version itself, in the maintenance window, whatever
        AutoMinorVersionUpgrade says (RDS User Guide, "Automatically upgrading the minor engine
        version"; required upgrades of versions at their end of support)."""
        self.rds.modify_db_instance(
            DBInstanceIdentifier=identifier, EngineVersion=version, ApplyImmediately=True
        )
        self._described = None

    def _tag_external(self, obj: dict) -> dict:
        """upjet's TagInitializer (provider-upjet-aws config/overrides.go AddExternalTagsField,
        upjet pkg/config Tagger): before every reconcile it adds crossplane-kind, -name and
        -providerconfig to spec.forProvider.tags of every resource with a tags map, by an Update;
        AWS gets them with the resource's own tags."""
        if obj["kind"] not in TAGGED or obj["metadata"].get("deletionTimestamp"):
            return obj
        group = obj["apiVersion"].split("/")[0]
        external = {
            "crossplane-kind": f"{obj['kind']}.{group}".lower(),
            "crossplane-name": obj["metadata"]["name"],
            "crossplane-providerconfig": (obj["spec"].get("providerConfigRef") or {}).get(
                "name", ""
            ),
        }
        tags = obj["spec"].setdefault("forProvider", {}).setdefault("tags", {})
        if all(tags.get(k) == v for k, v in external.items()):
            return obj
        tags.update(external)
        self.store.update(obj, MANAGER, "external tags")
        return self.store.get(key_of(obj)) or obj

    def _conditions(self, obj: dict, synced: bool, message: str = "", ready=None) -> None:
        current = self.store.get(key_of(obj)) or obj
        conds = {c["type"]: c for c in (current.get("status") or {}).get("conditions") or []}
        s = {"type": "Synced", "status": "True", "reason": "ReconcileSuccess"}
        if not synced:
            s = {
                "type": "Synced",
                "status": "False",
                "reason": "ReconcileError",
                "message": message,
            }
            self.errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {message}")
        conds["Synced"] = s
        if ready is not None:
            conds["Ready"] = (
                {"type": "Ready", "status": "True", "reason": "Available"}
                if ready
                else {"type": "Ready", "status": "False", "reason": "Creating"}
            )
        for c in conds.values():
            old = next(
                (o for o in (current.get("status") or {}).get("conditions") or []
                 if o["type"] == c["type"]),
                None,
            )  # fmt: skip
            same = old and old["status"] == c["status"]
            c["lastTransitionTime"] = old["lastTransitionTime"] if same else self.clock.stamp()
        current.setdefault("status", {})["conditions"] = list(conds.values())
        self.store.update(current, MANAGER, "conditions")

    def _call(self, what: str, fn, **params):
        self.calls.append(what)
        self._described = None
        return fn(**params)

    # --- rds Instance -----------------------------------------------------------------------
    def _find(self, external: str | None, identifier: str) -> dict | None:
        # Terraform's Read: a `db-...` id is looked up by resource id, anything else by
        # identifier (findDBInstanceByIDSDKv2), so both the function's and upjet's names resolve.
        if self._described is None:
            # One DescribeDBInstances per round (moto's answer is slow to build), until a call
            # changes something.
            self._described = self.rds.describe_db_instances()["DBInstances"]
        for d in self._described:
            # moto gives a read replica its source's DbiResourceId; AWS gives each instance its
            # own, which the world derives from the identifier (deterministic, too).
            d["DbiResourceId"] = "db-" + naming.digest(d["DBInstanceIdentifier"], length=26).upper()
            if external and external in (d["DbiResourceId"], d["DBInstanceIdentifier"]):
                return d
        return None

    def _state(self, identifier: str) -> Overlay:
        o = self.overlay.setdefault(identifier, Overlay(status="available"))
        if o.until is not None and self.clock.now >= o.until:
            o.status, o.until = "available", None
        return o

    def _busy(self, identifier: str, status: str, minutes: int) -> None:
        o = self.overlay.setdefault(identifier, Overlay())
        o.status, o.until = status, self.clock.now + timedelta(minutes=minutes)

    def _observe(self, d: dict) -> dict:
        o = self._state(d["DBInstanceIdentifier"])
        seen = {k: f(d) for k, f in OBSERVED.items()}
        if d["StorageType"] == "gp3" and seen["iops"] is None:
            # AWS reports gp3's baseline (RDS User Guide, "gp3 storage"): 3000 IOPS / 125 MiB/s
            # below 400 GiB, 12000 / 500 from 400 GiB (PostgreSQL, MySQL, MariaDB); moto omits it.
            big = d["AllocatedStorage"] >= 400
            seen["iops"], seen["storageThroughput"] = (12000, 500) if big else (3000, 125)
        seen["status"] = o.status
        return seen

    def _instance(self, obj: dict) -> None:
        meta, fp = obj["metadata"], obj["spec"]["forProvider"]
        external = (meta.get("annotations") or {}).get(EXTERNAL_NAME)
        d = self._find(external, fp["identifier"])
        if meta.get("deletionTimestamp"):
            self._delete_instance(obj, d)
            return
        if d is None:
            self._create_instance(obj)
            return
        seen = self._observe(d)
        obj = self.store.get(key_of(obj)) or obj
        fp = obj["spec"]["forProvider"]
        # IdentifierFromProvider: upjet writes Terraform's id (the DBI resource id) back into
        # the external name after every observe (config/externalname.go; provider-upjet-aws#2232).
        obj["metadata"].setdefault("annotations", {})[EXTERNAL_NAME] = d["DbiResourceId"]
        policies = obj["spec"].get("managementPolicies") or ["*"]
        if "*" in policies or "LateInitialize" in policies:
            for f in LATE_INIT:
                if f not in fp and seen.get(f) is not None:
                    fp[f] = seen[f]
        obj["status"] = {
            **(obj.get("status") or {}),
            "atProvider": {
                "id": d["DbiResourceId"],
                "resourceId": d["DbiResourceId"],
                "identifier": d["DBInstanceIdentifier"],
                "arn": d["DBInstanceArn"],
                "address": d["Endpoint"]["Address"],
                "endpoint": f"{d['Endpoint']['Address']}:{d['Endpoint']['Port']}",
                "port": d["Endpoint"]["Port"],
                "status": seen["status"],
                "engineVersionActual": d["EngineVersion"],
                "allocatedStorage": d["AllocatedStorage"],
                "instanceClass": d["DBInstanceClass"],
                "multiAz": d["MultiAZ"],
                "iops": seen["iops"],
                # upjet echoes every argument Terraform reads back into atProvider.
                "parameterGroupName": seen["parameterGroupName"],
                "backupRetentionPeriod": d["BackupRetentionPeriod"],
                "backupWindow": d["PreferredBackupWindow"],
                "maintenanceWindow": d["PreferredMaintenanceWindow"],
                "latestRestorableTime": self.clock.stamp(),
                "replicas": sorted(d.get("ReadReplicaDBInstanceIdentifiers") or []),
            },
        }
        self.store.update(obj, MANAGER, "observed")
        self._connection(obj, d)
        if self.data is not None and seen["status"] != "creating":
            # The endpoint resolves once the instance is up.
            self.data.endpoints[d["Endpoint"]["Address"]] = (
                d["DBInstanceIdentifier"],
                d["Endpoint"]["Port"],
            )
        diff = {
            f: v
            for f, v in fp.items()
            if f in OBSERVED and seen.get(f) is not None and _norm(seen[f]) != _norm(v)
        }
        tags_diff = self._tags_diff(d, fp.get("tags") or {})
        busy = self._state(d["DBInstanceIdentifier"]).status != "available"
        if diff and not busy:
            forced = sorted(f for f in diff if f in FORCE_NEW)
            if forced:
                raise AwsError(
                    "refuse to update the external resource because the following update "
                    f"requires replacing it: {', '.join(forced)}"
                )
            self._modify(d, fp, diff)
        if tags_diff and not busy:
            self._tag(d, *tags_diff)
        # Terraform waits for "available" after a create or modify (async in upjet): no further
        # update is attempted meanwhile. Ready (Available) comes once the create has finished;
        # an update in progress does not take it away.
        ready = self._state(d["DBInstanceIdentifier"]).status != "creating"
        self._conditions(obj, synced=True, ready=ready)

    def _create_instance(self, obj: dict) -> None:
        fp = obj["spec"]["forProvider"]
        identifier = fp["identifier"]
        if "replicateSourceDb" in fp:
            source = self._find(fp["replicateSourceDb"], fp["replicateSourceDb"])
            # AWS: a read replica needs a source that exists, is available and keeps automated
            # backups (RDS User Guide, USER_ReadRepl "Creating a read replica"); the provider
            # retries until then (provider-upjet-aws reports the error as Synced=False).
            if source is None or self._state(source["DBInstanceIdentifier"]).status != "available":
                raise AwsError(
                    "creating RDS DB Instance (read replica): InvalidDBInstanceState: DB instance "
                    f"{fp['replicateSourceDb']} is not in available state"
                )
            if source["BackupRetentionPeriod"] == 0:
                raise AwsError(
                    "creating RDS DB Instance (read replica): InvalidDBInstanceState: Automated "
                    "backups are not enabled for this database instance"
                )
            params = calls.replica_call(fp)
            self._check_tags(params.get("Tags", []))
            self._call(
                f"CreateDBInstanceReadReplica {identifier}",
                self.rds.create_db_instance_read_replica,
                **params,
            )
        elif "snapshotIdentifier" in fp or "restoreToPointInTime" in fp:
            self._restore_instance(fp, self._password(obj))
        else:
            params = calls.create_call(fp, password=self._password(obj))
            self._check_tags(params.get("Tags", []))
            self._call(f"CreateDBInstance {identifier}", self.rds.create_db_instance, **params)
            if self.data is not None:
                self.data.create(identifier, fp["engine"], fp["engineVersion"], fp.get("dbName"))
        self._busy(identifier, "creating", CREATE_MINUTES)
        self._created[identifier] = self.clock.now
        d = self._find(identifier, identifier)
        obj = self.store.get(key_of(obj)) or obj
        ann = obj["metadata"].setdefault("annotations", {})
        ann["crossplane.io/external-create-succeeded"] = self.clock.stamp()
        ann[EXTERNAL_NAME] = d["DbiResourceId"]
        self.store.update(obj, MANAGER, "created")
        self._conditions(obj, synced=True, ready=False)

    def _restore_instance(self, fp: dict, password: str) -> None:
        operation, params, modify = calls.restore_calls(fp)
        if operation == "RestoreDBInstanceFromDBSnapshot":
            snap = self._find_snapshot(params["DBSnapshotIdentifier"])
            if (
                snap is None
                or self._state(f"snapshot:{snap['DBSnapshotIdentifier']}").status != "available"
            ):
                raise AwsError(f"{operation}: DBSnapshotNotFound or not available")
            # RDS: the restored instance cannot have less storage than the snapshot (RDS User
            # Guide, USER_RestoreFromSnapshot).
            if params.get("AllocatedStorage", snap["AllocatedStorage"]) < snap["AllocatedStorage"]:
                raise AwsError(
                    f"{operation}: InvalidParameterValue: allocated storage "
                    f"{params['AllocatedStorage']} is less than the snapshot's "
                    f"{snap['AllocatedStorage']}"
                )
            self._call(
                f"{operation} {params['DBInstanceIdentifier']}",
                self.rds.restore_db_instance_from_db_snapshot,
                **params,
            )
            if self.data is not None:
                self.data.restore_snapshot(fp["identifier"], params["DBSnapshotIdentifier"])
        else:
            source = params["SourceDBInstanceIdentifier"]
            d = self._find(source, source)
            if d is None:
                raise AwsError(f"{operation}: DBInstanceNotFound: {source}")
            created = self._created.get(source)
            when = params.get("RestoreTime")
            # RDS: the earliest restorable time is the instance's first backup (creation here);
            # a time before it, or after the latest restorable time (now), is refused.
            if when is not None and created is not None and when < created:
                raise AwsError(
                    f"{operation}: InvalidRestoreFault: restore time {when:%Y-%m-%dT%H:%M:%SZ} is "
                    f"before the earliest restorable time {created:%Y-%m-%dT%H:%M:%SZ}"
                )
            if when is not None and when > self.clock.now:
                raise AwsError(
                    f"{operation}: InvalidRestoreFault: restore time {when:%Y-%m-%dT%H:%M:%SZ} is "
                    "after the latest restorable time"
                )
            if "RestoreTime" in params:
                # moto checks the time against the real clock; the world's clock is simulated.
                params = {k: v for k, v in params.items() if k != "RestoreTime"}
                params["UseLatestRestorableTime"] = True
            self._call(
                f"{operation} {params['TargetDBInstanceIdentifier']}",
                self.rds.restore_db_instance_to_point_in_time,
                **params,
            )
            if self.data is not None:
                self.data.restore_time(fp["identifier"], d["DBInstanceIdentifier"], when)
        # Terraform applies what the restore call cannot take (password, retention, ...) right
        # after the restore, with a ModifyDBInstance.
        self._call(
            f"ModifyDBInstance {modify['DBInstanceIdentifier']} (after restore)",
            self.rds.modify_db_instance,
            **{**modify, "MasterUserPassword": password, "ApplyImmediately": True},
        )

    def _password(self, obj: dict) -> str:
        ref = obj["spec"]["forProvider"].get("passwordSecretRef")
        key = _secret_key(obj, ref)
        secret = self.store.get(key)
        if secret is None:
            # autoGeneratePassword: the provider writes the password (deterministic here; with
            # real servers behind the instances, their one master password).
            password = f"pw-{ref['name'][-12:]}-0123456789"
            if self.data is not None:
                password = MASTER_PASSWORD
            secret = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": key[3], "namespace": key[2]},
                "data": encode({ref["key"]: password}),
            }
            self.store.update(secret, MANAGER, "master password")
        return decode(secret["data"])[ref["key"]]

    def _connection(self, obj: dict, d: dict) -> None:
        ref = obj["spec"].get("writeConnectionSecretToRef")
        if not ref:
            return
        # config/cluster/rds/config.go: endpoint (host:port), address, port, username, password.
        data = {
            "endpoint": f"{d['Endpoint']['Address']}:{d['Endpoint']['Port']}",
            "address": d["Endpoint"]["Address"],
            "port": str(d["Endpoint"]["Port"]),
            "username": d["MasterUsername"],
        }
        if obj["spec"]["forProvider"].get("passwordSecretRef"):
            data["password"] = self._password(obj)
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": ref["name"], "namespace": _secret_key(obj, ref)[2]},
            "data": encode(data),
        }
        self.store.update(secret, MANAGER, "connection details")

    def _modify(self, d: dict, fp: dict, diff: dict) -> None:
        identifier = d["DBInstanceIdentifier"]
        sent = dict(diff)
        if any(f in diff for f in STORAGE_GROUP):
            sent.update({f: fp[f] for f in STORAGE_GROUP if f in fp})
        body = {
            "identifier": identifier,
            "applyImmediately": fp.get("applyImmediately", False),
            **{k: v for k, v in sent.items() if k in MODIFY_PARAM},
        }
        if fp.get("allowMajorVersionUpgrade"):
            body["allowMajorVersionUpgrade"] = True
        params = {MODIFY_PARAM[k]: (int(v) if isinstance(v, float) else v) for k, v in body.items()}
        calls.validated("ModifyDBInstance", params)
        self._check_modify(d, params)
        least = -(-d["AllocatedStorage"] * 11 // 10)  # ceil(current * 1.1)
        if d["AllocatedStorage"] < params.get("AllocatedStorage", 0) < least:
            # ModifyDBInstance AllocatedStorage: "Values that are not at least 10% greater than
            # the existing value are rounded up so that they are 10% greater" (RDS API reference).
            params["AllocatedStorage"] = least
        self._call(
            f"ModifyDBInstance {identifier} {_short(params)}",
            self.rds.modify_db_instance,
            **params,
        )
        if "AllocatedStorage" in params and params["AllocatedStorage"] != d["AllocatedStorage"]:
            self._state(identifier).storage_changed = self.clock.now
        self._busy(identifier, "modifying", MODIFY_MINUTES)

    def _check_modify(self, d: dict, p: dict) -> None:
        o, op = self._state(d["DBInstanceIdentifier"]), "ModifyDBInstance"
        engine = d["Engine"]
        storage = p.get("AllocatedStorage", d["AllocatedStorage"])
        gp3 = p.get("StorageType", d["StorageType"]) == "gp3"
        # gp3 from 400 GiB: at least 12000 IOPS (RDS User Guide, gp3 storage);
        # terraform-provider-aws#28382 is the late-initialized 3000 hitting this.
        if gp3 and storage >= 400 and p.get("Iops", 12000) < 12000:
            raise AwsError(
                f"{op}: InvalidParameterCombination: Invalid iops value for engine name "
                f"{engine} and storage type gp3: {p['Iops']}"
            )
        grows = "AllocatedStorage" in p and p["AllocatedStorage"] != d["AllocatedStorage"]
        recent = o.storage_changed and self.clock.now - o.storage_changed < STORAGE_COOLDOWN
        if grows and recent:
            raise AwsError(
                f"{op}: InvalidParameterCombination: You can't currently modify the storage "
                "of this DB instance because the previous storage change is being optimized"
            )
        window = p.get("PreferredBackupWindow")
        if window and _windows_overlap(window, d["PreferredMaintenanceWindow"]):
            # ModifyDBInstance PreferredBackupWindow: "Must not conflict with the preferred
            # maintenance window" (RDS API reference).
            raise AwsError(
                f"{op}: InvalidParameterValue: The backup window and maintenance window must "
                "not overlap."
            )
        version = p.get("EngineVersion", d["EngineVersion"])
        if _version(version) < _version(d["EngineVersion"]):
            # RDS never downgrades an engine (ModifyDBInstance EngineVersion).
            raise AwsError(
                f"{op}: InvalidParameterCombination: Cannot upgrade {engine} from "
                f"{d['EngineVersion']} to {version}"
            )
        major = version.split(".")[0] != d["EngineVersion"].split(".")[0]
        # RDS API reference, ModifyDBInstance AllowMajorVersionUpgrade.
        if major and not p.get("AllowMajorVersionUpgrade"):
            raise AwsError(
                f"{op}: InvalidParameterCombination: The AllowMajorVersionUpgrade flag must "
                "be present when upgrading to a new major version"
            )
        family = _family(engine, version)
        group = p.get("DBParameterGroupName")
        if group and group.startswith("default.") and group != f"default.{family}":
            # A parameter group must belong to the engine version's family (RDS User Guide,
            # USER_UpgradeDBInstance.PostgreSQL "major version upgrade" and parameter groups).
            raise AwsError(
                f"{op}: InvalidParameterCombination: The parameter group {group} with "
                f"DBParameterGroupFamily {group.removeprefix('default.')} can't be used for this "
                f"instance. Use a parameter group with DBParameterGroupFamily {family}."
            )
        retention = p.get("BackupRetentionPeriod")
        if o.backup_owned and retention is not None and retention != d["BackupRetentionPeriod"]:
            # AWS Backup continuous backup owns the retention, also after the rule is gone
            # (provider-aws#1356, terraform-provider-aws#33465).
            raise AwsError(
                f"{op}: InvalidParameterCombination: The DB instance is associated with an AWS "
                "Backup resource; specify the backup retention period only with the current "
                f"value ({d['BackupRetentionPeriod']})"
            )
        if retention == 0 and d.get("ReadReplicaDBInstanceIdentifiers"):
            raise AwsError(
                f"{op}: InvalidParameterCombination: Cannot set the backup retention period to 0 "
                "on a DB instance that has read replicas"
            )

    def _tags_diff(self, d: dict, want: dict) -> tuple[dict, list[str]] | None:
        have = {t["Key"]: t["Value"] for t in d.get("TagList") or []}
        add = {k: v for k, v in want.items() if have.get(k) != v}
        remove = sorted(k for k in have if k not in want)
        return (add, remove) if add or remove else None

    def _tag(self, d: dict, add: dict, remove: list[str]) -> None:
        arn = d["DBInstanceArn"]
        tags = [{"Key": k, "Value": v} for k, v in sorted(add.items())]
        # A key that exists and gets a new value is not one more tag.
        kept = {t["Key"] for t in d.get("TagList") or []} - set(remove) - set(add)
        self._check_tags(tags, existing=len(kept))
        if remove:
            self._call(
                f"RemoveTagsFromResource {sorted(remove)}",
                self.rds.remove_tags_from_resource,
                ResourceName=arn,
                TagKeys=remove,
            )
        if tags:
            self._call(
                f"AddTagsToResource {sorted(add)}",
                self.rds.add_tags_to_resource,
                ResourceName=arn,
                Tags=tags,
            )

    @staticmethod
    def _check_tags(tags: list[dict], existing: int = 0) -> None:
        # AWS tagging rules (Tagging AWS resources, "Tag naming limits and requirements"):
        # at most 50 tags; key 1-128, value 0-256 characters; "aws:" keys are reserved.
        if existing + len(tags) > 50:
            raise AwsError("TagLimitExceeded: a resource can have at most 50 tags")
        for t in tags:
            if not 1 <= len(t["Key"]) <= 128 or len(t["Value"]) > 256:
                raise AwsError(f"InvalidParameterValue: tag {t['Key']!r} exceeds the length limits")
            if t["Key"].lower().startswith("aws:"):
                raise AwsError(
                    f"InvalidParameterValue: tag key {t['Key']!r} uses the reserved prefix aws:"
                )

    def _delete_instance(self, obj: dict, d: dict | None) -> None:
        fp = obj["spec"]["forProvider"]
        if d is not None and not _orphans(obj):
            # moto copies the source's DeletionProtection onto a read replica; AWS gives the
            # replica its own (CreateDBInstanceReadReplica DeletionProtection, default false).
            protected = d["DeletionProtection"]
            if fp.get("replicateSourceDb"):
                protected = bool(fp.get("deletionProtection"))
            if protected:
                raise AwsError(
                    "DeleteDBInstance: InvalidParameterCombination: deletion protection is enabled"
                )
            params = calls.delete_call({**fp, "identifier": d["DBInstanceIdentifier"]})
            self._call(
                f"DeleteDBInstance {d['DBInstanceIdentifier']} {_short(params)}",
                self.rds.delete_db_instance,
                **params,
            )
            if self.data is not None:
                final = (
                    None
                    if params.get("SkipFinalSnapshot")
                    else params.get("FinalDBSnapshotIdentifier")
                )
                self.data.delete(
                    d["DBInstanceIdentifier"],
                    final,
                    keep_backups=not params.get("DeleteAutomatedBackups", True),
                )
        self.store.delete(key_of(obj), MANAGER)

    # --- rds Snapshot ----------------------------------------------------------------------
    def _snapshot(self, obj: dict) -> None:
        ident = obj["metadata"]["annotations"][EXTERNAL_NAME]
        if obj["metadata"].get("deletionTimestamp"):
            if not _orphans(obj) and self._find_snapshot(ident):
                self._call(
                    f"DeleteDBSnapshot {ident}",
                    self.rds.delete_db_snapshot,
                    DBSnapshotIdentifier=ident,
                )
            self.store.delete(key_of(obj), MANAGER)
            return
        snap = self._find_snapshot(ident)
        if snap is None:
            source = obj["spec"]["forProvider"]["dbInstanceIdentifier"]
            d = self._find(source, source)
            if d is None or self._state(source).status != "available":
                # RDS: a snapshot needs an available instance (InvalidDBInstanceState).
                raise AwsError(
                    f"CreateDBSnapshot: InvalidDBInstanceState: {source} is not available"
                )
            self._call(
                f"CreateDBSnapshot {ident}", self.rds.create_db_snapshot, **calls.snapshot_call(obj)
            )
            if self.data is not None and d["DBInstanceIdentifier"] in self.data.instances:
                self.data.snapshot(ident, d["DBInstanceIdentifier"])
            self._busy(f"snapshot:{ident}", "creating", MODIFY_MINUTES)
            self._conditions(obj, synced=True, ready=False)
            return
        status = self._state(f"snapshot:{ident}").status
        obj = self.store.get(key_of(obj)) or obj
        obj["status"] = {
            **(obj.get("status") or {}),
            "atProvider": {
                "id": ident,
                "dbSnapshotArn": snap["DBSnapshotArn"],
                "status": status,
                "allocatedStorage": snap["AllocatedStorage"],
                "engine": snap["Engine"],
                "engineVersion": snap["EngineVersion"],
            },
        }
        self.store.update(obj, MANAGER, "observed")
        self._conditions(obj, synced=True, ready=status == "available")

    def _find_snapshot(self, ident: str) -> dict | None:
        try:
            return self.rds.describe_db_snapshots(DBSnapshotIdentifier=ident)["DBSnapshots"][0]
        except ClientError:
            return None

    # --- provider-sql ----------------------------------------------------------------------
    def sql(self) -> None:
        """provider-sql. Without servers (no `data`) no SQL is run: its resources are Synced and
        Ready once they exist, as they are against a reachable server. With servers, its SQL is
        replayed (tests/sqlprovider.py) on the database behind the ProviderConfig's endpoint."""
        objects = [
            o for o in self.store.list()
            if o["apiVersion"].split("/")[0].endswith(("sql.crossplane.io", "sql.m.crossplane.io"))
        ]  # fmt: skip
        for obj in sorted(objects, key=_sql_order):
            if obj["kind"] == "ProviderConfig":
                if obj["metadata"].get("deletionTimestamp") and not self._in_use(obj, objects):
                    self.store.delete(key_of(obj), "provider-sql")
                continue
            if self.data is not None:
                try:
                    self._sql_replay(obj)
                except (AwsError, Unreachable, psycopg.Error, pymysql.err.MySQLError) as err:
                    self._conditions(obj, synced=False, message=str(err), ready=False)
                continue
            if obj["metadata"].get("deletionTimestamp"):
                self.store.delete(key_of(obj), "provider-sql")
                continue
            ref = obj["spec"].get("writeConnectionSecretToRef")
            try:
                if ref and obj["kind"] in ("Role", "User"):
                    self._sql_user_secret(obj, ref)
                self._conditions(obj, synced=True, ready=True)
            except AwsError as err:
                self._conditions(obj, synced=False, message=str(err), ready=False)

    def _sql_replay(self, obj: dict) -> None:
        """One reconcile of a provider-sql resource against the real server: Observe when due
        (changed, or SQL_POLL since the last), Create when it does not exist, Delete unless
        orphaned. An Update (a resource that exists but differs) is not replayed: it is reported
        as an error, since nothing the function composes should ever need one here."""
        key = key_of(obj)
        deleting = bool(obj["metadata"].get("deletionTimestamp"))
        if deleting and (_orphans(obj) or key not in self._sql_created):
            self.store.delete(key, "provider-sql")
            return
        provider, body = self._sql_target(obj)
        if deleting:
            before = len(provider.statements)
            provider.delete(body)
            self.sql_statements += provider.statements[before:]
            self._sql_created.discard(key)
            self.store.delete(key, "provider-sql")
            return
        version = obj["metadata"]["resourceVersion"]
        seen = self._sql_seen.get(key)
        if seen and seen[0] == version and self.clock.now - seen[1] < SQL_POLL:
            return
        if not provider.up_to_date(body):
            if key in self._sql_created:
                raise AwsError(
                    f"{obj['kind']} {obj['metadata']['name']} differs from what was created "
                    "(provider-sql would update it; the world does not replay updates)"
                )
            before = len(provider.statements)
            details = provider.create(body)
            self.sql_statements += provider.statements[before:]
            ref = obj["spec"].get("writeConnectionSecretToRef")
            if ref and details:
                self._sql_user_secret(obj, ref, details["password"])
        # Also where it existed already: a group role a restored instance shares (one server).
        self._sql_created.add(key)
        self._conditions(obj, synced=True, ready=True)
        # The condition write is a new version, not a change of the resource.
        self._sql_seen[key] = (self.store.get(key)["metadata"]["resourceVersion"], self.clock.now)

    def _sql_target(self, obj: dict) -> tuple[object, dict]:
        """The provider client for the server behind the ProviderConfig's endpoint, and the
        body with the instance's database names routed (world/data.py)."""
        pc, source = self._provider_config(obj)
        mapping = pc["spec"]["credentials"].get("secretKeyMapping") or {}
        assert self.data is not None
        _, backing = self.data.target(source[mapping.get("endpoint", "endpoint")], source["port"])
        if source.get("password") != MASTER_PASSWORD:
            raise Unreachable("password authentication failed for the ProviderConfig's user")
        body = copy.deepcopy(obj)
        fp = body["spec"]["forProvider"]
        if "database" in fp:
            fp["database"] = _routed(backing, fp["database"])
        config = copy.deepcopy(pc)
        if "defaultDatabase" in config["spec"]:
            config["spec"]["defaultDatabase"] = _routed(backing, config["spec"]["defaultDatabase"])
        return provider_for(backing.server, config), body

    def _in_use(self, pc: dict, objects: list[dict]) -> bool:
        """A ProviderConfig keeps its finalizer while resources use it (ProviderConfigUsage,
        crossplane-runtime providerconfig.Reconciler); they are gone once deleted here."""
        ns = pc["metadata"].get("namespace", "")
        return any(
            o["kind"] != "ProviderConfig"
            and o["spec"].get("providerConfigRef", {}).get("name") == pc["metadata"]["name"]
            and o["metadata"].get("namespace", "") == ns
            and self.store.get(key_of(o)) is not None
            for o in objects
        )

    def _provider_config(self, obj: dict) -> tuple[dict, dict[str, str]]:
        pc_name = obj["spec"]["providerConfigRef"]["name"]
        ns = obj["metadata"].get("namespace", "")
        pcs = [
            p for p in self.store.list(kind="ProviderConfig")
            if p["metadata"]["name"] == pc_name and p["metadata"].get("namespace", "") == ns
        ]  # fmt: skip
        if not pcs:
            raise AwsError(f"cannot get ProviderConfig {pc_name}")
        creds = pcs[0]["spec"]["credentials"]["connectionSecretRef"]
        secret = self.store.get(("v1", "Secret", creds.get("namespace") or ns, creds["name"]))
        if secret is None:
            raise AwsError(f"cannot get the connection Secret of ProviderConfig {pc_name}")
        return pcs[0], decode(secret["data"])

    def _sql_user_secret(self, obj: dict, ref: dict, password: str | None = None) -> None:
        """provider-sql's Role/User publish username (the external name), a generated password,
        and the endpoint and port of their ProviderConfig's connection Secret
        (pkg/controller/postgresql/role, mysql/user: ConnectionDetails)."""
        pc, source = self._provider_config(obj)
        ns = obj["metadata"].get("namespace", "")
        mapping = pc["spec"]["credentials"].get("secretKeyMapping") or {}
        user = obj["metadata"]["annotations"]["crossplane.io/external-name"]
        data = {
            "username": user.partition("@")[0],
            "password": password or f"sql-{naming.digest(user, length=16)}",
            "endpoint": source[mapping.get("endpoint", "endpoint")],
            "port": source["port"],
        }
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": ref["name"], "namespace": ref.get("namespace") or ns},
            "data": encode(data),
        }
        self.store.update(body, "provider-sql", "user connection details")

    # --- rds ParameterGroup (Terraform aws_db_parameter_group) ------------------------------
    def _parametergroup(self, obj: dict) -> None:
        name = obj["metadata"]["annotations"][EXTERNAL_NAME]  # NameAsIdentifier
        if obj["metadata"].get("deletionTimestamp"):
            if name in self.groups:
                # AWS: InvalidDBParameterGroupState "... is in use" while an instance uses it
                # (DeleteDBParameterGroup API reference); the provider retries.
                users = [
                    d["DBInstanceIdentifier"]
                    for d in self.rds.describe_db_instances()["DBInstances"]
                    if any(g["DBParameterGroupName"] == name for g in d["DBParameterGroups"])
                ]
                if users:
                    raise AwsError(
                        f"InvalidDBParameterGroupState: {name} is in use by {', '.join(users)}"
                    )
                self._call(
                    f"DeleteDBParameterGroup {name}",
                    self.rds.delete_db_parameter_group,
                    DBParameterGroupName=name,
                )
                del self.groups[name]
            self.store.delete(key_of(obj), MANAGER)
            return
        if name not in self.groups:
            todo = aws_parameters.create_calls(obj)
        else:
            todo = aws_parameters.update_calls(self.groups[name], obj)
        for operation, params in todo:
            self._call(f"{operation} {name} {_short_params(params)}", getattr(
                self.rds, xform_name(operation)), **params)  # fmt: skip
        self.groups[name] = obj
        current = self.store.get(key_of(obj)) or obj
        current.setdefault("status", {})["atProvider"] = {
            "id": name,
            "arn": f"arn:aws:rds:{self.region}:123456789012:pg:{name}",
        }
        self.store.update(current, MANAGER, "atProvider")
        self._conditions(obj, synced=True, ready=True)

    # --- AWS Backup -------------------------------------------------------------------------
    def _vault(self, obj: dict) -> None:
        name = obj["metadata"]["annotations"][EXTERNAL_NAME]
        if obj["metadata"].get("deletionTimestamp"):
            # deletionPolicy Orphan: the vault and its recovery points stay.
            self.store.delete(key_of(obj), MANAGER)
            return
        vaults = {v["BackupVaultName"] for v in self.backup.list_backup_vaults()["BackupVaultList"]}
        if name not in vaults:
            self._call(
                f"CreateBackupVault {name}", self.backup.create_backup_vault, BackupVaultName=name
            )
        self._conditions(obj, synced=True, ready=True)

    def _plan(self, obj: dict) -> None:
        fp = obj["spec"]["forProvider"]
        plan_id = (obj["metadata"].get("annotations") or {}).get(EXTERNAL_NAME)
        if obj["metadata"].get("deletionTimestamp"):
            if plan_id in self.plans:
                self._call(
                    f"DeleteBackupPlan {fp['name']}",
                    self.backup.delete_backup_plan,
                    BackupPlanId=plan_id,
                )
                del self.plans[plan_id]
            self.store.delete(key_of(obj), MANAGER)
            return
        params = calls.backup_plan_call(fp)
        if plan_id not in self.plans:
            plan_id = self._call(
                f"CreateBackupPlan {fp['name']}", self.backup.create_backup_plan, **params
            )["BackupPlanId"]
            obj = self.store.get(key_of(obj)) or obj
            obj["metadata"].setdefault("annotations", {})[EXTERNAL_NAME] = plan_id
            self.store.update(obj, MANAGER, "created")
        elif self.plans[plan_id] != params["BackupPlan"]:
            self._call(
                f"UpdateBackupPlan {fp['name']}",
                self.backup.update_backup_plan,
                BackupPlanId=plan_id,
                BackupPlan=params["BackupPlan"],
            )
        self.plans[plan_id] = params["BackupPlan"]
        self._conditions(obj, synced=True, ready=True)

    def _selection(self, obj: dict) -> None:
        fp = obj["spec"]["forProvider"]
        key = key_of(obj)
        if obj["metadata"].get("deletionTimestamp"):
            if key in self.selections:
                self.calls.append(f"DeleteBackupSelection {fp['name']}")
                del self.selections[key]
            self.store.delete(key, MANAGER)
            return
        owner = obj["metadata"]["ownerReferences"][0]["uid"]
        plans = [
            p for p in self.store.list(kind="Plan")
            if p["metadata"]["ownerReferences"][0]["uid"] == owner
            and (p["metadata"].get("annotations") or {}).get(EXTERNAL_NAME) in self.plans
        ]  # fmt: skip
        if not plans:
            raise AwsError("cannot resolve references: planId: no Plan with a matching controller")
        plan_id = plans[0]["metadata"]["annotations"][EXTERNAL_NAME]
        params = calls.backup_selection_call(fp, plan_id)
        if key in self.selections and self.selections[key] != params:
            # Terraform's aws_backup_selection has no Update: every argument is ForceNew, and
            # upjet refuses a replacement (pkg/controller/external_tfpluginsdk.go).
            was, now = self.selections[key]["BackupSelection"], params["BackupSelection"]
            changed = sorted(k for k in now if was.get(k) != now[k])
            raise AwsError(
                "refuse to update the external resource because the following update requires "
                f"replacing it: {', '.join(changed) or 'BackupPlanId'}"
            )
        if key not in self.selections:
            # moto has no CreateBackupSelection: the world keeps selections itself.
            self.calls.append(f"CreateBackupSelection {fp['name']}")
            self.selections[key] = params
            current = self.store.get(key) or obj
            # IdentifierFromProvider: the selection's id once AWS created it.
            current.setdefault("status", {})["atProvider"] = {"id": f"sel-{fp['name']}"}
            self.store.update(current, MANAGER, "created")
        rules = self.plans[plan_id]["Rules"]
        for arn in fp["resources"]:
            identifier = arn.rsplit(":", 1)[-1]
            if any(r.get("EnableContinuousBackup") for r in rules):
                # Continuous backup takes over the instance's retention (AWS Backup Developer
                # Guide, "Continuous backups ... for Amazon RDS"): the plan's lifecycle, up to 35.
                days = min(35, max(r["Lifecycle"]["DeleteAfterDays"] for r in rules))
                self._state(identifier).backup_owned = True
                self._described = None
                self.rds.modify_db_instance(
                    DBInstanceIdentifier=identifier,
                    BackupRetentionPeriod=days,
                    ApplyImmediately=True,
                )
        self._conditions(obj, synced=True, ready=True)


def _aws_order(obj: dict) -> int:
    """References resolve in this order (an instance names its parameter group, which must
    exist); deletions go the other way, after: replicas, primaries, then what they used. (AWS
    promotes the replicas of a deleted primary; moto fails to delete them afterwards, and a
    parameter group in use cannot be deleted.)"""
    kind = obj["kind"]
    if obj["metadata"].get("deletionTimestamp"):
        if kind == "Instance":
            return 4 if obj["spec"]["forProvider"].get("replicateSourceDb") else 5
        return {"Selection": 6, "Plan": 7}.get(kind, 8)
    return {"ParameterGroup": 0, "Vault": 0, "Plan": 1, "Selection": 2}.get(kind, 3)


def _sql_order(obj: dict) -> int:
    """Roles and users before what grants to them; deleted grants before their roles."""
    deleting = bool(obj["metadata"].get("deletionTimestamp"))
    rank = {"Role": 0, "User": 0, "Grant": 1}.get(obj["kind"], 2)
    return 3 + (2 - rank) if deleting else rank


def _routed(backing: Backing, dbname: str) -> str:
    """A database of the instance by its name on the server; another name is left as it is
    (it does not exist there, and the server says so)."""
    return backing.databases.get(dbname, dbname)


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split(".") if p.isdigit())


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _windows_overlap(daily: str, weekly: str) -> bool:
    """A daily hh:mm-hh:mm window against a weekly ddd:hh:mm-ddd:hh:mm one (UTC), minute by
    minute over the week."""
    week = 7 * 24 * 60

    def minute(day: int, hhmm: str) -> int:
        return day * 24 * 60 + int(hhmm[:2]) * 60 + int(hhmm[3:5])

    a, b = weekly.lower().split("-")
    start, end = minute(_DAYS.index(a[:3]), a[4:]), minute(_DAYS.index(b[:3]), b[4:])
    weekly_minutes = {m % week for m in range(start, end if end > start else end + week)}
    s, e = daily.split("-")
    for day in range(7):
        first, last = minute(day, s), minute(day, e)
        if any(
            m % week in weekly_minutes
            for m in range(first, last if last > first else last + 24 * 60)
        ):
            return True
    return False


def _kms_key_arn(d: dict) -> str | None:
    """The key AWS reports for encrypted storage: always an ARN, the account's aws/rds key when
    the create named none (moto reports a placeholder instead)."""
    key = d.get("KmsKeyId")
    if key == "default_kms_key_id":
        _, _, _, region, account, _ = d["DBInstanceArn"].split(":", 5)
        return f"arn:aws:kms:{region}:{account}:key/aws-rds-default-0000-000000000000"
    return key


def _norm(v):
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, list):
        return sorted(_norm(x) for x in v)
    return v


def _family(engine: str, version: str) -> str:
    major = version.split(".")[0] if engine == "postgres" else ".".join(version.split(".")[:2])
    return f"{engine}{major}"


def _short(params: dict) -> str:
    return " ".join(
        f"{k}={v}" for k, v in sorted(params.items()) if k not in ("DBInstanceIdentifier",)
    )


def _short_params(params: dict) -> str:
    """The parameters a ParameterGroup call sets, for the timeline."""
    return ",".join(
        f"{p['ParameterName']}={p.get('ParameterValue', '')}" for p in params.get("Parameters", [])
    )

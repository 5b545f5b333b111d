"""What the real AWS provider (upjet) and AWS do with what the function composes (issue 9, 1-7).

Each test plays the provider's and AWS's part the way their sources say they behave (late
initialization, the DBI resource id as external name, RDS's refusals) and checks that the
composed resources converge instead of looping or locking.
"""

from __future__ import annotations

import copy
import re

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from function import kinds, naming, schedule, xrds
from tests import aws, aws_parameters, crds
from tests.helpers import (
    EXAMPLE_INPUT,
    composite,
    conditions,
    desired,
    observed_from,
    run,
    status,
)

REGION = "eu-central-1"
EXTERNAL_NAME = "crossplane.io/external-name"
ACCOUNT = "123456789012"


def make(kind: str, spec: dict, namespaced: bool = False, name: str = "orders", ns: str = "team-a"):
    if not namespaced:
        return composite(kind, spec, name=name, namespace=ns)
    return {
        "apiVersion": f"{xrds.GROUP}/{xrds.VERSION}",
        "kind": kind,
        "metadata": {"name": name, "namespace": ns, "uid": "0b7c-namespaced"},
        "spec": spec,
    }


def available(body: dict, **at) -> dict:
    """A composed rds Instance once AWS created it: the provider rewrote its external name to the
    DBI resource id, and reports what AWS says."""
    rid = resource_id(body)
    seen = observed_from(
        body,
        at_provider={
            "id": rid,
            "resourceId": rid,
            "status": "available",
            "address": f"{body['spec']['forProvider']['identifier']}.x.rds.amazonaws.com",
            "arn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{body['spec']['forProvider']['identifier']}",
            "latestRestorableTime": "2026-11-24T09:35:00Z",
            **at,
        },
    )
    seen["metadata"].setdefault("annotations", {})[EXTERNAL_NAME] = rid
    return seen


def resource_id(body: dict) -> str:
    """The DBI resource id AWS gives the instance (one per identifier here)."""
    return "db-" + naming.digest(body["spec"]["forProvider"]["identifier"], length=20).upper()


def settle(stub, xr, inp=None, rounds=3) -> tuple[dict, dict]:
    """Compose, let the provider create everything, and compose again until nothing changes."""
    observed: dict = {}
    for _ in range(rounds):
        got = desired(run(stub, xr, observed, inp))
        observed = {
            n: available(b) if b["kind"] == "Instance" else observed_from(b) for n, b in got.items()
        }
    return observed, desired(run(stub, xr, observed, inp))


def backup_object(
    dbname: str | None = "orders", storage: int = 120, namespaced: bool = False
) -> dict:
    xr = make("Backup", {"instanceRef": "orders"}, namespaced, name="pre-migration")
    ident = "team-a-pre-migration-123456"
    xr["status"] = {
        "phase": "available",
        "snapshotIdentifier": ident,
        "snapshotArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:snapshot:{ident}",
        "region": REGION,
        "engine": "postgresql",
        "engineVersion": "17.5",
        "plan": "single-medium",
        "allocatedStorage": storage,
        **({"dbname": dbname} if dbname else {}),
    }
    return xr


SNAPSHOT_ARN = f"arn:aws:rds:{REGION}:{ACCOUNT}:snapshot:orders-2026-11-24"
HOURLY_CLUSTER = {
    "serviceVersion": "17.5",
    "plan": "cluster-small",
    "config": {"compute": {"replicas": {"count": 2}}},
    "backup": {"schedule": "hourly"},
}


# --- 1. external names ------------------------------------------------------------------------


def external_name(body: dict) -> str | None:
    return (body.get("metadata") or {}).get("annotations", {}).get(EXTERNAL_NAME)


@pytest.mark.parametrize("namespaced", [False, True], ids=["cluster", "namespaced"])
def test_external_names_are_the_providers_on_instances_and_ours_where_we_name(stub, namespaced):
    inst_xr = make("PostgresqlInstance", HOURLY_CLUSTER, namespaced)
    restore_xr = make("Restore", {"backupRef": "pre-migration"}, namespaced)
    pool = [backup_object(namespaced=namespaced)]
    fresh = {
        **desired(run(stub, inst_xr)),
        "restore": desired(run(stub, restore_xr, pool=pool))["instance"],
    }
    # Before AWS created them, the function names no rds Instance: the provider will.
    assert {n: external_name(b) for n, b in fresh.items() if b["kind"] == "Instance"} == {
        "instance": None,
        "restore": None,
    }

    observed, got = settle(stub, inst_xr)
    inst_xr["status"] = {**status(run(stub, inst_xr, observed)), "conditions": [
        {"type": "Ready", "status": "True"}]}  # fmt: skip
    snap_xr = make("Backup", {"instanceRef": "orders"}, namespaced, name="pre-migration")
    bodies = {**got, **desired(run(stub, snap_xr, pool=[inst_xr]))}
    assert {"replica-2", "backup-vault", "backup-plan", "backup-selection", "snapshot"} <= set(
        bodies
    )
    names = {n: external_name(b) for n, b in bodies.items()}
    # upjet: Instance is IdentifierFromProvider (the DBI resource id, which the provider writes
    # and the function only repeats once AWS reports it); Plan and Selection too, before the
    # provider names them; Vault is NameAsIdentifier and Snapshot ParameterAsIdentifier: ours.
    instances = {n for n, b in bodies.items() if b["kind"] == "Instance"}
    assert {n: names[n] for n in instances} == {n: resource_id(got[n]) for n in instances}
    assert {names["backup-plan"], names["backup-selection"]} == {None}
    assert names["backup-vault"] == schedule.names(
        got["instance"]["spec"]["forProvider"]["identifier"]
    )
    assert names["snapshot"].startswith("team-a-pre-migration-")
    # No loop: the next answer is the same.
    assert desired(run(stub, inst_xr, observed)) == got

    # An instance composed by an earlier version carries its identifier as external name: it
    # gets the provider's name, never loses it (server-side apply would delete it otherwise).
    old = copy.deepcopy(observed)
    for n in instances:
        ident = old[n]["spec"]["forProvider"]["identifier"]
        old[n]["metadata"]["annotations"][EXTERNAL_NAME] = ident
    upgraded = desired(run(stub, inst_xr, old))
    assert {n: external_name(upgraded[n]) for n in instances} == {
        n: resource_id(got[n]) for n in instances
    }


# --- 2. late initialization -------------------------------------------------------------------


@pytest.mark.parametrize("namespaced", [False, True], ids=["cluster", "namespaced"])
def test_every_composed_rds_instance_excludes_late_initialization(stub, namespaced):
    _, got = settle(
        stub, make("MysqlInstance", {**HOURLY_CLUSTER, "serviceVersion": "8.4.5"}, namespaced)
    )
    pool = [backup_object(namespaced=namespaced)]
    for source in (
        {"backupRef": "pre-migration"},
        {"backupArn": SNAPSHOT_ARN, "serviceInstanceType": "postgresql", "plan": "single-small",
         "config": {"database": {"name": "orders"}}},
    ):  # fmt: skip
        restored = desired(run(stub, make("Restore", source, namespaced), pool=pool))
        got[f"restore-{len(got)}"] = restored["instance"]
    instances = {n: b for n, b in got.items() if b["kind"] == "Instance"}
    assert len(instances) == 5
    for name, body in instances.items():
        assert body["spec"]["managementPolicies"] == ["Observe", "Create", "Update", "Delete"], name
        assert not aws.late_initializes(body), name
        crds.validate(body)


# What AWS reports for a gp3 PostgreSQL 16 instance that late initialization would copy.
REPORTED = {"iops": 3000, "storageThroughput": 125, "parameterGroupName": "default.postgres16"}


@pytest.mark.parametrize("namespaced", [False, True], ids=["cluster", "namespaced"])
@pytest.mark.parametrize(
    ("case", "before", "after", "want"),
    [
        (
            "StorageGrowth100To450GiB",
            {"serviceVersion": "16.9", "plan": "single-small", "config": {"allocatedStorage": 100}},
            {"serviceVersion": "16.9", "plan": "single-small", "config": {"allocatedStorage": 450}},
            {"AllocatedStorage": 450, "EngineVersion": "16.9"},
        ),
        (
            "MajorUpgrade16To17",
            {"serviceVersion": "16.9", "plan": "single-small", "config": {"allocatedStorage": 100}},
            {"serviceVersion": "17.5", "plan": "single-small", "config": {"allocatedStorage": 100}},
            {"AllocatedStorage": 100, "EngineVersion": "17.5"},
        ),
    ],
)
def test_storage_growth_and_major_upgrade_converge(
    stub, rds, namespaced, case, before, after, want
):
    first = desired(run(stub, make("PostgresqlInstance", before, namespaced)))
    body = first["instance"]
    fp = body["spec"]["forProvider"]
    aws_parameters.provide(rds, first)
    rds.create_db_instance(**aws.create_call(fp, password="p" * 16))
    db = rds.describe_db_instances(DBInstanceIdentifier=fp["identifier"])["DBInstances"][0]
    # The provider observes AWS (late-initializing whatever the policies let it).
    seen = available(aws.observe(body, REPORTED), allocatedStorage=100)

    new = desired(run(stub, make("PostgresqlInstance", after, namespaced), {"instance": seen}))
    applied = aws.applied_spec(new["instance"], seen)
    # Of the fields the provider would late-initialize, only what the function composes is sent
    # (its own parameter group of the right family), never what AWS reported.
    composed = new["instance"]["spec"]["forProvider"]
    stale = {k: applied[k] for k in aws.LATE_INITIALIZED if k in applied and k not in composed}
    assert not stale, f"{case}: stale {stale}"
    assert applied.get("parameterGroupName") == composed["parameterGroupName"], case
    params = aws.modify_call(applied)
    assert aws.refusal(params, db) is None, case
    aws_parameters.provide(rds, new)
    changed = rds.modify_db_instance(**params)["DBInstance"]
    assert {k: changed[k] for k in want} == want, case


def test_late_initialization_would_lock_the_instance():
    """The AWS rules the test above relies on do refuse what late initialization leaves."""
    db = {
        "Engine": "postgres",
        "EngineVersion": "16.9",
        "AllocatedStorage": 100,
        "StorageType": "gp3",
    }
    grown = {
        "DBInstanceIdentifier": "x",
        "AllocatedStorage": 450,
        "StorageType": "gp3",
        "Iops": 3000,
    }
    assert aws.refusal(grown, db) == (
        "Invalid iops value for engine name postgres and storage type gp3: 3000"
    )
    upgraded = {"DBInstanceIdentifier": "x", "EngineVersion": "17.5",
                "DBParameterGroupName": "default.postgres16"}  # fmt: skip
    assert aws.refusal(upgraded, db) == (
        "The parameter group default.postgres16 with DBParameterGroupFamily postgres16 can't be "
        "used for this instance. Use a parameter group with DBParameterGroupFamily postgres17."
    )
    body = {"spec": {"forProvider": {"allocatedStorage": 100}}}  # no policies: the CRD's ["*"]
    assert aws.observe(body, REPORTED)["spec"]["forProvider"] == {
        "allocatedStorage": 100,
        **REPORTED,
    }


# --- 3. ForceNew fields -------------------------------------------------------------------------

KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize(
    "key",
    [
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "alias/aws/rds",
        f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/databases",
        f"arn:aws:kms:{REGION}:123:key/1234abcd",
    ],
)
def test_kms_key_that_is_not_a_key_arn_is_refused_naming_the_field(stub, key):
    inp = {**copy.deepcopy(EXAMPLE_INPUT), "kmsKeyId": key}
    rsp = run(
        stub,
        make("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-small"}),
        inp=inp,
    )
    assert [r.severity for r in rsp.results] == [fnv1.SEVERITY_FATAL]
    assert (
        "input.kmsKeyId: value error, must be the ARN of a KMS key, "
        "arn:aws:kms:<region>:<account>:key/<key id> (AWS reports the ARN: a key id or an alias "
        f"would lock every instance it encrypts) (got '{key}')"
    ) in rsp.results[0].message
    assert desired(rsp) == {}


def test_kms_key_arn_encrypts_new_instances_and_restores_take_the_snapshots(stub, rds):
    inp = {**copy.deepcopy(EXAMPLE_INPUT), "kmsKeyId": KEY_ARN}
    spec = {"serviceVersion": "17.5", "plan": "single-small"}
    made = desired(run(stub, make("PostgresqlInstance", spec), inp=inp))
    aws_parameters.provide(rds, made)
    fp = made["instance"]["spec"]["forProvider"]
    assert (fp["kmsKeyId"], fp["storageEncrypted"], fp["username"]) == (KEY_ARN, True, "dbadmin")
    rds.create_db_instance(**aws.create_call(fp, password="p" * 16))
    snap = rds.create_db_snapshot(DBSnapshotIdentifier="s1", DBInstanceIdentifier=fp["identifier"])
    arn = snap["DBSnapshot"]["DBSnapshotArn"]
    restore = {"backupArn": arn, "serviceInstanceType": "postgresql", "plan": "single-small",
               "config": {"database": {"name": "app"}}}  # fmt: skip
    restored = desired(run(stub, make("Restore", restore), inp=inp))
    aws_parameters.provide(rds, restored)
    rfp = restored["instance"]["spec"]["forProvider"]
    # ForceNew fields the snapshot decides: composing any other value would lock the instance.
    assert not {"storageEncrypted", "kmsKeyId", "username", "dbName"} & set(rfp)
    _, params, modify = aws.restore_calls(rfp)
    new = rds.restore_db_instance_from_db_snapshot(**params)["DBInstance"]
    rds.modify_db_instance(**modify)
    assert (new["StorageEncrypted"], new["MasterUsername"]) == (True, "dbadmin")


# --- 4. restores from a snapshot ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "spec", "pool", "message"),
    [
        (
            "ArnWithoutDatabaseName",
            {
                "backupArn": SNAPSHOT_ARN,
                "serviceInstanceType": "postgresql",
                "plan": "single-small",
            },
            [],
            'cannot restore Restore "orders": spec.config.database.name is required: '
            "spec.backupArn does not tell the name of the database inside the snapshot, and RDS "
            "restores the snapshot's database whatever name is asked for; allowed: the name of "
            "the database in the snapshot",
        ),
        (
            "BackupWithoutRecordedDatabaseName",
            {"backupRef": "pre-migration"},
            [backup_object(dbname=None)],
            'cannot restore Restore "orders": spec.config.database.name is required: the source '
            "does not tell the name of the database inside the snapshot, and RDS restores the "
            "snapshot's database whatever name is asked for; allowed: the name of the database "
            "in the snapshot",
        ),
        (
            "DecryptingRestore",
            {"backupRef": "pre-migration", "config": {"encryptedStorage": False}},
            [backup_object()],
            'cannot restore Restore "orders": spec.config.encryptedStorage false: a restore keeps '
            "the encryption of its source; allowed: true or unset",
        ),
    ],
)
def test_restore_refuses_what_the_snapshot_decides(stub, case, spec, pool, message):
    rsp = run(stub, make("Restore", spec), pool=pool)
    cond = conditions(rsp)["SpecValid"]
    assert (cond.status, cond.reason, cond.message) == (
        fnv1.STATUS_CONDITION_FALSE,
        "RestoreSourceInvalid",
        message,
    ), case
    assert [(r.reason, r.message) for r in rsp.results] == [("RestoreSourceInvalid", message)]
    assert desired(rsp) == {}, case


def test_restore_takes_the_database_and_never_less_storage_than_the_snapshot(stub, rds):
    # backupRef: the database and size recorded on the Backup.
    spec = {"backupRef": "pre-migration", "config": {"allocatedStorage": 100}}
    got = desired(run(stub, make("Restore", spec), pool=[backup_object(storage=300)]))
    assert got["instance"]["spec"]["forProvider"]["allocatedStorage"] == 300
    assert got["sql-providerconfig"]["spec"]["defaultDatabase"] == "orders"

    # backupArn: the snapshot's own size unless the developer asks for one.
    made = desired(
        run(stub, make("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-medium"}))
    )
    aws_parameters.provide(rds, made)
    src = made["instance"]["spec"]["forProvider"]
    rds.create_db_instance(**aws.create_call(src, password="p" * 16))
    arn = rds.create_db_snapshot(DBSnapshotIdentifier="s2", DBInstanceIdentifier=src["identifier"])[
        "DBSnapshot"
    ]["DBSnapshotArn"]
    spec = {"backupArn": arn, "serviceInstanceType": "postgresql", "plan": "single-small",
            "config": {"database": {"name": "app"}}}  # fmt: skip
    restored = desired(run(stub, make("Restore", spec)))
    aws_parameters.provide(rds, restored)
    body = restored["instance"]
    assert not {"allocatedStorage", "maxAllocatedStorage"} & set(body["spec"]["forProvider"])
    _, params, _ = aws.restore_calls(body["spec"]["forProvider"])
    new = rds.restore_db_instance_from_db_snapshot(**params)["DBInstance"]
    assert new["AllocatedStorage"] == 100, "RDS restores the snapshot's size"
    # Once AWS reports the size, it is composed and never shrinks below it.
    seen = available(body, allocatedStorage=new["AllocatedStorage"])
    rsp = run(stub, make("Restore", spec), {"instance": seen})
    assert [r.reason for r in rsp.results] == [], "the snapshot's size is no shrink to warn about"
    after = desired(rsp)["instance"]
    assert after["spec"]["forProvider"]["allocatedStorage"] == 100
    assert after["spec"]["forProvider"]["maxAllocatedStorage"] == 500


# --- 5. hourly backups -------------------------------------------------------------------------

# (step, schedule, retentionDays, what AWS Backup does after this step's apply)
# AWS Backup holds the retention while its continuous recovery point exists, at the plan's
# retention, which it applies with its next backup; "release" = the recovery point expired.
SCHEDULES = [
    ("Daily", "daily", 7, None),
    ("Hourly", "hourly", 7, "hold"),
    ("HourlyLongerRetention", "hourly", 21, "hold"),
    ("HourlySettled", "hourly", 21, "hold"),
    ("BackToDaily", "daily", 21, None),
    ("DailySettled", "daily", 21, None),
    ("RecoveryPointExpired", "daily", 21, "release"),
    ("DailyShorter", "daily", 14, None),
    ("None", "none", 14, None),
    ("HourlyAgain", "hourly", 10, "hold"),
    ("HourlyAgainSettled", "hourly", 10, "hold"),
]


def test_switching_backup_schedules_converges(stub, rds):
    spec = {"serviceVersion": "17.5", "plan": "single-small", "backup": {"window": "02:00-03:00"}}
    observed: dict = {}
    held: int | None = None  # the retention AWS Backup holds the instance at
    plan_retention: int | None = None
    ident = ""
    for step, sched, days, aws_backup in SCHEDULES:
        xr = make("PostgresqlInstance", {**spec, "backup": {**spec["backup"], "schedule": sched,
                                                          "retentionDays": days}})  # fmt: skip
        rsp = run(stub, xr, observed)
        assert conditions(rsp)["SpecValid"].status == fnv1.STATUS_CONDITION_TRUE, step
        got = desired(rsp)
        aws_parameters.provide(rds, got)
        body = got["instance"]
        fp = body["spec"]["forProvider"]
        owned_by_backup = sched == "hourly" or "backup-selection" in observed
        assert ("backupRetentionPeriod" in fp) is not owned_by_backup, step
        assert ("backupWindow" in fp) is not owned_by_backup, step
        if not ident:
            # The create call takes initProvider too.
            ident = fp["identifier"]
            rds.create_db_instance(
                **aws.create_call({**body["spec"].get("initProvider", {}), **fp}, "p" * 16)
            )
        else:
            db = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
            params = aws.modify_call(aws.applied_spec(body, observed["instance"]))
            assert aws.refusal(params, db, held) is None, step
            rds.modify_db_instance(**params)
        if "backup-plan" in got:
            rule = got["backup-plan"]["spec"]["forProvider"]["rule"][0]
            plan_retention = int(rule["lifecycle"]["deleteAfter"])
        if aws_backup == "hold" and "backup-selection" in got:
            held = plan_retention  # applied with AWS Backup's next backup
            rds.modify_db_instance(DBInstanceIdentifier=ident, BackupRetentionPeriod=held)
        elif aws_backup == "release":
            held = None
        db = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
        at = {
            "allocatedStorage": db["AllocatedStorage"],
            "backupRetentionPeriod": db["BackupRetentionPeriod"],
        }
        observed = {
            n: available(b, **at) if n == "instance" else observed_from(b) for n, b in got.items()
        }
        want = {"daily": days, "none": 0, "hourly": held or days}[sched]
        if step.endswith("Settled") or step in ("DailyShorter", "None"):
            assert db["BackupRetentionPeriod"] == want, step


def test_hourly_status_says_continuous_backup(stub):
    spec = {"serviceVersion": "17.5", "plan": "single-small", "backup": {"schedule": "hourly"}}
    _, got = settle(stub, make("PostgresqlInstance", spec))
    assert got["instance"]["spec"]["initProvider"] == {
        "backupRetentionPeriod": 7,
        "backupWindow": "03:00-04:00",
    }
    rule = got["backup-plan"]["spec"]["forProvider"]["rule"][0]
    assert rule["enableContinuousBackup"] is True


# --- 6. names and replicas ---------------------------------------------------------------------

DB_ID = re.compile(r"^[a-z](-?[a-z0-9])*$")
BACKUP_NAME = re.compile(r"^[a-zA-Z0-9_.-]{2,50}$")
DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
namespaces = st.from_regex(rf"\A{DNS_LABEL}\Z")
names = (
    st.lists(st.from_regex(rf"\A{DNS_LABEL}\Z"), min_size=1, max_size=6)
    .map(".".join)
    .filter(lambda n: len(n) <= 253)
)


def aws_names(ns: str, name: str, uid: str) -> dict[str, tuple[str, int]]:
    """Every AWS name the function derives for the objects named ns/name: (name, limit)."""
    out: dict[str, tuple[str, int]] = {}
    for kind, salt in (("instance", ()), ("restore", ("Restore",))):
        ident = naming.rds_identifier(ns, name, *salt)
        out[kind] = (ident, 63)
        for i in range(1, 16):
            out[f"{kind}-replica-{i}"] = (naming.replica_identifier(ident, i), 63)
        out[f"{kind}-final-snapshot"] = (naming.final_snapshot_identifier(ident, uid), 255)
        out[f"{kind}-aws-backup"] = (schedule.names(ident), 50)
    out["backup-snapshot"] = (naming.rds_identifier(ns, name, "Backup"), 255)
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(namespaces, names), min_size=1, max_size=8, unique=True))
def test_every_aws_name_is_valid_and_distinct_for_every_kubernetes_name(objects):
    seen: dict[str, tuple] = {}
    for ns, name in objects:
        for what, (value, limit) in aws_names(ns, name, f"uid-{ns}-{name}").items():
            pattern = BACKUP_NAME if what.endswith("aws-backup") else DB_ID
            assert pattern.match(value) and len(value) <= limit, (what, value, len(value))
            assert value not in seen, (value, seen.get(value), (ns, name, what))
            seen[value] = (ns, name, what)


def test_longest_kubernetes_names_compose_valid_aws_names(stub):
    ns = "n" * 63
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(name) == 253
    spec = {**HOURLY_CLUSTER, "config": {"compute": {"replicas": {"count": 5}}}}
    _, got = settle(stub, make("PostgresqlInstance", spec, namespaced=True, name=name, ns=ns))
    ids = [b["spec"]["forProvider"]["identifier"] for b in got.values() if b["kind"] == "Instance"]
    assert len(ids) == len(set(ids)) == 6
    for ident in ids:
        assert DB_ID.match(ident) and len(ident) <= 63, ident
    primary = got["instance"]["spec"]["forProvider"]
    assert DB_ID.match(primary["finalSnapshotIdentifier"])
    for n in ("backup-plan", "backup-selection"):
        assert BACKUP_NAME.match(got[n]["spec"]["forProvider"]["name"]), n
    for body in got.values():
        crds.validate(body)


def test_replicas_wait_for_an_available_primary_and_report_their_endpoints(stub):
    spec = {
        "serviceVersion": "17.5",
        "plan": "cluster-small",
        "config": {"compute": {"replicas": {"count": 2}}},
    }
    xr = make("PostgresqlInstance", spec)
    first = desired(run(stub, xr))
    assert not [n for n in first if n.startswith("replica-")]
    creating = observed_from(first["instance"], ready=False, at_provider={"status": "creating"})
    assert not [
        n for n in desired(run(stub, xr, {"instance": creating})) if n.startswith("replica-")
    ]
    primary = available(first["instance"])
    got = desired(run(stub, xr, {"instance": primary}))
    assert [n for n in sorted(got) if n.startswith("replica-")] == ["replica-1", "replica-2"]
    # Replicas that exist are kept while the primary is modified, and their endpoints reported.
    observed = {
        "instance": observed_from(
            got["instance"], ready=False, at_provider={"status": "modifying"}
        ),
        **{
            n: observed_from(got[n], at_provider={"address": f"{n}.x.rds.amazonaws.com"})
            for n in ("replica-2", "replica-1")
        },
    }
    rsp = run(stub, xr, observed)
    assert {"replica-1", "replica-2"} <= set(desired(rsp))
    assert status(rsp)["replicaEndpoints"] == [
        "replica-1.x.rds.amazonaws.com",
        "replica-2.x.rds.amazonaws.com",
    ]
    schema = xrds.xrd(kinds.KINDS[0])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert schema["properties"]["status"]["properties"]["replicaEndpoints"]["items"] == {
        "type": "string"
    }


# --- 7. refused restores -----------------------------------------------------------------------

REFUSED = (
    "create failed: async create failed: failed to create the resource: [{0 creating RDS DB "
    "Instance (restore to point-in-time) (x): operation error RDS: "
    "RestoreDBInstanceToPointInTime, https response error StatusCode: 400, api error "
    "InvalidParameterValue: The restore time must be after the earliest restorable time  }]"
)


def source_instance(stub) -> dict:
    xr = make("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-small"})
    observed, _ = settle(stub, xr)
    rsp = run(stub, xr, observed)
    return {**xr, "status": {**status(rsp), "conditions": [{"type": "Ready", "status": "True"}]}}


def test_refused_restore_is_reported_and_the_restore_time_can_change(stub):
    source = source_instance(stub)
    asked = {"pointInTime": {"instanceRef": "orders", "restoreTime": "2026-11-18T09:30:00Z"}}
    restore = make("Restore", asked, name="orders-0930")
    body = desired(run(stub, restore, pool=[source]))["instance"]
    # The provider's create failed: the managed resource exists, nothing exists in AWS.
    refused = observed_from(body, ready=False)
    refused["status"]["conditions"] = [
        {"type": "Ready", "status": "False", "reason": "Creating"},
        {"type": "Synced", "status": "False", "reason": "ReconcileError", "message": REFUSED},
    ]
    rsp = run(stub, restore, {"instance": refused}, pool=[source])
    message = (
        'cannot restore Restore "orders-0930": AWS refused to create the restored instance: '
        f"{' '.join(REFUSED.split())}; fix the spec (for example spec.pointInTime.restoreTime) "
        "and the restore is "
        "tried again"
    )
    cond = conditions(rsp)["SourceReady"]
    assert (cond.status, cond.reason, cond.message) == (
        fnv1.STATUS_CONDITION_FALSE,
        "RestoreRefused",
        message,
    )
    assert [(r.severity, r.reason, r.message) for r in rsp.results] == [
        (fnv1.SEVERITY_WARNING, "RestoreRefused", message)
    ]
    # The developer picks a later time: the composed restore asks for it (not frozen yet).
    later = make("Restore", {"pointInTime": {**asked["pointInTime"],
                                             "restoreTime": "2026-11-20T09:30:00Z"}},
                 name="orders-0930")  # fmt: skip
    rsp = run(stub, later, {"instance": refused}, pool=[source])
    fp = desired(rsp)["instance"]["spec"]["forProvider"]
    assert fp["restoreToPointInTime"]["restoreTime"] == "2026-11-20T09:30:00Z"
    assert status(rsp)["source"]["restoreTime"] == "2026-11-20T09:30:00Z"
    assert "RestoreParametersFrozen" not in [r.reason for r in rsp.results]
    # Once AWS accepted it, the parameters freeze.
    accepted = available(desired(rsp)["instance"])
    rsp = run(stub, restore, {"instance": accepted}, pool=[source])
    fp = desired(rsp)["instance"]["spec"]["forProvider"]
    assert fp["restoreToPointInTime"]["restoreTime"] == "2026-11-20T09:30:00Z"
    assert conditions(rsp)["SourceReady"].reason == "SourceAvailable"


def test_restored_snapshot_keeps_its_master_user_for_the_group_roles(stub):
    """A foreign snapshot (backupArn) has its own master user: the grants name the one AWS has."""
    spec = {"backupArn": SNAPSHOT_ARN, "serviceInstanceType": "postgresql", "plan": "single-small",
            "config": {"database": {"name": "orders"}}}  # fmt: skip
    xr = make("Restore", spec)
    body = desired(run(stub, xr))["instance"]
    seen = available(body, username="postgres", allocatedStorage=100)
    got = desired(run(stub, xr, {"instance": seen}))
    assert got["sql-grant-master-rw"]["spec"]["forProvider"]["role"] == "postgres"

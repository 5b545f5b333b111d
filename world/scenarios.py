"""The scenarios of the lifecycle world: each a list of developer steps, run in one world."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from function import naming
from world import data as databases
from world.crossplane import decode
from world.world import StepResult, World

NAMESPACE = "team-orders"


def claim(kind: str, name: str, spec: dict) -> dict:
    return {
        "apiVersion": "rds.aws.anynines.com/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": copy.deepcopy(spec),
    }


def postgres(spec: dict, name: str = "orders") -> dict:
    return claim("PostgresqlInstance", name, spec)


# Instance kind -> the version the workflow requests and the binding uri's scheme. MySQL
# instances are backed by the MariaDB server (world/data.py): one protocol, one client.
ENGINES = {
    "PostgresqlInstance": ("17.5", "postgresql"),
    "MariadbInstance": ("10.11.11", "mysql"),
    "MysqlInstance": ("8.4.5", "mysql"),
}
ROWS = "SELECT id FROM orders ORDER BY id"


def workflow(kind: str) -> Callable[[World], list[StepResult]]:
    """Scenarios 1 and 2: the developer workflow on `kind`, with data in real databases."""

    def play(w: World) -> list[StepResult]:
        return _workflow(w, kind)

    return play


def _workflow(w: World, kind: str) -> list[StepResult]:
    """Instance, bindings, rows written with a binding's uri, backup, more rows, restore from the
    Backup (its rows only) and to a point in time (the rows up to then), bindings on the
    restored databases, unbind (nothing lost), then delete everything: the bindings hold the
    instance; it goes with a final snapshot, its automated backups kept."""
    version, scheme = ENGINES[kind]
    spec = {"serviceVersion": version, "plan": "cluster-small"}
    spec["config"] = {"database": {"name": "orders"}}
    out = [_step(w, f"request cluster-small {version}", claim(kind, "orders", spec))]
    bindings = [
        ("orders-api", "readWrite"),
        ("orders-worker", "readWrite"),
        ("orders-report", "readOnly"),
    ]
    claims = [claim("ServiceBinding", n, {"instanceRef": "orders", "role": r}) for n, r in bindings]
    # Cluster mode: the claim's own Secret (claim/connection.go) gets the binding's keys too.
    # Namespaced mode: the binding's writeConnectionSecretToRef names the Secret it composes.
    claims[0]["spec"]["writeConnectionSecretToRef"] = {"name": "orders-api-conn"}
    step = _step(w, "bind two readWrite apps and one readOnly", claims)
    for n, _ in bindings:
        if not (w.crossplane.namespaced and n == "orders-api"):
            _expect_secret(w, step, f"{n}-creds", scheme, "orders")
    _expect_secret(w, step, "orders-api-conn", scheme, "orders")
    out.append(step)

    api, worker, report = "orders-api-conn", "orders-worker-creds", "orders-report-creds"
    apps = w.apps("apps write the first rows", minutes=2)
    w.app(apps, api, "CREATE TABLE orders (id int primary key, item varchar(20))")
    w.app(apps, api, "INSERT INTO orders VALUES (1, 'book'), (2, 'pen')")
    w.app(apps, worker, "INSERT INTO orders VALUES (3, 'cup')")
    _expect_rows(w, apps, report, [1, 2, 3])
    w.app_refused(apps, report, "INSERT INTO orders VALUES (9, 'no')")
    out.append(apps)

    out.append(
        _step(
            w, "manual backup", claim("Backup", "pre-migration", {"instanceRef": "orders"}), hours=1
        )
    )
    apps = w.apps("apps write more rows", minutes=10)
    w.app(apps, worker, "INSERT INTO orders VALUES (4, 'ink'), (5, 'map')")
    out.append(apps)
    restore_time = w.clock.now + timedelta(minutes=15)
    apps = w.apps("apps write a last row", minutes=30)
    w.app(apps, api, "INSERT INTO orders VALUES (6, 'tea')")
    out.append(apps)

    step = _step(
        w,
        "restore from the Backup",
        claim("Restore", "orders-restored", {"backupRef": "pre-migration"}),
        hours=1,
    )
    out.append(step)
    stamp = restore_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    out.append(
        _step(
            w,
            f"restore to a point in time ({stamp}: before the last row)",
            claim(
                "Restore",
                "orders-0930",
                {"pointInTime": {"instanceRef": "orders", "restoreTime": stamp}},
            ),
            hours=1,
        )
    )
    step = _step(
        w,
        "bind to the restored databases",
        [
            claim("ServiceBinding", "restored-api", {"instanceRef": "orders-restored"}),
            claim("ServiceBinding", "pit-api", {"instanceRef": "orders-0930"}),
        ],
    )
    _expect_secret(w, step, "restored-api-creds", scheme, "orders")
    _expect_secret(w, step, "pit-api-creds", scheme, "orders")
    out.append(step)
    apps = w.apps("apps read the restored databases")
    _expect_rows(w, apps, "restored-api-creds", [1, 2, 3])  # the Backup's rows only
    _expect_rows(w, apps, "pit-api-creds", [1, 2, 3, 4, 5])  # the rows up to the time
    _expect_rows(w, apps, api, [1, 2, 3, 4, 5, 6])
    out.append(apps)

    out.append(
        _step(
            w,
            "unbind orders-worker",
            delete=(("ServiceBinding", "orders-worker"),),
            may_delete=_BINDING_PARTS,
        )
    )
    apps = w.apps("nothing lost with the binding")
    _expect_rows(w, apps, api, [1, 2, 3, 4, 5, 6])
    _expect_rows(w, apps, report, [1, 2, 3, 4, 5, 6])
    out.append(apps)
    out += delete_everything(w, kind)
    return out


def delete_everything(w: World, kind: str) -> list[StepResult]:
    """Scenario 1's end: the platform lifts deletion protection; the instance is held by its
    bindings' Usages; once they are gone it goes with its final snapshot (rows and all) and its
    automated backups kept; then the restores, their bindings and the Backup."""
    out = [lift_deletion_protection(w)]
    identifier = naming.rds_identifier(NAMESPACE, "orders")
    step = _step(w, "delete the instance while bound", delete=((kind, "orders"),))
    if not any(e.reason == "DeletionBlocked" for e in w.crossplane.events):
        step.failures.append("the instance was not held by its bindings' Usages")
    if w.store.get(("rds.aws.anynines.com/v1", kind, NAMESPACE, "orders")) is None:
        step.failures.append("the instance's claim is gone while bindings use it")
    out.append(step)
    step = _step(
        w,
        "delete its bindings: the instance goes",
        delete=(("ServiceBinding", "orders-api"), ("ServiceBinding", "orders-report")),
    )
    deletes = [c for c in w.provider.calls if c.startswith(f"DeleteDBInstance {identifier} ")]
    if not deletes or "SkipFinalSnapshot=False" not in deletes[0]:
        step.failures.append(f"no DeleteDBInstance with a final snapshot: {deletes}")
    if deletes and "DeleteAutomatedBackups=False" not in deletes[0]:
        step.failures.append(f"automated backups deleted with the instance: {deletes[0]}")
    finals = [
        s["DBSnapshotIdentifier"]
        for s in w.provider.rds.describe_db_snapshots()["DBSnapshots"]
        if s["DBSnapshotIdentifier"].startswith(f"{identifier}-final-")
    ]
    if not finals:
        step.failures.append(f"no final snapshot of {identifier} in RDS")
    elif w.data is not None:
        rows = w.data.rows(w.data.snapshots[finals[0]], "orders", ROWS)
        step.lines.append(f"   final snapshot {finals[0]}: orders {[r[0] for r in rows]}")
        if [r[0] for r in rows] != [1, 2, 3, 4, 5, 6]:
            step.failures.append(f"the final snapshot has rows {rows}")
    automated = w.provider.rds.describe_db_instance_automated_backups(
        DBInstanceIdentifier=identifier
    )["DBInstanceAutomatedBackups"]
    if not automated:
        step.failures.append(f"no automated backups of {identifier} kept in RDS")
    if w.data is not None and not w.data.history.get(identifier):
        step.failures.append(f"the world kept no automated backups of {identifier}")
    out.append(step)
    step = _step(
        w,
        "delete the restores, their bindings and the Backup",
        delete=(
            ("ServiceBinding", "restored-api"),
            ("ServiceBinding", "pit-api"),
            ("Restore", "orders-restored"),
            ("Restore", "orders-0930"),
            ("Backup", "pre-migration"),
        ),
    )
    left = [f"{k[1]}/{k[3]}" for k in w.store.objects if k[1] != "Secret"]
    left += [
        f"RDS {d['DBInstanceIdentifier']}"
        for d in w.provider.rds.describe_db_instances()["DBInstances"]
    ]
    if left:
        step.failures.append(f"left after deleting everything: {', '.join(sorted(left))}")
    for server in w.data.servers.running.values() if w.data else []:
        users = (
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'b\\_%'"
            if server.engine == "postgresql"
            else "SELECT User FROM mysql.user WHERE User LIKE 'b\\_%'"
        )
        if rows := databases.as_master(server, users):
            step.failures.append(f"binding users left on {server.engine}: {rows}")
    out.append(step)
    return out


def lift_deletion_protection(w: World) -> StepResult:
    """The platform's deliberate act before a database may go: its Input without deletion
    protection (every instance of the Compositions it edits)."""
    for comp in w.crossplane.compositions.values():
        for step in comp["spec"]["pipeline"]:
            safety = (step.get("input") or {}).get("safety")
            if safety is not None:
                safety["deletionProtection"] = False
    # The Usage that held each protected composite goes with it.
    step = _step(
        w,
        "the platform lifts deletion protection (Input safety.deletionProtection)",
        may_delete=("deletion-protection",),
    )
    protected = [
        d["DBInstanceIdentifier"]
        for d in w.provider.rds.describe_db_instances()["DBInstances"]
        if d["DeletionProtection"]
    ]
    if protected:
        step.failures.append(f"still protected: {', '.join(protected)}")
    return step


_BINDING_PARTS = ("user", "grant", "usage", "secret")


def _step(w: World, name: str, *args, **kwargs) -> StepResult:
    """A step of the workflow, where nothing is refused or waiting: at its fixed point no
    condition of any claim is False (none left from an earlier moment). Unknown is what the
    function says where a condition no longer applies (a Backup's instance once its snapshot
    exists)."""
    result = w.step(name, *args, **kwargs)
    for c in w.crossplane.claims():
        for cond in (c.get("status") or {}).get("conditions") or []:
            if cond["status"] == "False" and not c["metadata"].get("deletionTimestamp"):
                result.failures.append(
                    f"{c['kind']}/{c['metadata']['name']}: {cond['type']}={cond['status']} "
                    f"{cond['reason']} {cond.get('message', '')}"
                )
    return result


def _expect_secret(w: World, step: StepResult, name: str, scheme: str, dbname: str) -> None:
    """The binding's Secret exists in the developer's namespace with a usable uri."""
    secret = w.store.get(("v1", "Secret", NAMESPACE, name))
    if secret is None:
        step.failures.append(f"Secret {NAMESPACE}/{name} does not exist")
        return
    data = decode(secret["data"])
    uri = data.get("uri", "")
    if not uri.startswith(f"{scheme}://") or f"/{dbname}?" not in uri:
        step.failures.append(f"Secret {name}: uri {uri.split('@')[-1]!r} does not name /{dbname}")
    step.lines.append(f"   Secret {NAMESPACE}/{name}: keys {', '.join(sorted(data))}")


def _expect_rows(w: World, step: StepResult, secret: str, ids: list[int]) -> None:
    rows = w.app(step, secret, ROWS)
    if rows is not None and [r[0] for r in rows] != ids:
        step.failures.append(f"app [{secret}] read ids {[r[0] for r in rows]}, want {ids}")


def _with(spec: dict, **changes) -> dict:
    """spec with dotted-path changes, e.g. config__allocatedStorage=450."""
    out = copy.deepcopy(spec)
    for path, value in changes.items():
        node = out
        *head, last = path.split("__")
        for k in head:
            node = node.setdefault(k, {})
        node[last] = value
    return out


def day2(w: World) -> list[StepResult]:
    """Scenario 3: day-2 changes on a PostgreSQL cluster, converging with no provider error."""
    spec = {
        "serviceVersion": "16.8",
        "plan": "cluster-small",
        "config": {"tags": {"team": "orders"}},
        "backup": {"schedule": "daily", "retentionDays": 7, "window": "03:00-04:00"},
    }
    steps = [("create cluster-small 16.8", spec, 0, ())]
    for title, change in [
        ("plan up to cluster-medium", {"plan": "cluster-medium"}),
        ("plan down to cluster-small", {"plan": "cluster-small"}),
        ("storage 100 -> 450 GiB", {"config__allocatedStorage": 450}),
        ("minor upgrade 16.8 -> 16.9", {"serviceVersion": "16.9"}),
        ("major upgrade 16.9 -> 17.5", {"serviceVersion": "17.5"}),
        ("replicas 1 -> 3", {"config__compute": {"replicas": {"count": 3}}}),
        ("replicas 3 -> 0", {"config__compute": {"replicas": {"count": 0}}}),
        ("backups daily -> hourly", {"backup__schedule": "hourly"}),
        ("backups hourly -> none", {"backup__schedule": "none"}),
        ("backups none -> daily", {"backup__schedule": "daily"}),
        ("tags: add cost-center, drop team", {"config__tags": {"cost-center": "42"}}),
    ]:
        spec = _with(spec, **change)
        deletes = ("replica-",) if "-> 0" in title else ()
        if "major upgrade" in title:
            # The old family's parameter group goes once the instance has left it (issue 13).
            deletes = ("parameters-postgres16",)
        if "-> none" in title:
            deletes = ("backup-plan", "backup-selection", "backup-vault")
        steps.append((title, spec, 7 * 24, deletes))  # a week between changes
    return [
        w.step(title, postgres(s), hours=hours, may_delete=deletes)
        for title, s, hours, deletes in steps
    ]


def repairs(w: World) -> list[StepResult]:
    """Scenario 4: refused edits, then reverted: the database is never touched, the conditions
    say why, and after the revert everything is as before (no stale condition, no trapped spec)."""
    spec = {
        "serviceVersion": "17.5",
        "plan": "single-small",
        "config": {"tags": {"team": "orders"}},
    }
    out = [w.step("create single-small 17.5", postgres(spec))]
    for title, bad in [
        ("serviceVersion 17.5 -> 17.6 (not offered)", {"serviceVersion": "17.6"}),
        ("plan -> single-huge (not offered)", {"plan": "single-huge"}),
        ("storage 20 GiB (below the plan)", {"config__allocatedStorage": 20}),
        ("database name changed", {"config__database": {"name": "other"}}),
        ("reserved tag aws:owner", {"config__tags": {"aws:owner": "me"}}),
    ]:
        before = _snapshot(w)
        fields = _status_fields(w)
        step = w.step(f"mistake: {title}", postgres(_with(spec, **bad)), hours=1, may_refuse=True)
        if not step.refused_by_api:
            _expect_spec_valid(w, step, valid=False)
        # The XR status is server-side applied: a field the function leaves out on the refused
        # path disappears, and clients (bindings, backups, restores) read it.
        lost = sorted(f for f in fields - _status_fields(w) if f != "conditions")
        if lost:
            step.failures.append(
                f"status fields vanished while the spec was refused: {', '.join(lost)}"
            )
        out.append(step)
        revert = w.step(f"revert: {title}", postgres(spec), hours=1)
        _expect_spec_valid(w, revert, valid=True)
        if _snapshot(w) != before:
            revert.failures.append("after the revert the database differs from before the mistake")
        out.append(revert)
    return out


def early_restore(w: World) -> list[StepResult]:
    """Scenario 5: a restore AWS refuses (before the earliest restorable time, which is later
    than latestRestorableTime - retention on a young instance), reported on the Restore, then
    fixed by the developer, converging."""
    spec = {"serviceVersion": "17.5", "plan": "single-small"}
    spec["config"] = {"database": {"name": "orders"}}
    created = w.clock.now
    out = [w.step("request single-small 17.5", postgres(spec))]
    too_early = (created - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pit = {"pointInTime": {"instanceRef": "orders", "restoreTime": too_early}}
    step = w.step(
        f"restore to {too_early}, before the instance existed",
        claim("Restore", "orders-early", pit),
        hours=2,
        expected_error="InvalidRestoreFault",
    )
    restore = w.claim("Restore", "orders-early", NAMESPACE)
    said = [
        c for c in (restore.get("status") or {}).get("conditions") or []
        if c["status"] == "False" and "restor" in c.get("message", "").lower()
    ]  # fmt: skip
    if not said:
        step.failures.append("the Restore's conditions do not say that AWS refused the restore")
    out.append(step)
    fixed = (created + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pit = {"pointInTime": {"instanceRef": "orders", "restoreTime": fixed}}
    out.append(w.step(f"fix the time to {fixed}", claim("Restore", "orders-early", pit)))
    return out


def _expect_spec_valid(w: World, step: StepResult, valid: bool) -> None:
    """A mistake the API server admitted is refused by the function (SpecValid=False, saying
    why); after the revert SpecValid is True again (no stale condition)."""
    claim = w.crossplane.claims()[0]
    conds = {c["type"]: c for c in (claim.get("status") or {}).get("conditions") or []}
    want = "True" if valid else "False"
    got = conds.get("SpecValid", {}).get("status")
    if got != want:
        step.failures.append(
            f"SpecValid is {got} ({conds.get('SpecValid', {}).get('message', '')}), want {want}"
        )


def _status_fields(w: World) -> set[str]:
    claim = w.crossplane.claims()[0]
    return {k for k, v in (claim.get("status") or {}).items() if v is not None}


def _snapshot(w: World) -> list[dict]:
    keep = (
        "DBInstanceIdentifier", "DBInstanceClass", "EngineVersion", "AllocatedStorage",
        "BackupRetentionPeriod", "MultiAZ", "DbiResourceId", "TagList",
    )  # fmt: skip
    return [
        {k: d.get(k) for k in keep} for d in w.provider.rds.describe_db_instances()["DBInstances"]
    ]


# name -> (steps, needs the SQL servers): data lives in real databases (world/data.py).
_PLAYS: dict[str, tuple[Callable[[World], list[StepResult]], bool]] = {
    "the developer workflow (PostgreSQL)": (workflow("PostgresqlInstance"), True),
    "the developer workflow (MariaDB)": (workflow("MariadbInstance"), True),
    "the developer workflow (MySQL kinds on MariaDB)": (workflow("MysqlInstance"), True),
    "day-2 changes (PostgreSQL)": (day2, False),
    "mistakes and their repair (PostgreSQL)": (repairs, False),
    "a restore AWS refuses, then fixed (PostgreSQL)": (early_restore, False),
}


@dataclass(frozen=True)
class Scenario:
    play: Callable[[World], list[StepResult]]
    namespaced: bool
    sql: bool  # needs the SQL servers (tests/sqlservers.py)


# Every scenario in both modes.
SCENARIOS: dict[str, Scenario] = {
    f"{name}, {mode}": Scenario(play, mode == "namespaced", sql)
    for mode in ("cluster mode", "namespaced")
    for name, (play, sql) in _PLAYS.items()
}

"""The lifecycle world (world/): scenarios of the developer workflow, played on the real
controllers' rules around the function's real gRPC server, and the world's own mechanics."""

from __future__ import annotations

import pytest

from world.aws import AwsError, Provider
from world.crossplane import Crossplane, Refused
from world.data import servers
from world.scenarios import SCENARIOS, postgres
from world.store import Store, key_of
from world.world import World, aws

# Every test here plays the world (moto and the controllers' rules); the quick run leaves them out.
pytestmark = pytest.mark.world


@pytest.fixture(scope="session")
def world_servers():
    """The SQL servers behind the scenarios with data, started once for the session."""
    with servers() as s:
        yield s


@pytest.mark.parametrize(
    "name",
    [pytest.param(name, marks=[pytest.mark.sql] if s.sql else []) for name, s in SCENARIOS.items()],
)
def test_scenario(server_address, name, request):
    """Every step converges: a fixed point, everything Synced and Ready, no provider error,
    then ten quiet reconciles; nothing deleted or replaced unless the step says so; the apps
    find exactly the rows each step leaves."""
    scenario = SCENARIOS[name]
    sql = request.getfixturevalue("world_servers") if scenario.sql else None
    with aws():
        steps = scenario.play(World(server_address, scenario.namespaced, sql))
    for step in steps:
        print(step.render())
    failed = [f"{s.name}: {f}" for s in steps for f in s.failures]
    assert not failed, "\n".join(failed)


# --- the world's mechanics (not scenarios): these must hold whatever the function does ----------


def test_apply_removes_what_the_manager_no_longer_sends_and_keeps_other_owners_fields():
    store = Store()
    base = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "a"}}
    store.apply({**base, "spec": {"a": 1, "b": 2}}, "crossplane")
    obj = store.get(("v1", "X", "", "a"))
    obj["spec"]["late"] = 3  # a provider's late initialization
    store.update(obj, "provider")
    store.apply({**base, "spec": {"a": 1}}, "crossplane")
    assert store.get(("v1", "X", "", "a"))["spec"] == {"a": 1, "late": 3}


def test_a_provider_rewrite_of_an_applied_field_comes_back_on_the_next_apply():
    store = Store()
    body = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "a", "annotations": {"n": "id"}}}
    store.apply(body, "crossplane")
    obj = store.get(("v1", "X", "", "a"))
    obj["metadata"]["annotations"]["n"] = "db-123"
    assert store.update(obj, "provider")
    assert store.apply(body, "crossplane")  # forced ownership: a write, every time
    assert store.get(("v1", "X", "", "a"))["metadata"]["annotations"]["n"] == "id"


_ROLE_API = "postgresql.sql.crossplane.io/v1alpha1"


def _obj(api: str, kind: str, name: str, spec: dict, owner: str = "", deleting=False) -> dict:
    meta: dict = {"name": name}
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = "2026-11-24T08:00:00Z"
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec}


def test_a_deleted_usage_holds_its_instance_until_its_user_is_gone():
    """crossplane usage/reconciler.go: the Usage keeps its finalizer while its `by` exists, so
    the instance outlives the binding's database user (the user's DROP needs the server)."""
    store = Store()
    cp = Crossplane(store, address="unused")
    usage = _obj(
        "apiextensions.crossplane.io/v1beta1",
        "Usage",
        "u",
        {
            "of": {"kind": "XPostgresqlInstance", "resourceRef": {"name": "orders"}},
            "by": {"apiVersion": _ROLE_API, "kind": "Role"},
        },
        owner="binding-uid",
    )
    store.update(usage, "crossplane")
    store.update(_obj(_ROLE_API, "Role", "user", {}, owner="binding-uid"), "crossplane")
    cp.delete(key_of(usage), "the binding is being deleted")
    cp._release_usages()
    assert store.get(key_of(usage))["metadata"]["deletionTimestamp"]
    store.delete((_ROLE_API, "Role", "", "user"), "provider-sql")
    cp._release_usages()
    assert store.get(key_of(usage)) is None


def test_a_namespaced_composite_a_usage_holds_is_not_deleted_until_the_usage_replays_it():
    """crossplane webhook/protection/usage/handler.go refuses the DELETE of anything a Usage
    holds (the object never gets a deletionTimestamp, so what uses it keeps working) and records
    the attempt; usage/reconciler.go replays it when a Usage with replayDeletion goes."""
    store = Store()
    cp = Crossplane(store, address="unused", namespaced=True)
    api = "rds.aws.anynines.com/v1"
    xr = {"apiVersion": api, "kind": "PostgresqlInstance"}
    xr["metadata"] = {"name": "orders", "namespace": "team-a"}
    store.update(xr, "kubectl")
    usage = _obj(
        "protection.crossplane.io/v1beta1",
        "Usage",
        "u",
        {
            "of": {
                "apiVersion": api,
                "kind": "PostgresqlInstance",
                "resourceRef": {"name": "orders"},
            },
            "by": {"apiVersion": _ROLE_API, "kind": "Role"},
            "replayDeletion": True,
        },
        owner="binding-uid",
    )
    usage["metadata"]["namespace"] = "team-a"
    store.update(usage, "crossplane")
    cp.delete_claim("PostgresqlInstance", "team-a", "orders")
    held = store.get(key_of(xr))
    assert "deletionTimestamp" not in held["metadata"]
    assert [e.reason for e in cp.events] == ["DeletionBlocked"]
    cp.delete(key_of(usage), "the binding is being deleted")
    cp._release_usages()
    assert store.get(key_of(usage)) is None
    assert store.get(key_of(xr))["metadata"]["deletionTimestamp"]


def test_a_provider_config_goes_after_the_resources_that_use_it():
    """crossplane-runtime ProviderConfigUsage: the provider can still reach the server to
    drop a binding's user while its instance is being deleted."""
    store = Store()
    pc = _obj(_ROLE_API, "ProviderConfig", "db1", {}, deleting=True)
    role = _obj(_ROLE_API, "Role", "user", {"providerConfigRef": {"name": "db1"}}, deleting=True)
    store.update(pc, "crossplane")
    store.update(role, "crossplane")
    with aws():
        provider = Provider(store, store.clock)
        provider.sql()
        assert store.get(key_of(pc)) is not None and store.get(key_of(role)) is None
        provider.sql()
        assert store.get(key_of(pc)) is None


def test_the_api_server_admits_the_way_back_to_the_running_state(server_address):
    """The XRDs' rules are evaluated against the stored spec, as the API server does: a version
    the function refused (17.6, not offered) was stored, and the way back must be admitted."""
    with aws():
        w = World(server_address)
        w.crossplane.apply_claim(postgres({"serviceVersion": "17.5", "plan": "single-small"}))
        w.crossplane.apply_claim(postgres({"serviceVersion": "17.6", "plan": "single-small"}))
        w.crossplane.apply_claim(postgres({"serviceVersion": "17.5", "plan": "single-small"}))
        # A rule without oldSelf still refuses what no reconcile could accept.
        with pytest.raises(Refused):
            w.crossplane.apply_claim(
                postgres(
                    {
                        "serviceVersion": "17.5",
                        "plan": "single-small",
                        "config": {"compute": {"replicas": {"count": 1}}},
                    }
                )
            )


def test_a_late_initialized_iops_is_refused_by_aws_when_gp3_storage_reaches_400_gib(server_address):
    """terraform-provider-aws#28382, played by the world whatever the function composes."""
    with aws():
        w = World(server_address)
        w.step("create", postgres({"serviceVersion": "16.8", "plan": "single-small"}))
        mr = next(o for o in w.managed() if o["kind"] == "Instance")
        # The function's management policies leave LateInitialize out: AWS's 3000 stays out.
        assert "iops" not in mr["spec"]["forProvider"]
        identifier = mr["spec"]["forProvider"]["identifier"]
        w.clock.advance(7 * 24 * 60)
        d = w.provider._find(identifier, identifier)
        with pytest.raises(
            Exception,
            match=r"Invalid iops value for engine name postgres and storage type gp3: 3000",
        ):
            w.provider._check_modify(d, {"AllocatedStorage": 450, "Iops": 3000})


_DB = {
    "DBInstanceIdentifier": "db1",
    "Engine": "postgres",
    "EngineVersion": "16.8",
    "AllocatedStorage": 100,
    "StorageType": "gp3",
    "BackupRetentionPeriod": 7,
    "ReadReplicaDBInstanceIdentifiers": [],
}


@pytest.mark.parametrize(
    ("db", "params", "backup_owned", "message"),
    [
        ({}, {"AllocatedStorage": 450}, False, None),
        (
            {},
            {"AllocatedStorage": 450, "Iops": 3000},
            False,
            "ModifyDBInstance: InvalidParameterCombination: Invalid iops value for engine name postgres and storage type gp3: 3000",
        ),
        ({}, {"AllocatedStorage": 450, "Iops": 12000}, False, None),
        (
            {},
            {"EngineVersion": "17.5"},
            False,
            "ModifyDBInstance: InvalidParameterCombination: The AllowMajorVersionUpgrade flag must be present when upgrading to a new major version",
        ),
        (
            {},
            {
                "EngineVersion": "17.5",
                "AllowMajorVersionUpgrade": True,
                "DBParameterGroupName": "default.postgres16",
            },
            False,
            "ModifyDBInstance: InvalidParameterCombination: The parameter group default.postgres16 with DBParameterGroupFamily postgres16 can't be used for this instance. Use a parameter group with DBParameterGroupFamily postgres17.",
        ),
        ({}, {"EngineVersion": "17.5", "AllowMajorVersionUpgrade": True}, False, None),
        (
            {},
            {"BackupRetentionPeriod": 0},
            True,
            "ModifyDBInstance: InvalidParameterCombination: The DB instance is associated with an AWS Backup resource; specify the backup retention period only with the current value (7)",
        ),
        ({}, {"BackupRetentionPeriod": 7}, True, None),
        (
            {"ReadReplicaDBInstanceIdentifiers": ["db1-r1"]},
            {"BackupRetentionPeriod": 0},
            False,
            "ModifyDBInstance: InvalidParameterCombination: Cannot set the backup retention period to 0 on a DB instance that has read replicas",
        ),
    ],
)
def test_aws_rules_moto_lacks(db, params, backup_owned, message):
    """The world refuses what AWS refuses, whatever the function composes."""
    with aws():
        provider = Provider(Store(), Store().clock)
        provider._state("db1").backup_owned = backup_owned
        if message is None:
            provider._check_modify({**_DB, **db}, params)
        else:
            with pytest.raises(AwsError) as err:
                provider._check_modify({**_DB, **db}, params)
            assert str(err.value) == message


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ([{"Key": "team", "Value": "orders"}], None),
        (
            [{"Key": "aws:owner", "Value": "me"}],
            "InvalidParameterValue: tag key 'aws:owner' uses the reserved prefix aws:",
        ),
        (
            [{"Key": "k" * 129, "Value": ""}],
            f"InvalidParameterValue: tag {'k' * 129!r} exceeds the length limits",
        ),
        (
            [{"Key": f"k{i}", "Value": ""} for i in range(51)],
            "TagLimitExceeded: a resource can have at most 50 tags",
        ),
    ],
)
def test_aws_tag_limits(tags, message):
    if message is None:
        Provider._check_tags(tags)
    else:
        with pytest.raises(AwsError) as err:
            Provider._check_tags(tags)
        assert str(err.value) == message


def test_the_world_is_deterministic(server_address):
    """Two runs of the same steps print the same timeline (simulated clock, seeded moto ids)."""

    def run() -> list[str]:
        with aws():
            w = World(server_address)
            steps = [
                w.step("create", postgres({"serviceVersion": "17.5", "plan": "single-small"})),
                w.step(
                    "grow", postgres({"serviceVersion": "17.5", "plan": "single-medium"}), hours=7
                ),
            ]
        return [s.render() for s in steps]

    assert run() == run()

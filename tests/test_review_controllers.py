"""What the real controllers do with what the function composed earlier, when the platform or the
cluster changes around it: fields AWS cannot change on an existing resource (Terraform ForceNew,
which upjet refuses to replace: "refuse to update the external resource because the following
update requires replacing it", after which every later update of that resource fails too)."""

from __future__ import annotations

import copy

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import instance, naming, schedule
from tests import crds
from tests.helpers import (
    EXAMPLE_INPUT,
    composite,
    conditions,
    desired,
    observed_from,
    run,
    status,
)
from world.aws import AwsError, Provider
from world.scenarios import lift_deletion_protection, postgres
from world.store import Store
from world.world import World, aws

ACCOUNT = "123456789012"
KEY_ARN = f"arn:aws:kms:eu-central-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY_ARN = f"arn:aws:kms:eu-central-1:{ACCOUNT}:key/9999abcd-12ab-34cd-56ef-1234567890ab"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/aws-backup-rotated"


def _edit_input(w: World, **fields) -> None:
    """The platform's edit of its Input in every Composition (as lift_deletion_protection)."""
    for comp in w.crossplane.compositions.values():
        for step in comp["spec"]["pipeline"]:
            inp = step.get("input")
            if inp is None:
                continue
            for path, value in fields.items():
                node = inp
                *head, last = path.split("__")
                for k in head:
                    node = node.setdefault(k, {})
                node[last] = value


def _failures(*steps) -> list[str]:
    return [f"{s.name}: {f}" for s in steps for f in s.failures]


@pytest.mark.world
def test_a_new_kms_key_in_the_input_leaves_existing_databases_updatable(server_address):
    """kms_key_id is ForceNew and AWS reports the ARN of the key a database was created with
    (the account's aws/rds key when none was named). A platform that starts naming a key in its
    Input must not make every existing database unchangeable."""
    spec = {"serviceVersion": "17.5", "plan": "single-small"}
    with aws():
        w = World(server_address)
        made = w.step("create single-small without a platform key", postgres(spec))
        _edit_input(w, kmsKeyId=KEY_ARN)
        edited = w.step("the platform names a KMS key for new databases", hours=1)
        grown = w.step(
            "plan up to single-medium", postgres({**spec, "plan": "single-medium"}), hours=24
        )
        classes = {
            d["DBInstanceClass"] for d in w.provider.rds.describe_db_instances()["DBInstances"]
        }
    assert not _failures(made, edited, grown)
    assert classes == {"db.m7g.large"}


@pytest.mark.world
def test_a_new_backup_role_in_the_input_leaves_existing_selections_as_they_are(server_address):
    """Every argument of an AWS Backup selection is ForceNew (Terraform has no update for it): a
    platform that rotates backup.hourly.iamRoleArn must not lock every hourly selection."""
    spec = {"serviceVersion": "17.5", "plan": "single-small", "backup": {"schedule": "hourly"}}
    with aws():
        w = World(server_address)
        made = w.step("create single-small with hourly backups", postgres(spec))
        _edit_input(w, backup__hourly__iamRoleArn=ROLE_ARN)
        edited = w.step("the platform names another role for AWS Backup", hours=1)
        tagged = w.step(
            "tags change", postgres({**spec, "config": {"tags": {"team": "orders"}}}), hours=24
        )
    assert not _failures(made, edited, tagged)


# --- the same, as whole composed bodies (quick run) ---------------------------------------------


def _observed_after_create(body: dict, **at) -> dict:
    """A composed resource once AWS created it (the provider reports its id)."""
    seen = observed_from(body, at_provider={"id": "created-1", **at})
    return seen


@pytest.mark.parametrize(
    "composed_key, platform_key, created, want",
    [
        # A new database takes the platform's key.
        (None, KEY_ARN, False, KEY_ARN),
        # Created without a key (AWS used the account's aws/rds key): none is composed later.
        (None, KEY_ARN, True, None),
        # Created with one key, the platform names another: the database keeps its own.
        (OTHER_KEY_ARN, KEY_ARN, True, OTHER_KEY_ARN),
        # Not created yet (the create failed): the platform's key as it is now.
        (OTHER_KEY_ARN, KEY_ARN, False, KEY_ARN),
    ],
)
def test_a_database_keeps_the_kms_key_it_was_created_with(
    stub, composed_key, platform_key, created, want
):
    xr = composite("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-small"})
    before = {
        **copy.deepcopy(EXAMPLE_INPUT),
        **({"kmsKeyId": composed_key} if composed_key else {}),
    }
    primary = desired(run(stub, xr, inp=before))["instance"]
    seen = _observed_after_create(primary) if created else observed_from(primary, ready=False)
    inp = {**copy.deepcopy(EXAMPLE_INPUT), "kmsKeyId": platform_key}
    fp = desired(run(stub, xr, {"instance": seen}, inp))["instance"]["spec"]["forProvider"]
    assert fp.get("kmsKeyId") == want


@pytest.mark.parametrize(
    "observed, want",
    [("created", "eu-central-1"), ("composed", "eu-central-1"), (None, "eu-west-1")],
)
def test_a_new_default_region_in_the_input_is_for_new_databases(stub, observed, want):
    """A database cannot move: once its primary exists (created by AWS, or only composed: the
    create call may be under way), a default region the platform changes later neither refuses
    the spec (spec.config.region is fixed) nor is composed for it; a new database takes it."""
    xr = composite("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-small"})
    primary = desired(run(stub, xr, inp=copy.deepcopy(EXAMPLE_INPUT)))["instance"]
    assert primary["spec"]["forProvider"]["region"] == "eu-central-1"
    seen = {
        "created": lambda: {"instance": _observed_after_create(primary)},
        "composed": lambda: {"instance": observed_from(primary, ready=False)},
        None: dict,
    }[observed]()
    inp = copy.deepcopy(EXAMPLE_INPUT)
    inp["aws"]["region"] = "eu-west-1"
    rsp = run(stub, xr, seen, inp)
    assert desired(rsp)["instance"]["spec"]["forProvider"]["region"] == want
    assert status(rsp)["region"] == want
    assert conditions(rsp)["SpecValid"].status == fnv1.STATUS_CONDITION_TRUE


@pytest.mark.parametrize("created, want", [(True, "first"), (False, "rotated")])
def test_a_backup_selection_keeps_the_role_it_was_created_with(stub, created, want):
    roles = {n: f"arn:aws:iam::{ACCOUNT}:role/aws-backup-{n}" for n in ("first", "rotated")}
    xr = composite(
        "PostgresqlInstance",
        {"serviceVersion": "17.5", "plan": "single-small", "backup": {"schedule": "hourly"}},
    )

    def platform(role: str) -> dict:
        inp = copy.deepcopy(EXAMPLE_INPUT)
        inp["backup"]["hourly"]["iamRoleArn"] = role
        return inp

    arn = f"arn:aws:rds:eu-central-1:{ACCOUNT}:db:orders"
    first = desired(run(stub, xr, inp=platform(roles["first"])))
    observed = {"instance": _observed_after_create(first["instance"], arn=arn)}
    selection = desired(run(stub, xr, observed, platform(roles["first"])))["backup-selection"]
    observed["backup-selection"] = (
        _observed_after_create(selection) if created else observed_from(selection, ready=False)
    )
    again = desired(run(stub, xr, observed, platform(roles["rotated"])))["backup-selection"]
    assert again["spec"]["forProvider"]["iamRoleArn"] == roles[want]


@pytest.mark.world
def test_every_tag_the_function_admits_fits_with_the_aws_providers_own(server_address):
    """upjet's TagInitializer adds crossplane-kind, -name and -providerconfig to every tagged
    resource, and AWS counts them against its 50: the developer's tags are admitted only as far
    as the replica (the most tagged resource) still fits."""
    tags = {f"t{i}": "v" for i in range(41)}
    spec = {
        "serviceVersion": "17.5",
        "plan": "cluster-small",
        "config": {"tags": {**tags, "one-more": "v"}},
    }
    with aws():
        w = World(server_address)
        refused = w.step("one tag too many", postgres(spec))
        claim = w.store.get(
            ("rds.aws.anynines.com/v1", "PostgresqlInstance", "team-orders", "orders")
        )
        fits = w.step("at the limit", postgres({**spec, "config": {"tags": tags}}))
        counts = {
            d["DBInstanceIdentifier"]: len(d["TagList"])
            for d in w.provider.rds.describe_db_instances()["DBInstances"]
        }
    spec_valid = next(c for c in claim["status"]["conditions"] if c["type"] == "SpecValid")
    assert (spec_valid["status"], spec_valid["reason"], spec_valid["message"]) == (
        "False",
        "SpecInvalid",
        'cannot compose PostgresqlInstance "orders": spec.config.tags has 42 tags; '
        "allowed: at most 41 (1 platform tag(s), 5 of the function and 3 of the AWS provider "
        "count against AWS's 50)",
    )
    assert not [f for f in refused.failures if "provider error" in f]
    assert not _failures(fits)
    assert sorted(counts.values()) == [49, 50]  # the primary has no klutch.io/role tag


# --- deleting a protected database ------------------------------------------------------------


@pytest.mark.world
@pytest.mark.parametrize("namespaced", [False, True], ids=["claims", "namespaced"])
def test_deleting_a_protected_database_deletes_nothing_until_the_platform_lifts_it(
    server_address, namespaced
):
    """With deletion protection on (the platform default), RDS refuses DeleteDBInstance. Before,
    deleting the claim (or XR) still deleted everything else Crossplane composed: its read
    replicas, its AWS Backup plan and selection (the surviving database lost its continuous
    backup), while the primary stayed in Deleting forever, managed by nothing. Now the
    composite itself is held, with the reason, until the platform lifts protection."""
    spec = {
        "serviceVersion": "17.5",
        "plan": "cluster-small",
        "backup": {"schedule": "hourly"},
    }
    with aws():
        w = World(server_address, namespaced)
        made = w.step("create cluster-small with hourly backups", postgres(spec))
        calls0 = len(w.provider.calls)
        held = w.step("delete it while protected", delete=(("PostgresqlInstance", "orders"),))
        deletes = [c for c in w.provider.calls[calls0:] if c.startswith("Delete")]
        deleting = [
            f"{o['kind']}/{o['metadata']['name']}"
            for o in w.store.objects.values()
            if o["metadata"].get("deletionTimestamp") and o["kind"] != "PostgresqlInstance"
        ]
        reasons = {e.message for e in w.crossplane.events if e.reason == "DeletionBlocked"}
        lifted = lift_deletion_protection(w)
        if namespaced:  # the refused delete is not replayed: the developer deletes again
            gone = w.step("delete it again", delete=(("PostgresqlInstance", "orders"),))
        else:  # the claim's deletion goes on by itself
            gone = w.step("its deletion goes on")
        left = sorted(f"{k[1]}/{k[3]}" for k in w.store.objects if k[1] != "Secret")
        instances = w.provider.rds.describe_db_instances()["DBInstances"]
    assert not _failures(made, lifted, gone)
    assert not [f for f in held.failures if "provider error" in f]
    assert (deletes, deleting) == ([], [])
    assert any("safety.deletionProtection" in r for r in reasons), reasons
    assert (left, instances) == ([], [])


def _protection(deletion_protection: bool) -> dict:
    inp = copy.deepcopy(EXAMPLE_INPUT)
    inp.setdefault("safety", {})["deletionProtection"] = deletion_protection
    return inp


REASON = (
    'PostgresqlInstance "orders" is protected from deletion by the platform; it can be deleted '
    "once the platform lifts protection (function input safety.deletionProtection: false)"
)


@pytest.mark.parametrize("refused", [False, True], ids=["valid", "refused spec"])
def test_the_deletion_protection_usage_follows_the_platform_on_every_path(stub, refused):
    """Composed once AWS created the database, while the Input protects; gone once protection is
    lifted, also while a refused edit keeps everything else as it exists (else the instance
    could not be deleted until the spec is fixed)."""
    spec = {"serviceVersion": "17.5", "plan": "single-small"}
    xr = composite("PostgresqlInstance", spec)
    first = desired(run(stub, xr, inp=_protection(True)))
    assert "deletion-protection" not in first  # nothing in AWS yet: nothing to protect
    observed = {"instance": _observed_after_create(first["instance"])}
    made = desired(run(stub, xr, observed, _protection(True)))
    assert made["deletion-protection"] == {
        "apiVersion": "apiextensions.crossplane.io/v1beta1",
        "kind": "Usage",
        "metadata": {},
        "spec": {
            "of": {
                "apiVersion": xr["apiVersion"],
                "kind": "XPostgresqlInstance",
                "resourceRef": {"name": xr["metadata"]["name"]},
            },
            "reason": REASON,
        },
    }
    crds.validate(made["deletion-protection"])
    observed = {n: observed[n] if n in observed else observed_from(b) for n, b in made.items()}
    asked = composite("PostgresqlInstance", {**spec, "serviceVersion": "17.4"} if refused else spec)
    kept = desired(run(stub, asked, observed, _protection(True)))
    lifted = desired(run(stub, asked, observed, _protection(False)))
    assert "deletion-protection" in kept
    assert sorted(lifted) == sorted(n for n in kept if n != "deletion-protection")


def test_nothing_is_composed_to_protect_before_there_is_a_database(stub):
    refused = composite("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "no-such-plan"})
    assert desired(run(stub, refused, inp=_protection(True))) == {}


# --- windows RDS refuses ------------------------------------------------------------------------


@pytest.mark.world
def test_a_backup_window_over_the_maintenance_window_is_refused_naming_both(server_address):
    """RDS refuses a backup window that overlaps the instance's maintenance window (AWS chose
    that one at creation, away from the first backup window). Composed anyway, the provider
    failed on every poll, and every other change of the instance with it, while the instance
    said SpecValid: the function checks it against the window AWS reports instead."""
    spec = {"serviceVersion": "17.5", "plan": "single-small", "backup": {"window": "03:00-04:00"}}
    with aws():
        w = World(server_address)
        made = w.step("create with backups at 03:00", postgres(spec))
        at = w.store.list(kind="Instance")[0]["status"]["atProvider"]
        overlapping = w.step(
            "backups at 06:30, over the maintenance window",
            postgres({**spec, "backup": {"window": "06:30-07:30"}}),
            hours=24,
        )
        claim = w.store.get(
            ("rds.aws.anynines.com/v1", "PostgresqlInstance", "team-orders", "orders")
        )
        running = w.provider.rds.describe_db_instances()["DBInstances"][0]["PreferredBackupWindow"]
        moved = w.step("backups at 07:30", postgres({**spec, "backup": {"window": "07:30-08:30"}}))
        after = w.provider.rds.describe_db_instances()["DBInstances"][0]["PreferredBackupWindow"]
    assert at["maintenanceWindow"] == "wed:06:38-wed:07:08"  # moto's choice
    spec_valid = next(c for c in claim["status"]["conditions"] if c["type"] == "SpecValid")
    assert (spec_valid["status"], spec_valid["reason"], spec_valid["message"]) == (
        "False",
        "BackupWindowInvalid",
        'cannot compose PostgresqlInstance "orders": spec.backup.window "06:30-07:30" overlaps '
        'the maintenance window "wed:06:38-wed:07:08" (UTC) AWS keeps for this instance, and RDS '
        "refuses overlapping windows; allowed: a window of at least 30 minutes outside it",
    )
    assert not [f for f in overlapping.failures if "provider error" in f or "fixed point" in f]
    assert not _failures(made, moved)
    assert (running, after) == ("03:00-04:00", "07:30-08:30")


@pytest.mark.parametrize(
    "daily, weekly, overlap",
    [
        ("03:00-04:00", "wed:06:38-wed:07:08", False),
        ("06:30-07:30", "wed:06:38-wed:07:08", True),
        ("07:08-07:38", "wed:06:38-wed:07:08", False),  # touching is not overlapping
        ("06:00-06:38", "Wed:06:38-Wed:07:08", False),  # AWS documents capitalised days too
        ("23:45-00:15", "sun:23:30-mon:00:00", True),  # both over midnight, the week's end
        ("00:00-01:00", "sun:23:30-mon:00:30", True),  # Monday morning of the next week
        ("01:00-02:00", "sun:23:30-mon:00:30", False),
        ("22:00-01:00", "tue:00:30-tue:01:00", True),  # a daily window over midnight
        ("03:00-04:00", "not a window", False),  # AWS has the last word
    ],
)
def test_windows_overlap(daily, weekly, overlap):
    assert schedule.windows_overlap(daily, weekly) is overlap


# --- versions AWS moves on its own --------------------------------------------------------------


@pytest.mark.world
def test_a_minor_upgrade_aws_requires_is_followed_never_sent_back(server_address):
    """AWS upgrades a deprecated minor version itself (autoMinorVersionUpgrade false or not).
    Terraform then reads the new version, and a spec that still asks the old one is a downgrade
    RDS refuses: every later update of the instance failed with it. The function follows what
    AWS runs, says so, and keeps refusing a downgrade the developer writes."""
    spec = {"serviceVersion": "16.8", "plan": "single-small"}
    identifier = naming.rds_identifier("team-orders", "orders")
    key = ("rds.aws.anynines.com/v1", "PostgresqlInstance", "team-orders", "orders")
    with aws():
        w = World(server_address)
        made = w.step("create 16.8", postgres(spec))
        w.provider.required_minor_upgrade(identifier, "16.9")
        events0 = len(w.crossplane.events)
        # The provider observes the new version first: its one update (Terraform's diff) is
        # refused before the function has seen what AWS did; then it must converge.
        errors0 = len(w.provider.errors)
        w.round()
        first = w.provider.errors[errors0:]
        upgraded = w.step("AWS applied a required upgrade to 16.9", hours=1)
        told = {e.reason: e.message for e in w.crossplane.events[events0:]}
        grown = w.step("plan up", postgres({**spec, "plan": "single-medium"}), hours=24)
        version = w.store.get(key)["status"]["version"]
        adopted = w.step(
            "the developer writes 16.9",
            postgres({**spec, "plan": "single-medium", "serviceVersion": "16.9"}),
        )
        w.step(
            "the developer writes 16.8 again",
            postgres({**spec, "plan": "single-medium"}),
        )
        claim = w.store.get(key)
        running = w.provider.rds.describe_db_instances()["DBInstances"][0]
    assert [e.split(": ", 1)[1] for e in first] == [
        "ModifyDBInstance: InvalidParameterCombination: Cannot upgrade postgres from 16.9 to 16.8"
    ]
    assert not _failures(made, upgraded, grown, adopted)
    assert told.get("VersionUpgradedByAws") == (
        'PostgresqlInstance "orders": AWS upgraded the instance from spec.serviceVersion "16.8" '
        'to "16.9" on its own (a required minor upgrade) and cannot go back: it is composed with '
        '"16.9"; allowed: set spec.serviceVersion to "16.9" or higher'
    ), told
    assert version == "16.9"
    spec_valid = next(c for c in claim["status"]["conditions"] if c["type"] == "SpecValid")
    assert (spec_valid["status"], spec_valid["reason"]) == ("False", "VersionDowngradeRefused")
    assert (running["EngineVersion"], running["DBInstanceClass"]) == ("16.9", "db.m7g.large")


def _primary(composed: str, actual: str, recorded: str | None = None) -> dict:
    meta = {"annotations": {naming.ANNOTATION_UPGRADED_BY_AWS: recorded}} if recorded else {}
    return {
        "metadata": meta,
        "spec": {"forProvider": {"engineVersion": composed}},
        "status": {"atProvider": {"engineVersionActual": actual}},
    }


@pytest.mark.parametrize(
    "asked, observed, want",
    [
        ("16.8", _primary("16.8", "16.9"), "16.9"),  # AWS's required upgrade, first seen
        ("16.8", _primary("16.9", "16.9", "16.8"), "16.9"),  # followed since, recorded
        ("16.9", _primary("16.9", "16.9", "16.8"), None),  # the developer caught up
        ("16.7", _primary("16.9", "16.9", "16.8"), None),  # a downgrade the developer wrote
        ("16.8", _primary("16.9", "16.9"), None),  # the same, after a normal upgrade
        ("16.9", _primary("16.9", "16.8"), None),  # an upgrade in progress
        ("16.8", _primary("16.9", "16.8"), None),  # a downgrade while it is in progress
        ("16.8", None, None),  # nothing exists yet
    ],
)
def test_what_aws_upgraded_on_its_own(asked, observed, want):
    assert instance.upgraded_by_aws(asked, observed) == want


# --- storage RDS rounds up ----------------------------------------------------------------------


@pytest.mark.world
def test_a_storage_growth_rds_would_round_up_is_refused_naming_what_it_allows(server_address):
    """RDS grows storage by at least 10%: a smaller growth is rounded up, and the instance then
    runs more than its spec asks, with a StorageShrinkKept warning on every reconcile for a size
    nobody asked to shrink. The function says what RDS allows instead, and changes nothing."""
    spec = {"serviceVersion": "17.5", "plan": "single-medium"}
    key = ("rds.aws.anynines.com/v1", "PostgresqlInstance", "team-orders", "orders")
    with aws():
        w = World(server_address)
        made = w.step("create single-medium (100 GiB)", postgres(spec))
        events0 = len(w.crossplane.events)
        small = w.step(
            "grow to 105 GiB", postgres({**spec, "config": {"allocatedStorage": 105}}), hours=24
        )
        warned = {e.reason for e in w.crossplane.events[events0:]}
        claim = w.store.get(key)
        size = w.provider.rds.describe_db_instances()["DBInstances"][0]["AllocatedStorage"]
        grown = w.step("grow to 110 GiB", postgres({**spec, "config": {"allocatedStorage": 110}}))
        after = w.provider.rds.describe_db_instances()["DBInstances"][0]["AllocatedStorage"]
    spec_valid = next(c for c in claim["status"]["conditions"] if c["type"] == "SpecValid")
    assert (spec_valid["status"], spec_valid["reason"], spec_valid["message"]) == (
        "False",
        "StorageOutOfRange",
        'cannot compose PostgresqlInstance "orders": spec.config.allocatedStorage 105 grows the '
        "running 100 GiB by less than the 10% RDS grows storage by (it would make it 110); "
        "allowed: 100, or 110..1000 (GiB)",
    )
    assert "StorageShrinkKept" not in warned
    assert not _failures(made, grown)
    assert not [f for f in small.failures if "provider error" in f or "fixed point" in f]
    assert (size, after) == (100, 110)


@pytest.mark.parametrize(
    "asked, refused",
    [(100, False), (105, True), (109, True), (110, False), (400, False)],
)
def test_storage_growth_of_less_than_ten_percent_is_refused(stub, asked, refused):
    spec = {"serviceVersion": "17.5", "plan": "single-medium"}
    first = desired(run(stub, composite("PostgresqlInstance", spec)))
    observed = {"instance": _observed_after_create(first["instance"], allocatedStorage=100)}
    xr = composite("PostgresqlInstance", {**spec, "config": {"allocatedStorage": asked}})
    rsp = run(stub, xr, observed)
    cond = next(c for c in rsp.conditions if c.type == "SpecValid")
    assert (cond.reason == "StorageOutOfRange") is refused, cond.message


@pytest.mark.world
def test_the_world_counts_a_changed_tag_value_once():
    """A resource at AWS's 50 tags may still change a value (the world counted it twice)."""
    with aws():
        provider = Provider(Store(), Store().clock)
        tags = [{"Key": f"t{i}", "Value": "v"} for i in range(50)]
        provider.rds.create_db_instance(
            DBInstanceIdentifier="db1",
            Engine="postgres",
            DBInstanceClass="db.t4g.micro",
            AllocatedStorage=20,
            MasterUsername="u",
            MasterUserPassword="p" * 16,
            Tags=tags,
        )
        d = provider.rds.describe_db_instances()["DBInstances"][0]
        provider._tag(d, {"t0": "w"}, [])
        with pytest.raises(AwsError, match="TagLimitExceeded"):
            provider._tag(d, {"t50": "v"}, [])

"""What the real controllers do with what the function composed earlier, when the platform or the
cluster changes around it: fields AWS cannot change on an existing resource (Terraform ForceNew,
which upjet refuses to replace: "refuse to update the external resource because the following
update requires replacing it", after which every later update of that resource fails too)."""

from __future__ import annotations

import copy

import pytest

from tests.helpers import EXAMPLE_INPUT, composite, desired, observed_from, run
from world.scenarios import postgres
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

"""The schema checker itself must fail where Kubernetes or the provider would refuse."""

from __future__ import annotations

import copy

import pytest

from tests import crds

INSTANCE = {
    "apiVersion": "rds.aws.upbound.io/v1beta3",
    "kind": "Instance",
    "metadata": {},
    "spec": {
        "forProvider": {"region": "eu-central-1", "instanceClass": "db.t4g.micro"},
        "providerConfigRef": {"name": "default"},
    },
}


def test_valid_instance_passes():
    crds.validate(INSTANCE)


@pytest.mark.parametrize(
    ("case", "mutate", "want"),
    [
        ("MissingRegion", lambda o: o["spec"]["forProvider"].pop("region"), "region"),
        (
            "MissingInstanceClassFailsCel",
            lambda o: o["spec"]["forProvider"].pop("instanceClass"),
            "instanceClass is a required parameter",
        ),
        (
            "UnknownFieldIsNotPruned",
            lambda o: o["spec"]["forProvider"].update(multiAZ=True),
            "multiAZ",
        ),
        (
            "WrongType",
            lambda o: o["spec"]["forProvider"].update(allocatedStorage="50"),
            "allocatedStorage",
        ),
        (
            "RestoreToPointInTimeIsAnObjectInV1beta3",
            lambda o: o["spec"]["forProvider"].update(restoreToPointInTime=[{}]),
            "restoreToPointInTime",
        ),
    ],
)
def test_invalid_instance_fails(case, mutate, want):
    obj = copy.deepcopy(INSTANCE)
    mutate(obj)
    with pytest.raises(AssertionError, match=want):
        crds.validate(obj)

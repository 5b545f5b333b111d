"""Generated XRDs, Compositions and Input CRD: fresh, schema-valid, and their CEL rules hold."""

from __future__ import annotations

import copy

import pytest

from function import generate, kinds, xrds
from tests import crds
from tests.helpers import EXAMPLE_INPUT, ROOT, load_yaml


def test_generated_files_are_up_to_date():
    stale = [
        str(p.relative_to(ROOT)) for p, text in generate.files().items() if p.read_text() != text
    ]
    assert not stale, f"run `python -m function.generate`: {stale}"


@pytest.mark.parametrize("path", sorted((ROOT / "xrds").glob("*.yaml")), ids=lambda p: p.name)
def test_xrd_validates_against_crossplane_crd(path):
    for doc in load_yaml(path):
        crds.validate(doc)


@pytest.mark.parametrize(
    "path", sorted((ROOT / "compositions").glob("*.yaml")), ids=lambda p: p.name
)
def test_composition_validates_against_crossplane_crd(path):
    for doc in load_yaml(path):
        crds.validate(doc)
        assert doc["spec"]["mode"] == "Pipeline"


def test_package_metadata_validates():
    for doc in load_yaml(ROOT / "package" / "crossplane.yaml"):
        crds.validate(doc)


def test_input_crd_schema_accepts_the_example_input():
    import jsonschema

    (crd,) = load_yaml(ROOT / "package" / "input" / "rds.fn.anynines.com_inputs.yaml")
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    jsonschema.validate(EXAMPLE_INPUT, schema)
    bad = copy.deepcopy(EXAMPLE_INPUT)
    bad["backup"]["defaults"]["retentionDays"] = 40
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def _structural_problems(node, path="") -> list[str]:
    """Kubernetes structural schemas: every node typed, no anyOf/oneOf/$ref/null types."""
    out = []
    if isinstance(node, dict):
        for bad in ("anyOf", "oneOf", "allOf", "$ref", "$defs", "title"):
            if bad in node:
                out.append(f"{path}: {bad}")
        if ("properties" in node or "items" in node) and "type" not in node:
            out.append(f"{path}: no type")
        for key, value in node.get("properties", {}).items():
            out += _structural_problems(value, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            out += _structural_problems(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            out += _structural_problems(node["additionalProperties"], f"{path}{{}}")
    return out


@pytest.mark.parametrize("kind", kinds.KINDS, ids=lambda k: k.claim)
def test_xrd_schema_is_structural(kind):
    schema = xrds.xrd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _structural_problems(schema) == []


def test_input_crd_schema_is_structural():
    assert _structural_problems(xrds.input_crd()["spec"]["versions"][0]["schema"]) == []


SPEC_SCHEMA = xrds.xrd(kinds.KINDS[0])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _spec(**kw) -> dict:
    return {"serviceVersion": "17.5", "plan": "single-small", **kw}


# (case, new spec, old spec or None for a create, the failed rule's message or None)
CEL_CASES = [
    ("PlainCreateIsAdmitted", _spec(), None, None),
    (
        "ReplicasOnSinglePlanAreRejected",
        _spec(config={"compute": {"replicas": {"count": 2}}}),
        None,
        "spec.config.compute.replicas needs a cluster-* plan",
    ),
    (
        "ZeroReplicasOnSinglePlanAreAdmitted",
        _spec(config={"compute": {"replicas": {"count": 0}}}),
        None,
        None,
    ),
    (
        "ReplicasOnClusterPlanAreAdmitted",
        _spec(plan="cluster-small", config={"compute": {"replicas": {"count": 3}}}),
        None,
        None,
    ),
    ("MinorUpgradeIsAdmitted", _spec(serviceVersion="17.5"), _spec(serviceVersion="17.4"), None),
    ("MajorUpgradeIsAdmitted", _spec(serviceVersion="17.5"), _spec(serviceVersion="16.9"), None),
    (
        "NumericNotLexicalComparison",
        _spec(serviceVersion="10.11.10"),
        _spec(serviceVersion="10.6.21"),
        None,
    ),
    (
        "ExplicitDefaultNameIsNotARename",
        _spec(config={"database": {"name": "app"}}),
        _spec(),
        None,
    ),
]


@pytest.mark.parametrize("case", CEL_CASES, ids=[c[0] for c in CEL_CASES])
def test_xrd_cel_rules(case):
    name, new, old, want = case
    failures = crds.cel_failures(SPEC_SCHEMA["properties"]["spec"], new, old, path="spec")
    if want is None:
        assert failures == [], name
    else:
        assert any(want in f for f in failures), f"{name}: {failures}"


def _kind_spec_schema(claim: str) -> dict:
    kind = next(k for k in kinds.KINDS if k.claim == claim)
    return xrds.xrd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


ARN = "arn:aws:rds:eu-central-1:123456789012:snapshot:s1"
# (case, kind, new, old, failed rule message or None)
OTHER_CEL_CASES = [
    ("RestoreFromBackupIsAdmitted", "Restore", {"backupRef": "b"}, None, None),
    ("RestoreWithTwoSourcesIsRejected", "Restore", {"backupRef": "b", "backupArn": ARN}, None,
     "exactly one source"),
    ("RestoreWithoutSourceIsRejected", "Restore", {"plan": "single-small"}, None, "exactly one source"),
    ("ArnWithoutTypeIsRejected", "Restore", {"backupArn": ARN, "plan": "single-small"}, None,
     "spec.backupArn needs spec.serviceInstanceType and spec.plan"),
    ("ArnWithTypeAndPlanIsAdmitted", "Restore",
     {"backupArn": ARN, "plan": "single-small", "serviceInstanceType": "mysql"}, None, None),
    ("PitrWithTimeIsAdmitted", "Restore",
     {"pointInTime": {"instanceRef": "o", "restoreTime": "2026-11-24T09:30:00Z"}}, None, None),
    ("PitrWithoutTimeIsRejected", "Restore", {"pointInTime": {"instanceRef": "o"}}, None,
     "spec.pointInTime needs exactly one"),
    ("PitrLatestFalseIsRejected", "Restore",
     {"pointInTime": {"instanceRef": "o", "useLatestRestorableTime": False}}, None,
     "spec.pointInTime needs exactly one"),
    ("BindingSameRoleIsAdmitted", "ServiceBinding", {"instanceRef": "o", "role": "readWrite"},
     {"instanceRef": "o"}, None),
    ("BackupPolicyChangeIsAdmitted", "Backup", {"instanceRef": "o", "deletionPolicy": "Retain"},
     {"instanceRef": "o"}, None),
]  # fmt: skip


@pytest.mark.parametrize("case", OTHER_CEL_CASES, ids=[c[0] for c in OTHER_CEL_CASES])
def test_other_xrd_cel_rules(case):
    name, claim, new, old, want = case
    failures = crds.cel_failures(_kind_spec_schema(claim), new, old, path="spec")
    if want is None:
        assert failures == [], name
    else:
        assert any(want in f for f in failures), f"{name}: {failures}"

"""Every condition type and reason is declared once (conditions.py), with its meaning, and
documented where users read: the README and docs/conditions.md. The in-process stub checks every
answer the tests produce against the declaration (helpers.check_reasons)."""

from __future__ import annotations

import re

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import conditions, kinds
from function.conditions import Reason, Type
from tests.helpers import ROOT, check_reasons

README = (ROOT / "README.md").read_text()
DOCS = (ROOT / "docs" / "conditions.md").read_text()


@pytest.mark.parametrize("reason", list(Reason), ids=str)
def test_every_reason_has_a_meaning_and_is_documented(reason):
    assert reason.meaning and not reason.meaning.endswith(".")
    assert re.search(rf"\b{reason.value}\b", README), f"README does not explain {reason.value}"
    assert f"| `{reason.value}` | {reason.meaning} |" in DOCS


@pytest.mark.parametrize("typ", list(Type), ids=str)
def test_every_condition_type_is_owned_by_a_kind_and_documented(typ):
    assert any(typ in k.conditions for k in kinds.KINDS), f"{typ} belongs to no kind"
    assert re.search(rf"\b{typ.value}\b", README)
    assert f"| `{typ.value}` |" in DOCS


def test_reasons_and_types_are_unique_values():
    assert len({r.value for r in Reason}) == len(Reason)
    assert not {r.value for r in Reason} & {t.value for t in Type}


def test_refusals_are_reasons_of_spec_valid():
    assert Reason.SPEC_INVALID in conditions.REFUSALS
    assert Reason.EXTENSION_REPEATED in conditions.REFUSALS
    assert Reason.SPEC_ACCEPTED not in conditions.REFUSALS
    assert Reason.SOURCE_PENDING not in conditions.REFUSALS
    assert not conditions.REFUSALS & set(conditions.WARNINGS)


@pytest.mark.parametrize(
    "answer",
    [
        fnv1.RunFunctionResponse(
            conditions=[fnv1.Condition(type="SpecValid", reason="SpecFine")],
        ),
        fnv1.RunFunctionResponse(
            conditions=[fnv1.Condition(type="Healthy", reason="SpecAccepted")],
        ),
        fnv1.RunFunctionResponse(
            results=[fnv1.Result(severity=fnv1.SEVERITY_WARNING, reason="Oops", message="m")],
        ),
    ],
    ids=["undeclared condition reason", "undeclared type", "undeclared event reason"],
)
def test_the_answer_check_refuses_what_is_not_declared(answer):
    with pytest.raises(AssertionError, match="undeclared"):
        check_reasons(answer)


def test_the_answer_check_accepts_declared_reasons_and_reasonless_fatal_results():
    check_reasons(
        fnv1.RunFunctionResponse(
            conditions=[conditions.condition(Type.SPEC_VALID, True, Reason.SPEC_ACCEPTED)],
            results=[fnv1.Result(severity=fnv1.SEVERITY_FATAL, message="broken input")],
        )
    )

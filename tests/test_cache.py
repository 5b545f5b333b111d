"""The response cache and the struct memos: keyed by what Crossplane keys on, bounded by the bytes
they hold, sharing nothing mutable, and never keeping a fatal answer."""

from __future__ import annotations

import asyncio

import pytest
from crossplane.function import logging as fnlog
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import fn, structs
from function.cache import BytesLru
from tests.helpers import composite, request

SPEC = {"serviceVersion": "17.5", "plan": "single-small"}


@pytest.fixture
def runner() -> fn.FunctionRunner:
    fnlog.configure(fnlog.Level.DISABLED)
    return fn.FunctionRunner()


def answer(runner: fn.FunctionRunner, req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(runner.RunFunction(req))
    finally:
        loop.close()


def test_keyed_by_crossplanes_tag(runner):
    req = request(composite("PostgresqlInstance", SPEC))
    req.meta.tag = "tag-1"
    first = answer(runner, req)
    assert len(runner.cache) == 1
    # Crossplane's tag is a hash of the whole request: a known tag is a known request.
    assert runner.cache.get("tag-1") == first.SerializeToString(deterministic=True)
    other = request(composite("PostgresqlInstance", {**SPEC, "plan": "single-medium"}))
    other.meta.tag = "tag-2"
    assert answer(runner, other) != first
    assert len(runner.cache) == 2


def test_without_a_tag_the_request_bytes_are_the_key(runner):
    req = request(composite("PostgresqlInstance", SPEC))
    req.meta.tag = ""  # crossplane render (up to v2.2) sends none
    answer(runner, req)
    answer(runner, req)
    assert len(runner.cache) == 1
    req.observed.composite.resource["metadata"]["resourceVersion"] = "2"
    answer(runner, req)
    assert len(runner.cache) == 2


def test_a_remembered_answer_shares_nothing(runner):
    req = request(composite("PostgresqlInstance", SPEC))
    first = answer(runner, req)
    first.desired.resources["instance"].resource["spec"]["forProvider"]["engine"] = "changed"
    second = answer(runner, req)
    assert second.desired.resources["instance"].resource["spec"]["forProvider"]["engine"] == (
        "postgres"
    )


def test_answers_carry_a_deliberate_ttl(runner):
    rsp = answer(runner, request(composite("PostgresqlInstance", SPEC)))
    assert rsp.meta.ttl.ToTimedelta() == fn.RESPONSE_TTL


def test_a_fatal_answer_is_neither_kept_nor_cacheable(runner):
    req = request(composite("PostgresqlInstance", SPEC))
    req.input.update({"apiVersion": "rds.fn.anynines.com/v1beta1", "kind": "Input", "aws": 3})
    rsp = answer(runner, req)
    assert [r.severity for r in rsp.results] == [fnv1.SEVERITY_FATAL]
    assert rsp.meta.ttl.ToTimedelta().total_seconds() == 0
    assert len(runner.cache) == 0


def test_bounded_by_bytes_held():
    lru = BytesLru(100)
    for i in range(50):
        lru.put(f"k{i:02d}", b"x" * 17)
    assert lru.size <= 100
    assert lru.size == sum(len(k) + len(v) for k, v in lru._entries.items())
    assert lru.get("k49") is not None and lru.get("k00") is None
    lru.put("huge", b"x" * 200)  # larger than the whole cache: not kept, nothing evicted
    assert lru.get("huge") is None and lru.get("k49") is not None
    lru.put("k49", b"y")  # replacing an entry counts its new size only
    assert lru.size == sum(len(k) + len(v) for k, v in lru._entries.items())


def test_struct_memo_hands_out_fresh_dicts():
    req = request(composite("PostgresqlInstance", SPEC))
    s = req.observed.composite.resource
    one = structs.to_dict(s)
    one["spec"]["plan"] = "mutated"
    assert structs.to_dict(s)["spec"]["plan"] == "single-small"
    assert structs.to_dict(s) is not structs.to_dict(s)

"""The work removed for speed (issue 12, item 5) changes no answer: what a request reads of the
composite, the server still answering v1beta1, and a benchmark whose changed requests are really
new."""

from __future__ import annotations

import grpc
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1beta1 import run_function_pb2 as fnv1beta1
from crossplane.function.proto.v1beta1 import run_function_pb2_grpc as grpcv1beta1

from bench import floor
from bench.run import variants
from function import fn, inputs, request
from tests.helpers import composite, desired, tagged
from tests.helpers import request as build_request

SPEC = {"serviceVersion": "17.5", "plan": "single-small"}
MANAGED_FIELDS = [{"manager": "crossplane", "operation": "Apply", "fieldsV1": {"f:spec": {}}}]
RESOURCE_REFS = [{"apiVersion": "rds.aws.upbound.io/v1beta3", "kind": "Instance", "name": "x"}]
STATUS = {"conditions": [{"type": "Ready", "status": "False"}], "address": "h"}


def _loaded(req: fnv1.RunFunctionRequest) -> request.Request:
    inp, cat = inputs.parse(req.input.SerializeToString(deterministic=True))
    return request.load(req, inp, cat)


def test_a_request_reads_no_status_and_no_managed_fields_of_the_composite():
    """In a cluster, managedFields are often most of a request's bytes; nothing reads them, nor
    annotations other than the platform's klutch.io/*, the composite's status or Crossplane's spec fields (resourceRefs lists every
    composed resource): they are not converted."""
    xr = composite("PostgresqlInstance", SPEC)
    plain = build_request(xr)
    full = build_request(
        {
            **xr,
            "spec": {**xr["spec"], "resourceRefs": RESOURCE_REFS},
            "metadata": {
                **xr["metadata"],
                "managedFields": MANAGED_FIELDS,
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
            },
            "status": STATUS,
        }
    )
    got = _loaded(full).composite
    assert got == _loaded(plain).composite
    assert sorted(got) == ["apiVersion", "kind", "metadata", "spec"]
    assert sorted(got["metadata"]) == ["labels", "name", "uid"]
    assert "resourceRefs" not in got["spec"]
    # And the answer is the same.
    runner = fn.FunctionRunner()
    assert desired(fn.run(full, runner.log)) == desired(fn.run(plain, runner.log))


def test_the_server_still_answers_v1beta1(server_address):
    """Crossplane versions that speak v1beta1 are still answered, with the same content."""
    req = build_request(composite("PostgresqlInstance", SPEC, name="beta"))
    beta_req = fnv1beta1.RunFunctionRequest.FromString(req.SerializeToString())
    with grpc.insecure_channel(server_address) as channel:
        got = grpcv1beta1.FunctionRunnerServiceStub(channel).RunFunction(beta_req, timeout=30)
    want = fn.FunctionRunner().answer(req)
    assert fnv1.RunFunctionResponse.FromString(got.SerializeToString()) == (
        fnv1.RunFunctionResponse.FromString(want)
    )
    assert "instance" in got.desired.resources


def test_every_changed_request_of_the_benchmark_is_new():
    """A changed request repeated at the next level (16 clients after 1) was answered from the
    response cache: the benchmark measured a hit and called it work."""
    req = tagged(build_request(composite("PostgresqlInstance", SPEC)))
    tags = [r.meta.tag for r in variants(req, 3, changed=True) + variants(req, 3, changed=True)]
    assert len(set(tags)) == 6
    assert {r.meta.tag for r in variants(req, 3, changed=False)} == {req.meta.tag}


def test_the_answer_alone_floor_sends_the_functions_own_answer_for_each_kind(tmp_path):
    """The benchmark's "answer alone" server measures what the answer's size costs: it must send
    exactly the function's answer for the request's kind, and nothing of the function runs."""
    runner = fn.FunctionRunner()
    reqs = {
        kind: build_request(composite(kind, spec, name="a"))
        for kind, spec in (
            ("PostgresqlInstance", SPEC),
            ("ServiceBinding", {"instanceRef": "orders"}),
        )
    }
    for req in reqs.values():
        kind = req.observed.composite.resource["kind"]
        (tmp_path / f"{kind}.bin").write_bytes(runner.answer(req))
    alone = floor.Answer(tmp_path)
    for req in reqs.values():
        assert alone.answer(variants(req, 1, changed=True)[0]) == runner.answer(req)

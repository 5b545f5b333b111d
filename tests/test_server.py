"""The server sends each answer as the function's deterministic encoding: the same request gets
the same bytes from any process (two replicas, a restarted pod), fresh or remembered, on v1 and
v1beta1 (SPEC: same request, byte-identical response). The SDK's own server encoded the answer
again with map entries in upb's per-process hash order."""

from __future__ import annotations

import grpc
import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import fn, server
from tests.helpers import composite, request, tagged

SPEC = {"serviceVersion": "17.5", "plan": "cluster-small", "config": {"tags": {"team": "a"}}}


def raw_answer(address: str, service: str, req: fnv1.RunFunctionRequest) -> bytes:
    """The answer's bytes exactly as they arrive, not decoded."""
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(
            f"/{service}/RunFunction",
            request_serializer=fnv1.RunFunctionRequest.SerializeToString,
            response_deserializer=None,
        )
        return call(req, timeout=30)


@pytest.mark.parametrize("service", server.SERVICES)
def test_the_same_request_gets_the_same_bytes_from_any_process(server_address, service):
    req = tagged(request(composite("PostgresqlInstance", SPEC, name=f"bytes-{len(service)}")))
    # This test's process is another replica: its answer to the same request.
    here = fn.FunctionRunner().answer(req)
    fresh = raw_answer(server_address, service, req)
    remembered = raw_answer(server_address, service, req)
    assert fresh == here
    assert remembered == here
    # Many resources, each a Struct of maps: an encoding in hash order would not be this one.
    assert len(fnv1.RunFunctionResponse.FromString(here).desired.resources) >= 3

"""The gRPC server: the SDK's (crossplane.function.runtime.serve), sending answers as bytes.

Everything is the SDK's: the options of `crossplane.function.cli.standard_options`, mTLS from
TLS_SERVER_CERTS_DIR (`runtime.load_credentials`), both the v1 and the v1beta1 service,
reflection, and SIGTERM's grace period. One thing differs: RunFunction answers with the runner's
deterministic encoding, sent as it is. The SDK's server encodes the message it is given again,
with map entries in upb's hash order, which changes from process to process: the same request
got different bytes from two replicas, or from one replica after a restart. Sending the bytes as
they are makes a request's answer byte-identical wherever and whenever it is asked, and spares
encoding every answer twice (and decoding a remembered one) on each request.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Protocol

import grpc
from crossplane.function import logging, runtime
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1beta1 import run_function_pb2 as fnv1beta1
from grpc_reflection.v1alpha import reflection

# v1beta1 messages are v1's on the wire (the SDK converts between them by their bytes), so one
# handler serves both services.
SERVICES = tuple(
    pb2.DESCRIPTOR.services_by_name["FunctionRunnerService"].full_name for pb2 in (fnv1, fnv1beta1)
)
MIB = 1024 * 1024


class Answerer(Protocol):
    """What the server serves: fn.FunctionRunner (and the benchmark's "answer alone" floor)."""

    def answer(self, req: fnv1.RunFunctionRequest) -> bytes: ...


def serve(
    runner: Answerer,
    *,
    debug: bool,
    address: str,
    tls_certs_dir: str | None,
    insecure: bool,
    max_recv_message_size: int,
    max_send_message_size: int | None,
) -> None:
    """crossplane.function.cli.run's server (same arguments), answering with bytes."""
    logging.configure(level=logging.Level.DEBUG if debug else logging.Level.INFO)
    options = [
        ("grpc.max_receive_message_length", max_recv_message_size * MIB),
        ("grpc.max_send_message_length", (max_send_message_size or max_recv_message_size) * MIB),
    ]
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    server = grpc.aio.server(options=options)
    loop.add_signal_handler(
        signal.SIGTERM,
        lambda: asyncio.ensure_future(server.stop(grace=runtime.SHUTDOWN_GRACE_PERIOD_SECONDS)),
    )
    add_runner(server, runner)
    reflection.enable_server_reflection(runtime.SERVICE_NAMES, server)
    if insecure:
        server.add_insecure_port(address)
    elif tls_certs_dir is None:
        raise ValueError("no TLS_SERVER_CERTS_DIR, and not --insecure")
    else:
        server.add_secure_port(address, runtime.load_credentials(tls_certs_dir))

    async def start() -> None:
        await server.start()
        await server.wait_for_termination()

    try:
        loop.run_until_complete(start())
    finally:
        loop.run_until_complete(server.stop(grace=runtime.SHUTDOWN_GRACE_PERIOD_SECONDS))
        loop.close()


def add_runner(server: grpc.aio.Server, runner: Answerer) -> None:
    """RunFunction of both services, answered with the runner's bytes as they are."""

    async def run_function(req: fnv1.RunFunctionRequest, _: grpc.aio.ServicerContext) -> bytes:
        return runner.answer(req)

    handlers = {
        "RunFunction": grpc.unary_unary_rpc_method_handler(
            run_function,
            request_deserializer=fnv1.RunFunctionRequest.FromString,
            response_serializer=_as_is,
        )
    }
    for service in SERVICES:
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
        server.add_registered_method_handlers(service, handlers)


def _as_is(answer: bytes) -> bytes:
    return answer

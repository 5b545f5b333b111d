"""Fixtures: the function's real gRPC server (SDK runtime.serve in its own process) and a client."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from function.render import _free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def server() -> tuple[subprocess.Popen, str]:
    """The function's gRPC server process and its address (debug logs in .pytest-server.log)."""
    address = f"127.0.0.1:{_free_port()}"
    log = open(ROOT / ".pytest-server.log", "wb")  # noqa: SIM115 (lives as long as the server)
    proc = subprocess.Popen(
        [sys.executable, "-m", "function.main", "--insecure", "--debug", "--address", address],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    with grpc.insecure_channel(address) as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
    yield proc, address
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


@pytest.fixture(scope="session")
def server_address(server) -> str:
    return server[1]


@pytest.fixture(scope="session")
def stub(server_address: str) -> grpcv1.FunctionRunnerServiceStub:
    channel = grpc.insecure_channel(server_address)
    yield grpcv1.FunctionRunnerServiceStub(channel)
    channel.close()

"""Fixtures: the function's real gRPC server (function/server.py in its own process) and a client."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import boto3
import grpc
import pytest
from crossplane.function import logging as fnlog
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from function import fn
from function.render import free_port
from tests import aws
from tests.helpers import SERVER_LOG, check_answer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def server() -> tuple[subprocess.Popen, str]:
    """The function's gRPC server process and its address (debug logs in SERVER_LOG)."""
    address = f"127.0.0.1:{free_port()}"
    log = open(SERVER_LOG, "wb")  # noqa: SIM115 (lives as long as the server)
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
def grpc_stub(server_address: str) -> grpcv1.FunctionRunnerServiceStub:
    """A client of the real gRPC server: for the reliability suite, render and a smoke test."""
    channel = grpc.insecure_channel(server_address)
    yield Checked(grpcv1.FunctionRunnerServiceStub(channel))
    channel.close()


class Checked:
    """A gRPC client whose every answer has a status that matches its kind's XRD."""

    def __init__(self, stub: grpcv1.FunctionRunnerServiceStub) -> None:
        self.stub = stub

    def RunFunction(  # noqa: N802
        self, req: fnv1.RunFunctionRequest, **kwargs: object
    ) -> fnv1.RunFunctionResponse:
        return check_answer(req, self.stub.RunFunction(req, **kwargs))


class InProcess:
    """RunFunction called in-process, through the runner the server serves (its cache included),
    without gRPC: table tests compare whole messages and need no server. Every answer's status
    must match its kind's XRD."""

    def __init__(self) -> None:
        self.runner = fn.FunctionRunner()
        self.loop = asyncio.new_event_loop()

    def RunFunction(self, req: fnv1.RunFunctionRequest, **_: object) -> fnv1.RunFunctionResponse:  # noqa: N802
        return check_answer(req, self.loop.run_until_complete(self.runner.RunFunction(req)))


@pytest.fixture(scope="session")
def stub() -> InProcess:
    fnlog.configure(fnlog.Level.INFO)
    runner = InProcess()
    yield runner
    runner.loop.close()


@pytest.fixture
def rds():
    """moto's RDS in eu-central-1, with the subnet group the example Input names."""
    with aws.platform():
        yield boto3.client("rds", region_name=aws.REGION)
